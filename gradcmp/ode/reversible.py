"""Reversible solves (McCallum & Foster 2024, "Efficient, accurate and stable gradients for Neural
ODEs"): any one-step map Psi_h made algebraically reversible by a coupled pair (y, z), y_0 = z_0 = x0,

    y_{n+1} = l (y_n - z_n) + Psi_h(t_n, z_n)
    z_{n+1} = y_{n+1} + z_n - Psi_{-h}(t_{n+1}, y_{n+1})

whose inverse is explicit:  z_n = z_{n+1} - y_{n+1} + Psi_{-h}(t_{n+1}, y_{n+1}),
                            y_n = z_n + (y_{n+1} - Psi_h(t_n, z_n)) / l.
y_n is the solution. The backward pass rebuilds each (y_n, z_n) from the next and backpropagates
through that one step: the gradient of the discrete reversible solve, with memory flat in the steps
(the observed states and one pair). Cost: two base steps a step forward, four backward (two to
rebuild, two recorded); l < 1 damps the pair's parasitic mode, l = 1 is the plain (unstable) pair.

Method reversible_heun is reversible already: it is run as itself (gradcmp.ode.reversible_heun; the
coupling is not used), so the gradient is backprop's through that method. Cost: two evaluations a
step forward (f(t_n, z_n) is recomputed rather than carried), four backward.
"""
import torch
from torch.autograd.function import once_differentiable

from gradcmp import deadline
from gradcmp.ode import SOLVERS, reversible_heun
from gradcmp.ode.replay import flat_grid, own_graph, parameter_leaves, theta_bar_of


def reversible_step(step, f, t, dt, y, z, coupling):
    """(y_{n+1}, z_{n+1}) from (y_n, z_n): two steps of the base method, forwards and backwards."""
    y_next = (y - z).mul(coupling).add(step(f, t, z, dt))
    return y_next, y_next + z - step(f, t + dt, y_next, -dt)


def pair_of(system):
    """(advance, rebuild) of the system's reversible pair: advance(f, t, dt, y, z) -> (y, z) next,
    rebuild(f, t, dt, y_next, z_next) -> (y, z)."""
    if system.options.method == reversible_heun.SOLVER.name:
        return (lambda f, t, dt, y, z: reversible_heun.advance(f, t, dt, y, z)[:2]), reversible_heun.rebuild
    step, coupling = SOLVERS[system.options.method].step, system.options.coupling

    def advance(f, t, dt, y, z):
        return reversible_step(step, f, t, dt, y, z, coupling)

    def rebuild(f, t, dt, y, z):
        z = z - y + step(f, t + dt, y, -dt)
        return z + (y - step(f, t, z, dt)) / coupling, z

    return advance, rebuild


def reversible_solve(system, theta, counters=None):
    """The reversible solve as plain differentiable code: y at the observation times (K+1 rows),
    what backprop through the pair records (the yardstick for reversible_trajectory)."""
    return _solve_pair(system, theta, counters)[0]


def _solve_pair(system, theta, counters):
    """(y at the observation times, stacked; the last pair y_N, z_N)."""
    grid, observations = flat_grid(system)
    rhs, y = system.solver_field(counters)
    params = system.parameters(theta)
    f = lambda t, x: rhs(t, x, params)  # noqa: E731
    (advance, _), z, states = pair_of(system), y, [y]
    for index, (t, dt) in enumerate(grid, start=1):
        y, z = advance(f, t, dt, y, z)
        if index in observations:
            states.append(y)
    if counters is not None:
        counters["steps_accepted"] += len(grid)
    return torch.stack(states), y, z


def reversible_trajectory(system, theta, counters):
    """reversible_solve's states, differentiated by rebuilding the pair backwards (no step saved).
    Counters: nfe_fwd, steps_accepted; nfe_bwd (rebuilding and recording)."""
    return _Reversible.apply(theta, system, counters)


class _Reversible(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, system, counters):
        states, y, z = _solve_pair(system, theta, counters)
        ctx.system, ctx.counters = system, counters
        ctx.save_for_backward(theta, y, z)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, states_bar):
        theta, y, z = ctx.saved_tensors
        system, counters = ctx.system, ctx.counters
        grid, observations = flat_grid(system)
        rhs, _ = system.solver_field(counters, "nfe_bwd")
        theta, parts, leaves, params = parameter_leaves(system, theta)
        f = lambda t, x: rhs(t, x, params)  # noqa: E731
        advance, rebuild = pair_of(system)
        y_bar, z_bar = states_bar[-1], torch.zeros_like(states_bar[-1])
        params_bar = [torch.zeros_like(leaf) for leaf in leaves]
        with own_graph():
            for index in reversed(range(len(grid))):
                t, dt = grid[index]
                y, z = rebuild(f, t, dt, y, z)
                with torch.enable_grad():
                    y_in, z_in = y.detach().requires_grad_(True), z.detach().requires_grad_(True)
                    y_out, z_out = advance(f, t, dt, y_in, z_in)
                    y_bar, z_bar, *bars = torch.autograd.grad((y_out, z_out), (y_in, z_in, *leaves), (y_bar, z_bar),
                                                              allow_unused=True, materialize_grads=True)
                params_bar = [total + bar for total, bar in zip(params_bar, bars)]
                if index in observations:
                    y_bar = y_bar + states_bar[observations[index]]
                deadline.check(1 - index / len(grid))
        return theta_bar_of(theta, parts, params_bar), None, None
