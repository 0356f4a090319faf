"""Explicit midpoint: second order, two evaluations per step."""
from gradcmp.ode.fixed_step import FixedStep


def step(f, t, x, dt):
    half = 0.5 * dt
    return x.add(f(t + half, x.add(f(t, x), alpha=half)), alpha=dt)


SOLVER = FixedStep(name="midpoint", order=2, stages=2, step=step)
