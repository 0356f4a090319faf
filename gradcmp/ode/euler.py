"""Forward Euler: first order, one evaluation per step."""
from gradcmp.ode.fixed_step import FixedStep


def step(f, t, x, dt):
    return x.add(f(t, x), alpha=dt)


SOLVER = FixedStep(name="euler", order=1, stages=1, step=step)
