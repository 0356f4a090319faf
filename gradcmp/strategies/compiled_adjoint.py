"""adjoint (backsolve) with its steps compiled by torch.compile (`--compile`).

The forward pass advances the state in compiled chunks (gradcmp.strategies.compiled_sweep) and keeps the
states at the observation times. The backward solve of y = [x, lambda, theta_bar] runs the forward's
method over the reversed grid, chunk by chunk, each chunk one compiled call: every stage evaluates the
augmented field (f, -lambda^T df/dx, -lambda^T df/dparams) with torch.func.vjp inside the compiled
region, so no autograd graph is recorded. As gradcmp.ode.adjoint does: x restarts from the forward
state at each observation time, lambda jumps there, the drift check guards the backward solve of x, and
one VJP through unpack ends it. The same gradient as adjoint's, to rounding.
"""
from __future__ import annotations

from gradcmp.strategies.compiled_sweep import CHUNK, CompiledSweep, chunks


class CompiledAdjoint(CompiledSweep):
    name = "adjoint-compiled"
    description = "continuous adjoint (backsolve), each chunk of backward steps one torch.compile'd call (--compile)"

    def _sweep(self, instance):
        import torch

        from gradcmp.ode.adjoint import _check_drift
        from gradcmp.ode.fixed_step import fixed_grid
        from gradcmp.ode.replay import parameter_leaves, theta_bar_of

        system = instance.ode
        theta = instance.x.detach()
        _, observed, steps = self.forward(system, theta, chunks(system, system.options.steps))  # keeps x0 only
        z = observed[-1]  # the final time is the last observation
        states = torch.stack(observed).requires_grad_(True)
        (states_bar,) = torch.autograd.grad(system.loss_of_trajectory(states), states)
        theta, parts, leaves, params = parameter_leaves(system, theta)
        n = z.numel()
        y = theta.new_zeros(2 * n + sum(leaf.numel() for leaf in leaves))
        grid = fixed_grid(system.times, system.options.steps)
        times, dtype = system.times, z.dtype
        with torch.no_grad():
            for k in range(len(grid), 0, -1):
                y[n:2 * n] += states_bar[k].reshape(-1)
                y[:n] = states[k].reshape(-1)  # restart x from the forward solution
                (start, dt, count), = fixed_grid((times[k], times[k - 1]), grid[k - 1][2])
                for first in range(0, count, CHUNK):
                    last = min(count, first + CHUNK)
                    ts = torch.tensor([start + i * dt for i in range(first, last)], dtype=dtype, device=y.device)
                    back = self.compiled(("backward", dt, last - first),
                                         lambda: _backward(system, torch.is_tensor(params), dt, last - first))
                    y = back(y, tuple(leaf.detach() for leaf in leaves), ts)
                _check_drift(y[:n], states[k - 1], times[k - 1])
        params_bar = [bar.view_as(leaf) for bar, leaf in zip(y[2 * n:].split([leaf.numel() for leaf in leaves]), leaves)]
        return theta_bar_of(theta, parts, params_bar), steps


def _backward(system, single: bool, dt: float, steps: int):
    """(y, leaves, ts) -> y after `steps` steps of the augmented system (see gradcmp.ode.adjoint);
    `single`: the vector field takes one parameter tensor, not a tuple."""
    import torch
    from torch.func import vjp

    from gradcmp.ode import SOLVERS

    solver_step = SOLVERS[system.options.method].step
    rhs, z0 = system.solver_field()
    shape, n = z0.shape, z0.numel()

    def field(t, y, leaves):
        x, lam = y[:n].view(shape), y[n:2 * n].view(shape)
        x_dot, pullback = vjp(lambda x, *p: rhs(t, x, p[0] if single else p), x, *leaves)
        x_bar, *params_bar = pullback(lam.neg())
        return torch.cat([x_dot.reshape(-1), x_bar.reshape(-1), *(bar.reshape(-1) for bar in params_bar)])

    def backward(y, leaves, ts):
        for i in range(steps):
            y = solver_step(lambda t, y: field(t, y, leaves), ts[i], y, dt)
        return y

    return backward


STRATEGY = CompiledAdjoint()
