"""The shared base of the fixed-step methods: a uniform grid between the requested times, one step rule.

The loop uses Python floats for t and dt and never looks at tensor values, so a solve can be
differentiated by autograd, torch.func.jvp and vmap alike.
"""
from dataclasses import dataclass
from typing import Callable

from gradcmp import deadline
from gradcmp.ode.base import OdeStats


def fixed_grid(times, steps: int):
    """(t_start, dt, n) for each interval between consecutive times.

    The interval [t_k, t_k+1] gets round(steps * its length / the whole span) equal steps, at least
    one, so the grid lands on every requested time; one interval gets exactly `steps`. Decreasing
    times give negative dt: the same methods, integrating backwards.
    """
    span = times[-1] - times[0]
    grid = []
    for start, stop in zip(times, times[1:]):
        n = max(1, round(steps * (stop - start) / span))
        grid.append((start, (stop - start) / n, n))
    return grid


@dataclass(frozen=True)
class FixedStep:
    """A one-step method with a constant step size: `step(f, t, x, dt)` advances x from t to t + dt.

    Cost: `stages` vector-field evaluations per step. Under autograd every step's stages stay
    saved for backward (gradcmp.ode.replay keeps only checkpoints instead). `implicit`: each step
    solves equations in f with its Jacobian (torch.func.jacfwd), so f must be differentiable by
    torch.func.jvp (no torch.autograd.grad inside it).
    """

    name: str
    order: int
    stages: int
    step: Callable
    implicit: bool = False
    adaptive = False

    def integrate(self, f, x0, times, steps: int):
        """(states at every time in `times`, stacked along a new first axis; OdeStats)."""
        import torch

        states, x, stats = [x0], x0, OdeStats()
        deadline.check(0.0)
        for start, dt, n in fixed_grid(times, steps):
            for i in range(n):  # t recomputed, not summed
                x = self.step(f, start + i * dt, x, dt)
                deadline.check((start + (i + 1) * dt - times[0]) / (times[-1] - times[0]))
            states.append(x)
            stats.accepted += n
        stats.nfe = stats.accepted * self.stages
        return torch.stack(states), stats
