"""The checkpointed adjoint: the continuous adjoint with x recomputed forwards, never solved backwards."""
from gradcmp.strategies.adjoint import Adjoint


class AdjointCheckpoint(Adjoint):
    """The forward pass keeps x every K = round(sqrt(N)) steps (dopri5: at the observation times);
    the backward pass recomputes one segment's states from its checkpoint and integrates lambda and
    theta_bar back over each step from the recomputed x, so x's backward instability never builds up.

    Memory: N / K checkpoints plus K states, about 2 sqrt(N) states, none of f's activations.
    Time: the adjoint's plus one more forward solve. Right where backsolve fails (stiff-linear).
    """

    name = "adjoint-checkpoint"
    description = "continuous adjoint on x recomputed from sqrt(N) checkpoints; stable where backsolve is not"
    checkpointed = True


STRATEGY = AdjointCheckpoint()
