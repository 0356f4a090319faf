"""Adaptive explicit Runge-Kutta pairs with an embedded error estimate: one implementation, the tableau as data.

dopri5 and tsit5 are both 5(4) pairs with seven stages, the seventh being f(t + dt, x1) (FSAL: first
same as last, so it is the next step's first and an attempted step costs six evaluations). They differ
only by their Tableau; everything else (the step-size controller, landing on requested times, the
first step, replaying an accepted step, the dense output) is EmbeddedRK's.

The step-size decisions read tensor values (one float per step), so a solve can be differentiated by
autograd and forward-mode dual numbers but not traced by torch.func.vmap. Gradients treat the accepted
step sizes as constants: they are the exact derivative of the discrete solution on the grid the forward
pass chose.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from gradcmp import deadline
from gradcmp.ode.base import OdeError, OdeStats, rms_norm

SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0
MIN_RELATIVE_STEP = 1e-12  # a step below this fraction of max(1, |t|) counts as underflow


@dataclass(frozen=True)
class Tableau:
    """An FSAL embedded pair with s stages, the last one f(t + dt, x1).

    c      nodes of the first s - 1 stages (c[0] = 0); the last stage's is 1
    a      rows of the first s - 1 stages (a[0] = ())
    b      weights of the first s - 1 stages: x1 = x + dt sum b_i k_i (the last stage's weight is 0)
    e      b - b_hat over all s stages: dt sum e_i k_i estimates the local error
    dense  per stage, the coefficients of theta, theta^2, ... of b_i(theta), the interpolant's weights:
           x(t + theta dt) = x + dt sum b_i(theta) k_i, with b_i(1) = b_i
    """

    c: tuple
    a: tuple
    b: tuple
    e: tuple
    dense: tuple


def _combine(x, ks, weights, dt):
    """x + dt * sum(w_i k_i), skipping zero weights; one fused add per term."""
    for k, weight in zip(ks, weights):
        if weight:
            x = x.add(k, alpha=weight * dt)
    return x


@dataclass(frozen=True)
class DenseStep:
    """One step from t to t + dt with its stages: x at any time inside it from the interpolant, no
    further vector-field evaluation (what an interpolating adjoint needs of the forward solve)."""

    t: float
    dt: float
    x0: Any
    x1: Any
    ks: tuple
    solver: "EmbeddedRK"

    def interpolate(self, theta: float):
        """x(t + theta dt), theta in [0, 1] (x0 at 0, x1 at 1, up to rounding)."""
        return self.solver.interpolate(self.x0, self.ks, self.dt, theta)

    def at(self, time: float):
        """x(time) for a time inside the step."""
        return self.interpolate((time - self.t) / self.dt)


@dataclass(frozen=True)
class EmbeddedRK:
    """Cost: `evaluations_per_step` (stages - 1) evaluations per attempted step, plus 2 to choose the
    first step (Hairer's rule).

    The error of a step is norm(err / (atol + rtol * max(|x0|, |x1|))), RMS unless `norm` says
    otherwise; a step is accepted when that is <= 1.
    """

    name: str
    order: int
    tableau: Tableau
    adaptive = True
    implicit = False

    @property
    def stages(self) -> int:
        return len(self.tableau.e)

    @property
    def evaluations_per_step(self) -> int:
        return self.stages - 1

    def integrate(self, f, x0, times, rtol: float, atol: float, norm: Callable = rms_norm,
                  max_steps: int = 10_000, time_sign: float = 1.0, on_accept: Callable | None = None,
                  on_dense: Callable | None = None):
        """(states at every time in `times`, stacked along a new first axis; OdeStats).

        on_accept(t, dt, x1, lands), when given, is called after each accepted step from t to t + dt
        (lands: it ends on one of `times`), so a caller can record the step sequence and replay it;
        on_dense(DenseStep) likewise, with the step's stages for its interpolant.

        Raises OdeError when max_steps attempts do not reach the last time, or when the step
        size underflows (a stiff problem, or tolerances the dtype cannot meet). Its message shows
        times multiplied by `time_sign` (-1 when the caller reversed time to integrate backwards).
        """
        import torch

        e = self.tableau.e

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
                    raise OdeError(f"{self.name} reached max_steps={max_steps} at t={time_sign * t:.6g} before "
                                   f"t={time_sign * times[-1]:.6g}; raise max_steps or loosen rtol/atol")
                if not dt >= MIN_RELATIVE_STEP * max(1.0, abs(t)):  # nan too
                    raise OdeError(f"{self.name} step size underflowed to {dt:.1e} at t={time_sign * t:.6g}: "
                                   f"the problem is stiff or rtol/atol are too tight for {x.dtype}")
                lands = dt >= t_out - t  # clip the step to land on the requested time exactly
                step_dt = t_out - t if lands else dt
                x1, k_last, ks = self._step(f, t, x, k1, step_dt)
                stats.nfe += self.evaluations_per_step
                ratio = error_ratio(_combine(ks[0] * (e[0] * step_dt), ks[1:], e[1:], step_dt), x, x1)
                accepted = ratio <= 1
                suggested = step_dt * self._factor(ratio, accepted)
                if accepted:
                    if on_accept is not None:
                        on_accept(t, step_dt, x1, lands)
                    if on_dense is not None:
                        on_dense(DenseStep(t, step_dt, x, x1, tuple(ks), self))
                    t, x, k1 = (t_out if lands else t + step_dt), x1, k_last
                    stats.accepted += 1
                    dt = max(suggested, dt) if lands else suggested  # a clipped step says little
                else:
                    stats.rejected += 1
                    dt = suggested
            states.append(x)
        return torch.stack(states), stats

    def step(self, f, t, x, dt):
        """x1 from x over one step of size dt, error control left out: stages - 1 evaluations. Replaying
        the accepted steps a solve recorded gives its solution, with the same arithmetic."""
        return self._stages(f, t, x, f(t, x), dt)[0]

    def dense_step(self, f, t, x, dt) -> DenseStep:
        """One step with all its stages kept (stages evaluations), for its interpolant."""
        x1, _, ks = self._step(f, t, x, f(t, x), dt)
        return DenseStep(t, dt, x, x1, tuple(ks), self)

    def dense_weights(self, theta: float) -> tuple[float, ...]:
        """b_i(theta) for each stage: the interpolant's weights at t + theta dt."""
        return tuple(sum(coefficient * theta ** (power + 1) for power, coefficient in enumerate(row))
                     for row in self.tableau.dense)

    def interpolate(self, x0, ks, dt: float, theta: float):
        """x(t + theta dt) = x0 + dt sum b_i(theta) k_i from a step's stages ks (all of them, FSAL one included)."""
        return _combine(x0, ks, self.dense_weights(theta), dt)

    def _factor(self, ratio: float, accepted: bool) -> float:
        """The standard controller: 0.9 ratio^(-1/order), clamped; never grows a rejected step."""
        if not ratio < float("inf"):  # inf or nan: the step blew up, shrink as much as allowed
            return MIN_FACTOR
        factor = MAX_FACTOR if ratio == 0 else SAFETY * ratio ** (-1 / self.order)
        return max(MIN_FACTOR, min(MAX_FACTOR if accepted else 1.0, factor))

    def _stages(self, f, t, x, k1, dt):
        """(x1, the first stages - 1 stages)."""
        tableau = self.tableau
        ks = [k1]
        for node, row in zip(tableau.c[1:], tableau.a[1:]):
            ks.append(f(t + node * dt, _combine(x, ks, row, dt)))
        return _combine(x, ks, tableau.b, dt), ks

    def _step(self, f, t, x, k1, dt):
        """(x1, the last stage f(t + dt, x1), all the stages) for one attempted step."""
        x1, ks = self._stages(f, t, x, k1, dt)
        k_last = f(t + dt, x1)
        ks.append(k_last)
        return x1, k_last, ks

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
            h1 = (0.01 / max(d1, d2)) ** (1 / self.order)
        first = min(100 * h0, h1)
        return first if 0 < first < float("inf") else 1e-6  # tolerances so tight the norms overflow
