"""Backprop with torch.utils.checkpoint: keep every K-th state, recompute the steps between in backward."""
import math

from gradcmp.strategies.backprop import Backprop, forward_evaluations, vector_field_saved_bytes
from gradcmp.strategies.base import Skip


class Checkpoint(Backprop):
    """Backprop over segments of K = round(sqrt(N)) steps of a fixed-step solve (N steps):
    the forward pass keeps only each segment's input state, the backward pass reruns one segment
    at a time with autograd recording it (torch.utils.checkpoint, use_reentrant=False).

    Memory: N / K states plus one segment's activations, about 2 sqrt(N) evaluations' worth instead
    of N. Time: one extra forward solve (nfe_bwd = nfe_fwd). Fixed-step methods only: dopri5
    chooses its steps as it goes, so there is no grid to cut into segments beforehand.
    """

    name = "checkpoint"
    description = "backprop with torch.utils.checkpoint every ~sqrt(N) steps; recomputes in backward"

    def checkpoint_segment(self, instance) -> int:
        return max(1, round(math.sqrt(instance.ode.options.steps)))

    def estimated_bytes(self, instance) -> float:
        """Segment inputs kept through the forward pass, plus one segment's activations in backward."""
        system = instance.ode
        segment = self.checkpoint_segment(instance)
        evaluations = forward_evaluations(instance)
        per_step = evaluations / system.options.steps  # the method's stages
        kept_states = system.options.steps / segment * system.x0.numel() * system.x0.element_size()
        return kept_states + segment * per_step * vector_field_saved_bytes(instance)

    def check_budget(self, instance, budget):
        if instance.ode.options.adaptive:
            raise Skip(f"checkpoint segments a fixed grid; method {instance.ode.options.method} "
                       "chooses its steps while solving")
        super().check_budget(instance, budget)


STRATEGY = Checkpoint()
