"""Reversible Heun (Kidger, Foster, Li and Lyons 2021, "Efficient and accurate gradients for neural
SDEs"): second order, one vector-field evaluation a step, algebraically reversible. It carries a
second state z beside the solution y, and f(t, z) from one step to the next:

    z_{n+1} = 2 y_n - z_n + f(t_n, z_n) dt
    y_{n+1} = y_n + (f(t_n, z_n) + f(t_{n+1}, z_{n+1})) dt / 2

with the explicit inverse  z_n = 2 y_{n+1} - z_{n+1} - f(t_{n+1}, z_{n+1}) dt,
                           y_n = y_{n+1} - (f(t_n, z_n) + f(t_{n+1}, z_{n+1})) dt / 2.
Backprop differentiates `integrate`; the reversible strategy rebuilds (y_n, z_n) from the next pair
with `rebuild` and records one `advance` at a time (gradcmp.ode.reversible). Having two states, it
has no single-state `step`: the checkpoint strategies and the step-wise peers skip it.
"""
from dataclasses import dataclass

from gradcmp import deadline
from gradcmp.ode.base import OdeStats
from gradcmp.ode.fixed_step import fixed_grid


def advance(f, t, dt, y, z, f_z=None):
    """(y_{n+1}, z_{n+1}, f(t_{n+1}, z_{n+1})) from (y_n, z_n) (and f(t_n, z_n) when known)."""
    f_z = f(t, z) if f_z is None else f_z
    z_next = y.mul(2).sub(z).add(f_z, alpha=dt)
    f_next = f(t + dt, z_next)
    return y.add(f_z + f_next, alpha=dt / 2), z_next, f_next


def rebuild(f, t, dt, y_next, z_next):
    """(y_n, z_n) from (y_{n+1}, z_{n+1}): the step from t to t + dt undone, two evaluations."""
    f_next = f(t + dt, z_next)
    z = y_next.mul(2).sub(z_next).sub(f_next, alpha=dt)
    return y_next.sub(f(t, z) + f_next, alpha=dt / 2), z


@dataclass(frozen=True)
class ReversibleHeun:
    """Fixed steps on the uniform grid of fixed_step.fixed_grid; y_0 = z_0 = x0."""

    name: str = "reversible_heun"
    order: int = 2
    stages: int = 1
    adaptive = False
    implicit = False

    def integrate(self, f, x0, times, steps: int):
        """(y at every time in `times`, stacked along a new first axis; OdeStats)."""
        import torch

        y, z, f_z = x0, x0, f(times[0], x0)
        states, stats = [x0], OdeStats(nfe=1)
        deadline.check(0.0)
        for start, dt, n in fixed_grid(times, steps):
            for i in range(n):
                y, z, f_z = advance(f, start + i * dt, dt, y, z, f_z)
                deadline.check((start + (i + 1) * dt - times[0]) / (times[-1] - times[0]))
            states.append(y)
            stats.accepted += n
        stats.nfe += stats.accepted
        return torch.stack(states), stats


SOLVER = ReversibleHeun()
