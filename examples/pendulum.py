# pendulum.py: a damped pendulum whose friction is a small learned term, as an ODE problem.
#   gradcmp run --problem examples/pendulum.py:pendulum --param steps=200
#   every ODE strategy applies (backprop, checkpoint, adjoint, torchdiffeq, diffrax, ...), with the solver declared
import torch

import gradcmp


def pendulum(dtype, device, seed, hidden=8, horizon=5.0, obs=10):
    """x = (angle, angular velocity) for a batch of 16 starts; dx/dt = (w, -sin(a) - friction(w)) with
    friction(w) = c w + a small tanh net of w; theta = (c, net weights) is differentiated; the loss
    compares the trajectory at `obs` times with a target trajectory."""
    generator = torch.Generator().manual_seed(seed)
    theta = torch.cat([torch.tensor([0.3], dtype=torch.float64),
                       0.1 * torch.randn(3 * hidden, generator=generator, dtype=torch.float64)])
    x0 = torch.stack([torch.rand(16, generator=generator, dtype=torch.float64) * 2 - 1,
                      torch.zeros(16, dtype=torch.float64)], dim=1)
    targets = torch.randn(obs, 16, 2, generator=generator, dtype=torch.float64) * 0.1
    theta, x0, targets = (t.to(dtype=dtype, device=device) for t in (theta, x0, targets))

    def vector_field(t, x, theta):
        c, w1, b1, w2 = theta[0], theta[1:hidden + 1], theta[hidden + 1:2 * hidden + 1], theta[2 * hidden + 1:]
        angle, velocity = x[:, 0], x[:, 1]
        friction = c * velocity + torch.tanh(velocity[:, None] * w1 + b1) @ w2
        return torch.stack([velocity, -torch.sin(angle) - friction], dim=1)

    return gradcmp.OdeProblem(
        vector_field=vector_field,
        x0=x0,
        times=[horizon * k / obs for k in range(obs + 1)],
        loss=lambda states: (states[1:] - targets).pow(2).mean(),
        theta=theta,
    )
