"""The checkpointed adjoint: the continuous adjoint with x recomputed forwards, never solved backwards."""
from gradcmp.strategies.adjoint import Adjoint
from gradcmp.strategies.base import Skip


class AdjointCheckpoint(Adjoint):
    """The forward pass keeps x every L = round(sqrt(N)) steps (N / K with `checkpoints=K`; dopri5:
    at the observation times); the backward pass recomputes one segment's states from its checkpoint
    and integrates lambda and theta_bar back over each step from the recomputed x, so x's backward
    instability never builds up.

    Memory: N / L checkpoints plus L states, about 2 sqrt(N) states by default, none of f's
    activations. Time: the adjoint's plus one more forward solve. Right where backsolve fails
    (stiff-linear). Uniform segments only: the binomial schedule is the checkpoint strategy's.
    """

    name = "adjoint-checkpoint"
    knobs = ("checkpoints",)
    description = "continuous adjoint on x recomputed from sqrt(N) (or K) checkpoints; stable where backsolve is not"
    checkpointed = True

    def check_budget(self, instance, budget):
        if instance.ode.options.schedule != "uniform":
            raise Skip("adjoint-checkpoint keeps uniform segments; the binomial schedule is checkpoint's")
        super().check_budget(instance, budget)


STRATEGY = AdjointCheckpoint()
