"""torchdiffeq.odeint_adjoint, the backsolve adjoint: the peer of gradcmp's adjoint."""
from gradcmp.strategies.peers import TorchdiffeqPeer

STRATEGY = TorchdiffeqPeer(
    name="torchdiffeq-adjoint",
    description="torchdiffeq.odeint_adjoint, backsolve adjoint (peer of adjoint; extra: peers)",
    adjoint=True,
)
