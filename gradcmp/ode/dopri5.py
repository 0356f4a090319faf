"""Dormand-Prince 5(4): adaptive steps under rtol/atol, seven stages with the last reused (FSAL).

The step-size decisions read tensor values (one float per step), so a dopri5 solve can be
differentiated by autograd and forward-mode dual numbers but not traced by torch.func.vmap.
Gradients treat the accepted step sizes as constants: they are the exact derivative of the
discrete solution on the grid the forward pass chose.
"""
from dataclasses import dataclass
from typing import Callable

from gradcmp import deadline
from gradcmp.ode.base import OdeError, OdeStats, rms_norm

# Butcher tableau: nodes C, stage rows A, fifth-order weights B (the 7th stage's row, hence FSAL),
# and E = B - (the embedded fourth-order weights), whose combination estimates the local error.
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)

ORDER = 5
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0
MIN_RELATIVE_STEP = 1e-12  # a step below this fraction of max(1, |t|) counts as underflow


def _combine(x, ks, weights, dt):
    """x + dt * sum(w_i k_i), skipping zero weights; one fused add per term."""
    for k, weight in zip(ks, weights):
        if weight:
            x = x.add(k, alpha=weight * dt)
    return x


def _factor(ratio: float, accepted: bool) -> float:
    """The standard controller: 0.9 ratio^(-1/5), clamped; never grows a rejected step."""
    if not ratio < float("inf"):  # inf or nan: the step blew up, shrink as much as allowed
        return MIN_FACTOR
    factor = MAX_FACTOR if ratio == 0 else SAFETY * ratio ** (-1 / ORDER)
    return max(MIN_FACTOR, min(MAX_FACTOR if accepted else 1.0, factor))


@dataclass(frozen=True)
class Dopri5:
    """Cost: 6 evaluations per attempted step, plus 2 to choose the first step (Hairer's rule).

    The error of a step is norm(err / (atol + rtol * max(|x0|, |x1|))), RMS unless `norm` says
    otherwise; a step is accepted when that is <= 1.
    """

    name: str = "dopri5"
    order: int = ORDER
    adaptive = True

    def integrate(self, f, x0, times, rtol: float, atol: float, norm: Callable = rms_norm,
                  max_steps: int = 10_000, time_sign: float = 1.0, on_accept: Callable | None = None):
        """(states at every time in `times`, stacked along a new first axis; OdeStats).

        on_accept(t, dt, x1, lands), when given, is called after each accepted step from t to t + dt
        (lands: it ends on one of `times`), so a caller can record the step sequence and replay it.

        Raises OdeError when max_steps attempts do not reach the last time, or when the step
        size underflows (a stiff problem, or tolerances the dtype cannot meet). Its message shows
        times multiplied by `time_sign` (-1 when the caller reversed time to integrate backwards).
        """
        import torch

        def error_ratio(error, x, x1) -> float:
            with torch.no_grad():
                return float(norm(error / (x.abs().maximum(x1.abs()) * rtol + atol)))

        stats = OdeStats()
        t, x = times[0], x0
        k1 = f(t, x)
        stats.nfe = 1
        dt = self._initial_step(f, t, x, k1, rtol, atol, norm, stats)
        states = [x0]
        for t_out in times[1:]:
            while t < t_out:
                deadline.check((t - times[0]) / (times[-1] - times[0]))
                if stats.accepted + stats.rejected >= max_steps:
                    raise OdeError(f"dopri5 reached max_steps={max_steps} at t={time_sign * t:.6g} before "
                                   f"t={time_sign * times[-1]:.6g}; raise max_steps or loosen rtol/atol")
                if not dt >= MIN_RELATIVE_STEP * max(1.0, abs(t)):  # nan too
                    raise OdeError(f"dopri5 step size underflowed to {dt:.1e} at t={time_sign * t:.6g}: "
                                   f"the problem is stiff or rtol/atol are too tight for {x.dtype}")
                lands = dt >= t_out - t  # clip the step to land on the requested time exactly
                step_dt = t_out - t if lands else dt
                x1, k7, ks = self._step(f, t, x, k1, step_dt)
                stats.nfe += 6
                ratio = error_ratio(_combine(ks[0] * (E[0] * step_dt), ks[1:], E[1:], step_dt), x, x1)
                accepted = ratio <= 1
                suggested = step_dt * _factor(ratio, accepted)
                if accepted:
                    if on_accept is not None:
                        on_accept(t, step_dt, x1, lands)
                    t, x, k1 = (t_out if lands else t + step_dt), x1, k7
                    stats.accepted += 1
                    dt = max(suggested, dt) if lands else suggested  # a clipped step says little
                else:
                    stats.rejected += 1
                    dt = suggested
            states.append(x)
        return torch.stack(states), stats

    def step(self, f, t, x, dt):
        """x1 from x over one step of size dt, error control left out: six evaluations. Replaying
        the accepted steps a solve recorded gives its solution, with the same arithmetic."""
        return self._stages(f, t, x, f(t, x), dt)[0]

    def _stages(self, f, t, x, k1, dt):
        """(x1, the first six stages)."""
        ks = [k1]
        for node, row in zip(C[1:], A[1:]):
            ks.append(f(t + node * dt, _combine(x, ks, row, dt)))
        return _combine(x, ks, B, dt), ks

    def _step(self, f, t, x, k1, dt):
        """(x1, k7 = f(t + dt, x1), all seven stages) for one attempted step."""
        x1, ks = self._stages(f, t, x, k1, dt)
        k7 = f(t + dt, x1)
        ks.append(k7)
        return x1, k7, ks

    def _initial_step(self, f, t, x, k1, rtol, atol, norm, stats) -> float:
        """Hairer, Norsett and Wanner's starting step (Solving ODEs I, II.4): two evaluations."""
        import torch

        with torch.no_grad():
            scale = x.abs() * rtol + atol
            d0, d1 = float(norm(x / scale)), float(norm(k1 / scale))
            h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
            k_probe = f(t + h0, x.add(k1, alpha=h0))
            stats.nfe += 1
            d2 = float(norm((k_probe - k1) / scale)) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1 / ORDER)
        first = min(100 * h0, h1)
        return first if 0 < first < float("inf") else 1e-6  # tolerances so tight the norms overflow


SOLVER = Dopri5()
