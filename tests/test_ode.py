"""The solvers on problems with known solutions: order of convergence, tolerance, failures, transforms."""
import math

import pytest
import torch

from gradcmp.ode import SOLVERS, OdeError, odeint

FIXED = [name for name, solver in SOLVERS.items() if not solver.adaptive]


def growth(t, x):
    """dx/dt = cos(t) x, so x(t) = x0 exp(sin t): time-dependent, exercises every stage's node."""
    return math.cos(t) * x


def oscillator(t, x):
    """x'' = -x as a first-order system: x(t) = (cos t, -sin t) from (1, 0)."""
    return torch.stack([x[1], -x[0]])


def float64(*values):
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_error_falls_at_the_method_order(method):
    x0, exact = float64(1.0, -2.0), float64(1.0, -2.0) * math.exp(math.sin(2.0))
    errors = [float((odeint(growth, x0, [0.0, 2.0], method, steps=n)[0][-1] - exact).abs().max())
              for n in (40, 80)]
    assert errors[0] / errors[1] == pytest.approx(2 ** SOLVERS[method].order, rel=0.1)


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_counts_and_lands_on_every_time(method):
    times = [0.0, 0.5, 2.0, 3.0]
    states, stats = odeint(growth, float64(1.0), times, method, steps=60)
    exact = torch.exp(torch.sin(torch.tensor(times, dtype=torch.float64)))
    assert states.shape == (4, 1)
    assert torch.allclose(states[:, 0], exact, rtol=0.05)
    assert stats.accepted == 10 + 30 + 20 and stats.rejected == 0
    start = 1 if method == "reversible_heun" else 0  # f(t_0, z_0), carried into the first step
    assert stats.nfe == stats.accepted * SOLVERS[method].stages + start


@pytest.mark.parametrize("tolerance", [1e-4, 1e-7, 1e-10])
def test_dopri5_meets_its_tolerance_at_every_requested_time(tolerance):
    times = [0.0, 1.0, 4.0, 10.0]
    states, stats = odeint(oscillator, float64(1.0, 0.0), times, "dopri5", rtol=tolerance, atol=tolerance)
    exact = torch.cos(torch.tensor(times, dtype=torch.float64))
    error = float((states[:, 0] - exact).abs().max())
    assert error < 10 * tolerance  # global error: a few times the local tolerance over 1.6 periods
    assert error > tolerance / 1000  # and not wastefully tighter
    assert stats.nfe == 2 + 6 * (stats.accepted + stats.rejected)


def test_dopri5_takes_fewer_steps_for_looser_tolerance():
    steps = [odeint(oscillator, float64(1.0, 0.0), [0.0, 10.0], "dopri5", rtol=tol, atol=tol)[1].accepted
             for tol in (1e-3, 1e-6, 1e-9)]
    assert steps[0] < steps[1] < steps[2]
    # local error ~ h^5, so steps grow by about 10^(3/5) = 4 per 1000x tolerance
    assert 2.5 < steps[2] / steps[1] < 6


def test_dopri5_error_norm_is_pluggable():
    """A seminorm that ignores a fast component lets the steps follow the slow one only."""
    def field(t, x):
        return torch.stack([-x[0], 50 * math.cos(50 * t) * torch.ones_like(x[1])])

    x0 = float64(1.0, 0.0)
    full = odeint(field, x0, [0.0, 1.0], "dopri5", rtol=1e-8, atol=1e-8)[1]
    slow_only = odeint(field, x0, [0.0, 1.0], "dopri5", rtol=1e-8, atol=1e-8,
                       norm=lambda error: error[0].abs())[1]
    assert slow_only.accepted < full.accepted / 3


def test_dopri5_gives_up_after_max_steps_with_one_line():
    with pytest.raises(OdeError, match="max_steps=5") as raised:
        odeint(oscillator, float64(1.0, 0.0), [0.0, 10.0], "dopri5", rtol=1e-9, atol=1e-9, max_steps=5)
    assert "\n" not in str(raised.value)


def test_dopri5_failure_backwards_names_the_callers_times():
    with pytest.raises(OdeError, match=r"at t=9\.99\d* before t=0;"):
        odeint(oscillator, float64(1.0, 0.0), [10.0, 0.0], "dopri5", rtol=1e-9, atol=1e-9, max_steps=1)


def test_dopri5_reports_step_underflow_at_a_blow_up():
    """dx/dt = x^2 from x(0) = 1 is 1 / (1 - t): it leaves every float before t = 1."""
    with pytest.raises(OdeError, match="underflowed") as raised:
        odeint(lambda t, x: x * x, float64(1.0), [0.0, 2.0], "dopri5", rtol=1e-6, atol=1e-6)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("method", list(SOLVERS))
def test_decreasing_times_integrate_backwards_to_the_start(method):
    """Forward to t = 2 and back: an adjoint's backward pass solves on decreasing times."""
    x0 = float64(1.0, -2.0)
    forward, _ = odeint(growth, x0, [0.0, 1.0, 2.0], method, steps=400, rtol=1e-10, atol=1e-10)
    backward, _ = odeint(growth, forward[-1], [2.0, 1.0, 0.0], method, steps=400, rtol=1e-10, atol=1e-10)
    tolerance = {"euler": 1e-2, "midpoint": 1e-4}.get(method, 1e-8)
    assert torch.allclose(backward, forward.flip(0), rtol=tolerance, atol=tolerance)


def test_odeint_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown ODE method"):
        odeint(growth, float64(1.0), [0.0, 1.0], "rk5")
    with pytest.raises(ValueError, match="strictly increasing"):
        odeint(growth, float64(1.0), [0.0, 0.0], "rk4")
    with pytest.raises(ValueError, match="strictly increasing"):
        odeint(growth, float64(1.0), [0.0, 1.0, 0.5], "rk4")
    with pytest.raises(ValueError, match="steps"):
        odeint(growth, float64(1.0), [0.0, 1.0], "rk4", steps=0)


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_solve_goes_through_vmap_and_jvp(method):
    """torch.func traces a fixed-step solve: its JVPs (batched by vmap) equal autograd's gradient."""
    x0 = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta = float64(0.5, -1.0)

    def final(theta):
        field = lambda t, x: -theta * x + math.sin(t)  # noqa: E731
        return odeint(field, x0, [0.0, 1.0], method, steps=7)[0][-1].sum()

    basis = torch.eye(2, dtype=torch.float64)
    forward = torch.func.vmap(lambda t_dot: torch.func.jvp(final, (theta,), (t_dot,))[1])(basis)
    theta_var = theta.clone().requires_grad_(True)
    (reverse,) = torch.autograd.grad(final(theta_var), theta_var)
    assert torch.allclose(forward, reverse, rtol=1e-12, atol=1e-14)
