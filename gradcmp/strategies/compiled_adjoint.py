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
    def segments(self, system):
        """The forward's segments (compiled_sweep.chunks): one per observation interval, x0 alone kept."""
        return chunks(system, system.options.steps)

    def sweep(self, theta):
        import torch

        from gradcmp.ode.replay import parameter_leaves, theta_bar_of

        system = self.system
        theta, parts, leaves, params = parameter_leaves(system, theta)
        segments = self.segments(system)
        kept, observed, steps = self.forward(system, theta.detach(), segments)
        states = torch.stack(observed).requires_grad_(True)
        (states_bar,) = torch.autograd.grad(system.loss_of_trajectory(states), states)
        n = states[0].numel()
        y = theta.new_zeros(2 * n + sum(leaf.numel() for leaf in leaves))
        with torch.no_grad():
            y = self._backward(system, theta.detach(), y, states.detach(), states_bar, segments, kept,
                               tuple(leaf.detach() for leaf in leaves), torch.is_tensor(params))
        params_bar = [bar.view_as(leaf) for bar, leaf in zip(y[2 * n:].split([leaf.numel() for leaf in leaves]), leaves)]
        return theta_bar_of(theta, parts, params_bar), steps

    def _backward(self, system, theta, y, states, states_bar, segments, kept, leaves, single):
        """y at t_0: the augmented system solved back over each observation interval, x from the
        forward state at its end. `leaves`: the parameters as a tuple; `single`: the vector field
        takes the one tensor, not the tuple."""
        import torch

        from gradcmp.ode.adjoint import _check_drift
        from gradcmp.ode.fixed_step import fixed_grid

        n = states[0].numel()
        grid = fixed_grid(system.times, system.options.steps)
        for k in range(len(grid), 0, -1):
            y[n:2 * n] += states_bar[k].reshape(-1)
            y[:n] = states[k].reshape(-1)  # restart x from the forward solution
            (start, dt, count), = fixed_grid((system.times[k], system.times[k - 1]), grid[k - 1][2])
            for first in range(0, count, CHUNK):
                last = min(count, first + CHUNK)
                ts = torch.tensor([start + i * dt for i in range(first, last)], dtype=y.dtype, device=y.device)
                back = self.compiled(("backward", dt, last - first), lambda: _backward(system, single, dt, last - first))
                y = back(y, leaves, ts)
            _check_drift(y[:n], states[k - 1], system.times[k - 1])
        return y


def augmented_field(system, single: bool):
    """(t, y, leaves) -> dy/dt of y = [x, lambda, theta_bar] (see gradcmp.ode.adjoint), by torch.func.vjp;
    `single`: the vector field takes one parameter tensor, not a tuple."""
    import torch
    from torch.func import vjp

    rhs, z0 = system.solver_field()
    shape, n = z0.shape, z0.numel()

    def field(t, y, leaves):
        x, lam = y[:n].view(shape), y[n:2 * n].view(shape)
        x_dot, pullback = vjp(lambda x, *p: rhs(t, x, p[0] if single else p), x, *leaves)
        x_bar, *params_bar = pullback(lam.neg())
        return torch.cat([x_dot.reshape(-1), x_bar.reshape(-1), *(bar.reshape(-1) for bar in params_bar)])

    return field


def _backward(system, single: bool, dt: float, steps: int):
    """(y, leaves, ts) -> y after `steps` steps of the augmented system."""
    from gradcmp.ode import SOLVERS

    solver_step = SOLVERS[system.options.method].step
    field = augmented_field(system, single)

    def backward(y, leaves, ts):
        for i in range(steps):
            y = solver_step(lambda t, y: field(t, y, leaves), ts[i], y, dt)
        return y

    return backward
