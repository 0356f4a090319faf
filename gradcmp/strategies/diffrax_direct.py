"""diffrax's DirectAdjoint: autograd (JAX's) through diffrax's bounded loop, the peer of backprop."""
from gradcmp.strategies.diffrax_peers import DiffraxPeer

STRATEGY = DiffraxPeer(
    name="diffrax-direct",
    description="diffrax, DirectAdjoint: JAX differentiates through the compiled solve (peer of backprop; extra: jax)",
    adjoint="direct",
)
