"""torchdiffeq.odeint differentiated by autograd through every step: the peer of gradcmp's backprop."""
from gradcmp.strategies.peers import TorchdiffeqPeer

STRATEGY = TorchdiffeqPeer(
    name="torchdiffeq-backprop",
    description="torchdiffeq.odeint, autograd through every solver step (peer of backprop; extra: peers)",
    adjoint=False,
)
