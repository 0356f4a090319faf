"""The classic Runge-Kutta method: fourth order, four evaluations per step."""
from gradcmp.ode.fixed_step import FixedStep


def step(f, t, x, dt):
    half = 0.5 * dt
    k1 = f(t, x)
    k2 = f(t + half, x.add(k1, alpha=half))
    k3 = f(t + half, x.add(k2, alpha=half))
    k4 = f(t + dt, x.add(k3, alpha=dt))
    return x.add(k1.add(k2.add(k3), alpha=2).add(k4), alpha=dt / 6)


SOLVER = FixedStep(name="rk4", order=4, stages=4, step=step)
