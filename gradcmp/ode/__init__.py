"""ODE solvers behind one registry, and `odeint`, the one way to call them.

A solver is one module exposing SOLVER; a new one is one module plus one line in SOLVERS.
Nothing here imports torch at module level (problems read SOLVERS for their param choices).
"""
from gradcmp.ode.base import OdeError, OdeStats, rms_norm
from gradcmp.ode.dopri5 import SOLVER as DOPRI5
from gradcmp.ode.euler import SOLVER as EULER
from gradcmp.ode.midpoint import SOLVER as MIDPOINT
from gradcmp.ode.reversible_heun import SOLVER as REVERSIBLE_HEUN
from gradcmp.ode.rk4 import SOLVER as RK4
from gradcmp.ode.sdirk3 import SOLVER as SDIRK3
from gradcmp.ode.tsit5 import SOLVER as TSIT5

SOLVERS = {solver.name: solver for solver in (EULER, MIDPOINT, RK4, DOPRI5, TSIT5, SDIRK3, REVERSIBLE_HEUN)}


def odeint(f, x0, times, method: str = "rk4", *, steps: int = 100, rtol: float = 1e-6,
           atol: float = 1e-8, max_steps: int = 10_000, norm=rms_norm, on_accept=None, on_dense=None):
    """Solve dx/dt = f(t, x) from x(times[0]) = x0; return (states, OdeStats).

    states[k] is x at times[k] (so states[0] is x0); x0 may have any shape, e.g. a batch B x d.
    times: Python floats, strictly increasing, or strictly decreasing to integrate backwards in time
    (as an adjoint's backward pass does). Fixed-step methods use `steps` steps over the whole span
    (see fixed_step.fixed_grid); the adaptive methods (dopri5, tsit5: embedded_rk.EmbeddedRK) use
    rtol, atol, max_steps and `norm` (a tensor -> scalar size of the tolerance-scaled error), and
    call on_accept(t, dt, x1, lands) and on_dense(embedded_rk.DenseStep: the step with its stages, for
    its interpolant) after each accepted step of a forward-in-time solve.
    """
    if method not in SOLVERS:
        raise ValueError(f"unknown ODE method {method!r}; choose from: {', '.join(SOLVERS)}")
    times = [float(t) for t in times]
    steps_between = [stop - start for start, stop in zip(times, times[1:])]
    if not steps_between or not (all(d > 0 for d in steps_between) or all(d < 0 for d in steps_between)):
        raise ValueError(f"times must be at least two strictly increasing (or decreasing) numbers, got {times}")
    solver = SOLVERS[method]
    if solver.adaptive:
        if not (rtol > 0 and atol > 0):
            raise ValueError(f"rtol and atol must be > 0, got rtol={rtol} atol={atol}")
        if steps_between[0] < 0:  # s = -t runs forward: dx/ds = -f(-s, x)
            return solver.integrate(lambda s, x: -f(-s, x), x0, [-t for t in times], rtol, atol, norm,
                                    max_steps, time_sign=-1.0)
        return solver.integrate(f, x0, times, rtol, atol, norm, max_steps, on_accept=on_accept, on_dense=on_dense)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return solver.integrate(f, x0, times, steps)


__all__ = ["OdeError", "OdeStats", "SOLVERS", "odeint", "rms_norm"]
