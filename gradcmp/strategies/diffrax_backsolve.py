"""diffrax's BacksolveAdjoint, the continuous adjoint solved backwards: the peer of adjoint."""
from gradcmp.strategies.diffrax_peers import DiffraxPeer

STRATEGY = DiffraxPeer(
    name="diffrax-backsolve",
    description="diffrax, BacksolveAdjoint: backsolve adjoint, compiled (peer of adjoint; extra: jax)",
    adjoint="backsolve",
)
