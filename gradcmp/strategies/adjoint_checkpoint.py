"""The checkpointed adjoint: the continuous adjoint with x recomputed forwards, never solved backwards."""
from gradcmp.strategies.adjoint import Adjoint
from gradcmp.strategies.checkpoint import CHECKPOINT_OPTIONS, checkpoint_needs


class AdjointCheckpoint(Adjoint):
    """The forward pass keeps the checkpoints of the checkpoint strategy's schedule (uniform: x every
    L = round(sqrt(N)) steps, N / K with `checkpoints=K`; binomial: Revolve's K slots; dopri5: x at the
    observation times); the backward pass recomputes a segment's states from its checkpoint and
    integrates lambda and theta_bar back over each step from the recomputed x, so x's backward
    instability never builds up.

    Memory: uniform, N / L checkpoints plus L states, about 2 sqrt(N) states by default; binomial,
    K states; none of f's activations. Time: the adjoint's plus one more forward solve (uniform) or
    Revolve's reruns (binomial: binomial_forward_steps(N, K) + N steps). Right where backsolve fails
    (stiff-linear).
    """

    name = "adjoint-checkpoint"
    options = (*Adjoint.options, *CHECKPOINT_OPTIONS)
    solver_options = {**Adjoint.solver_options, "checkpoints": "checkpoints", "schedule": "schedule"}
    description = "continuous adjoint on x recomputed from sqrt(N) (or K, uniform or binomial) checkpoints"
    checkpointed = True

    def requirements(self):
        return checkpoint_needs(self)


STRATEGY = AdjointCheckpoint
