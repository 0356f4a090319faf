"""diffrax's RecursiveCheckpointAdjoint, its default: binomial checkpointing through the compiled solve, the peer of backprop and checkpoint."""
from gradcmp.strategies.diffrax_peers import DiffraxPeer

STRATEGY = DiffraxPeer(
    name="diffrax-checkpoint",
    description="diffrax, RecursiveCheckpointAdjoint: checkpointed backprop through the compiled solve (peer of checkpoint; extra: jax)",
    adjoint="checkpoint",
)
