"""tsit5 (and the adaptive base it shares with dopri5), sdirk3 (implicit, L-stable) and the brusselator problem."""
import math
from collections import Counter

import pytest
import torch

from gradcmp.config import Budget
from gradcmp.measure import gradient_errors, measure_strategy
from gradcmp.ode import SOLVERS, odeint
from gradcmp.ode.embedded_rk import EmbeddedRK
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import strategy as configured

ADAPTIVE = [name for name, solver in SOLVERS.items() if solver.adaptive]


def float64(*values):
    return torch.tensor(values, dtype=torch.float64)


def growth(t, x):
    """x(t) = x0 exp(sin t): time-dependent, so every stage's node counts."""
    return math.cos(t) * x


def oscillator(t, x):
    return torch.stack([x[1], -x[0]])


def relative(a, b) -> float:
    return float((a - b).norm() / b.norm())


# ---------------------------------------------------------------- the adaptive pairs: tsit5 and dopri5


def test_the_adaptive_pairs_are_one_solver_with_two_tableaus():
    assert {type(SOLVERS[name]) for name in ADAPTIVE} == {EmbeddedRK} and {"dopri5", "tsit5"} <= set(ADAPTIVE)
    for name in ADAPTIVE:
        tableau = SOLVERS[name].tableau
        assert sum(tableau.b) == pytest.approx(1, abs=1e-14) and sum(tableau.e) == pytest.approx(0, abs=1e-14)
        for node, row in zip(tableau.c, tableau.a):
            assert sum(row) == pytest.approx(node, abs=1e-14)
        assert SOLVERS[name].dense_weights(1.0) == pytest.approx(tableau.b + (0.0,), abs=1e-14)


@pytest.mark.parametrize("method", ADAPTIVE)
def test_the_step_is_fifth_order(method):
    """The propagated solution (error control left out: `step` on a uniform grid) falls 2^5-fold per halving
    (measured from 40 to 80 steps: 2^5.09 dopri5, 2^5.42 tsit5, whose small leading term leaves the higher
    ones visible longer)."""
    solver, x0 = SOLVERS[method], float64(1.0, -2.0)
    exact = x0 * math.exp(math.sin(2.0))

    def error(n):
        x, dt = x0, 2.0 / n
        for i in range(n):
            x = solver.step(growth, i * dt, x, dt)
        return float((x - exact).abs().max())

    assert 4.7 < math.log2(error(40) / error(80)) < 5.6


@pytest.mark.parametrize("method", ADAPTIVE)
def test_the_embedded_estimate_is_a_fifth_power_of_the_step(method):
    """One step's error estimate dt sum e_i k_i (the embedded 4th-order pair's local error) falls 2^5-fold per halving."""
    solver = SOLVERS[method]

    def estimate(dt):
        step = solver.dense_step(growth, 0.3, float64(1.0), dt)
        return abs(sum(e * float(k) for e, k in zip(solver.tableau.e, step.ks)) * dt)

    assert estimate(0.1) / estimate(0.05) == pytest.approx(32, rel=0.15)


@pytest.mark.parametrize("method", ADAPTIVE)
def test_dense_output_is_fourth_order(method):
    """The interpolant at mid-step: local error O(dt^5), so 2^5-fold less per halving (measured from dt 0.1
    to 0.05: 2^5.03 dopri5, 2^5.23 tsit5); exact at both ends."""
    solver, x0, t = SOLVERS[method], float64(1.0, -2.0), 0.3
    for theta in (0.0, 1.0):
        step = solver.dense_step(growth, t, x0, 0.1)
        assert torch.allclose(step.interpolate(theta), x0 if theta == 0 else step.x1, rtol=1e-14, atol=0)

    def error(dt):
        step = solver.dense_step(growth, t, x0, dt)
        exact = x0 * math.exp(math.sin(t + dt / 2) - math.sin(t))
        return float((step.at(t + dt / 2) - exact).abs().max())

    assert 4.7 < math.log2(error(0.1) / error(0.05)) < 5.6


@pytest.mark.parametrize("tolerance", [1e-5, 1e-8, 1e-11])
def test_tsit5_meets_its_tolerance_and_counts_six_evaluations_per_attempt(tolerance):
    times = [0.0, 1.0, 4.0, 10.0]
    states, stats = odeint(oscillator, float64(1.0, 0.0), times, "tsit5", rtol=tolerance, atol=tolerance)
    error = float((states[:, 0] - torch.cos(torch.tensor(times, dtype=torch.float64))).abs().max())
    assert tolerance / 1000 < error < 10 * tolerance
    assert stats.nfe == 2 + 6 * (stats.accepted + stats.rejected)


def test_tsit5_steps_scale_as_the_fifth_root_of_the_tolerance():
    steps = [odeint(oscillator, float64(1.0, 0.0), [0.0, 10.0], "tsit5", rtol=tol, atol=tol)[1].accepted
             for tol in (1e-6, 1e-9)]
    assert 2.5 < steps[1] / steps[0] < 6  # 1000^(1/5) = 4


def test_on_dense_gives_each_accepted_step_and_its_interpolant():
    steps = []
    states, stats = odeint(oscillator, float64(1.0, 0.0), [0.0, 3.0], "tsit5", rtol=1e-9, atol=1e-9,
                           on_dense=steps.append)
    assert len(steps) == stats.accepted and steps[-1].t + steps[-1].dt == pytest.approx(3.0)
    assert torch.equal(steps[-1].x1, states[-1])
    for step in steps[::5]:
        middle = step.t + step.dt / 2
        assert float(step.at(middle)[0]) == pytest.approx(math.cos(middle), abs=1e-8)


def test_tsit5_and_dopri5_agree_on_lotka_volterra(build):
    """Both adaptive pairs at rtol 1e-10: the same gradient to their tolerance, and the reference's."""
    gradients = {}
    for method in ("tsit5", "dopri5"):
        instance = build("lotka-volterra", method=method, rtol=1e-10, atol=1e-10, T=5.0, obs=5)
        gradients[method] = configured("backprop").gradient(instance)
        assert relative(gradients[method], instance.reference) < 1e-8
    assert relative(gradients["tsit5"], gradients["dopri5"]) < 1e-8


@pytest.mark.parametrize("every", [0, 3])
def test_tsit5_checkpoint_replays_the_accepted_steps_exactly(build, every):
    instance = build("neural-ode", dim=2, hidden=8, batch=4, obs=3, method="tsit5", rtol=1e-7, atol=1e-9)
    backprop = configured("backprop").gradient(instance)
    accepted = instance.counters["steps_accepted"]
    instance.counters.clear()
    checkpointed = configured("checkpoint", checkpoints=every).gradient(instance)
    assert torch.allclose(checkpointed, backprop, rtol=1e-13, atol=1e-15)
    assert instance.counters["nfe_bwd"] == 6 * accepted  # each accepted step replayed once, no rejected one


@pytest.mark.parametrize("strategy", ["adjoint", "adjoint-checkpoint"])
def test_tsit5_adjoint_meets_its_tolerance(build, strategy):
    instance = build("lotka-volterra", method="tsit5", rtol=1e-8, atol=1e-10, obs=5, T=5.0)
    assert relative(configured(strategy).gradient(instance), instance.reference) < 1e-6
    assert instance.counters["steps_accepted_bwd"] > 0 and "steps_rejected_bwd" in instance.counters


# ---------------------------------------------------------------- sdirk3: implicit, L-stable


def test_sdirk3_is_third_order_on_a_linear_problem():
    x0 = float64(1.0, -2.0)
    exact = x0 * math.exp(math.sin(2.0))
    errors = [float((odeint(growth, x0, [0.0, 2.0], "sdirk3", steps=n)[0][-1] - exact).abs().max()) for n in (40, 80)]
    assert errors[0] / errors[1] == pytest.approx(8, rel=0.1)


def test_sdirk3_is_stable_with_steps_far_beyond_explicit_stability():
    """Rates 1 and 1e6, dt = 0.1: the fast mode is damped to nothing (L-stability), the slow one is
    right to the method's accuracy; rk4 on the same grid blows up."""
    field = lambda t, x: x * float64(-1.0, -1e6)  # noqa: E731
    x0 = float64(1.0, 1.0)
    states, _ = odeint(field, x0, [0.0, 1.0], "sdirk3", steps=10)
    assert float(states[-1, 0]) == pytest.approx(math.exp(-1), rel=1e-4)
    assert abs(float(states[-1, 1])) < 1e-12
    explicit, _ = odeint(field, x0, [0.0, 1.0], "rk4", steps=10)
    assert not abs(float(explicit[-1, 1])) < 1e10


def test_sdirk3_counts_its_newton_evaluations_as_stages():
    from gradcmp.ode.sdirk3 import NEWTON_ITERATIONS

    calls = Counter()

    def counted(t, x):
        calls["f"] += 1
        return growth(t, x)

    _, stats = odeint(counted, float64(1.0), [0.0, 1.0], "sdirk3", steps=7)
    assert calls["f"] == stats.nfe == 7 * 3 * NEWTON_ITERATIONS == 7 * SOLVERS["sdirk3"].stages


def test_sdirk3_newton_iterations_have_converged_on_the_brusselator():
    """The nonlinear stages: at 10 steps over [0, 1] (n = 4, the default stiffness) three full Newton
    iterations leave the states and the gradient within 1e-8 of eight iterations (measured 1e-10, 3e-9)."""
    from gradcmp.ode import sdirk3
    from gradcmp.problems.brusselator import _data, _system
    from gradcmp.ode.system import SolverOptions

    theta, x0, disc = _data(4, 10.0)
    system = _system(x0, disc, 4, 1.0, 10, SolverOptions(method="sdirk3", steps=10))

    def solve(iterations, monkeypatch=None):
        sdirk3.newton.__defaults__ = (iterations,)
        try:
            parameters = theta.clone().requires_grad_(True)
            states = system.trajectory(parameters)
            (gradient,) = torch.autograd.grad(system.loss_of_trajectory(states), parameters)
        finally:
            sdirk3.newton.__defaults__ = (sdirk3.NEWTON_ITERATIONS,)
        return states.detach(), gradient

    (states, gradient), (converged, converged_gradient) = solve(sdirk3.NEWTON_ITERATIONS), solve(8)
    assert relative(states, converged) < 1e-8 and relative(gradient, converged_gradient) < 1e-8


def test_sdirk3_gradient_through_newton_is_exact_and_third_order(build):
    """Backprop through the Newton iterations (jacfwd, torch.linalg.solve) is the exact derivative of the
    discrete solution: forward mode agrees to rounding, and it converges to the exact gradient at order 3."""
    coarse = build("linear-ode", n=4, steps=20, method="sdirk3")
    backprop = configured("backprop").gradient(coarse)
    assert relative(configured("jvp").gradient(coarse), backprop) < 1e-11
    fine = configured("backprop").gradient(build("linear-ode", n=4, steps=40, method="sdirk3"))
    errors = [relative(gradient, coarse.reference) for gradient in (backprop, fine)]
    assert errors[0] / errors[1] == pytest.approx(8, rel=0.15)


def test_sdirk3_on_stiff_linear_takes_steps_rk4_cannot(build):
    """stiffness 50, T = 1: rk4 needs 18 steps just to be stable; sdirk3 at 10 steps is within 1e-3 of
    the exact gradient (measured 1.5e-5 at 20 steps, 3.6e-4 at 10) where rk4 at 10 steps has blown up."""
    implicit = build("stiff-linear", steps=10, method="sdirk3")
    assert relative(configured("backprop").gradient(implicit), implicit.reference) < 1e-3
    explicit = build("stiff-linear", steps=10, method="rk4")
    assert not relative(configured("backprop").gradient(explicit), explicit.reference) < 1


def test_sdirk3_checkpoint_equals_backprop_and_the_adjoint_skips(build):
    instance = build("stiff-linear", steps=20, method="sdirk3", n=4, batch=2)
    backprop = configured("backprop").gradient(instance)
    assert torch.allclose(configured("checkpoint").gradient(instance), backprop, rtol=1e-13, atol=1e-15)
    rows = {name: measure_strategy(configured(name), instance, Budget(max_bytes=2 ** 30), threads=1,
                                   min_run_time=0.01, primal_time=1.0)
            for name in ("backprop", "checkpoint")}
    assert rows["backprop"].status == rows["checkpoint"].status == "ok"  # under the saved-bytes hooks too
    assert rows["backprop"].saved_bytes > 0
    for name in ("adjoint", "adjoint-checkpoint", "compiled(adjoint)"):  # skipped before any work, with the reason
        assert "implicit method sdirk3" in configured(name).applies_to(PROBLEMS["stiff-linear"], instance)


# ---------------------------------------------------------------- brusselator


def _benchmark_field(n, u, p, t):
    """BrussScaling.jmd's brusselator_2d_loop, transcribed loop for loop (1-based, Julia's column-major
    vec), as the check on the vectorised field."""
    xyd = [k / (n - 1) for k in range(n)]
    dx2 = (1 / (n - 1)) ** 2

    def limit(a):
        return 1 if a == n + 1 else n if a == 0 else a

    def index(i, j, k):  # LinearIndices((N, N, 2))[i, j, k], 0-based
        return (i - 1) + n * (j - 1) + n * n * (k - 1)

    cells = n * n
    a_, b_, alpha = p[:cells], p[cells:2 * cells], p[2 * cells:]
    du = [0.0] * (2 * cells)
    for k in (1, 2):
        for j in range(1, n + 1):
            for i in range(1, n + 1):
                x, y = xyd[i - 1], xyd[j - 1]
                here, first = index(i, j, k), index(i, j, 1)
                lap = (u[index(limit(i - 1), j, k)] + u[index(limit(i + 1), j, k)] + u[index(i, limit(j + 1), k)]
                       + u[index(i, limit(j - 1), k)] - 4 * u[here]) / dx2
                uu, v = u[first], u[index(i, j, 2)]
                if k == 1:
                    forcing = 5.0 if ((x - 0.3) ** 2 + (y - 0.6) ** 2) <= 0.1 ** 2 and t >= 1.1 else 0.0
                    du[here] = alpha[here] * lap + b_[first] + uu * uu * v - (a_[first] + 1) * uu + forcing
                else:
                    du[here] = alpha[here] * lap + a_[first] * uu - uu * uu * v
    return du


@pytest.mark.parametrize("t", [0.5, 1.2])  # 1.2: the forcing is on
def test_brusselator_field_is_the_benchmarks(t):
    from gradcmp.problems.brusselator import _data, _system
    from gradcmp.ode.system import SolverOptions

    n = 4  # one cell, (1/3, 2/3), lies on the forcing's disc
    theta, x0, disc = _data(n, 10.0)
    generator = torch.Generator().manual_seed(1)
    theta = theta * (1 + 0.1 * torch.randn(theta.shape, generator=generator, dtype=torch.float64))
    state = x0 + torch.rand(x0.shape, generator=generator, dtype=torch.float64)
    system = _system(x0, disc, n, 1.0, 10, SolverOptions())
    ours = system.vector_field(t, state, system.parameters(theta))
    theirs = torch.tensor(_benchmark_field(n, state.tolist(), theta.tolist(), t), dtype=torch.float64)
    assert torch.allclose(ours, theirs, rtol=1e-13, atol=1e-12)
    assert float(disc.sum()) == 1


def test_brusselator_sizes_and_parameters(build, monkeypatch):
    import gradcmp.problems.brusselator as brusselator

    monkeypatch.setattr(brusselator, "_reference", lambda *args: None)  # shapes only: no 15 s reference
    instance = build("brusselator", n=10)
    assert instance.x.numel() == 400 and instance.ode.x0.numel() == 200
    assert instance.info["parameters"] == 400 and instance.info["states"] == 200
    a, b, alpha = instance.ode.parameters(instance.x)
    assert (a == 3.4).all() and (b == 1.0).all() and (alpha == 10.0).all() and alpha.shape == (2, 10, 10)
    assert len(instance.ode.times) == 11 and instance.ode.times[-1] == 1.0  # the benchmark's saveat 0:0.1:1
    u0 = instance.ode.x0[:100].reshape(10, 10)  # u(0) = 22 (y (1 - y))^1.5: constant along x (rows are y)
    assert torch.allclose(u0[4], torch.full((10,), 22 * (4 / 9 * 5 / 9) ** 1.5, dtype=torch.float64))


def test_brusselator_gradient_meets_the_reference_at_a_tiny_size(small_instance):
    instance = small_instance("brusselator")
    assert instance.x.numel() == 36
    for strategy in ("backprop", "adjoint-checkpoint"):
        assert gradient_errors(configured(strategy).gradient(instance), instance.reference)[0] < 1e-8


def test_brusselator_reference_agrees_with_richardson_extrapolated_rk4(build):
    """The continuous-adjoint reference against an independent one on a stiff configuration (n = 3,
    alpha = 10: rate 320): backprop through rk4 at 400 and 800 fixed steps, Richardson-extrapolated
    (measured 5.6e-11 apart; rk4 at 800 steps alone 2.5e-8)."""
    instance = build("brusselator", n=3, T=0.25, obs=1)
    gradients = [configured("backprop").gradient(build("brusselator", n=3, T=0.25, obs=1, steps=steps))
                 for steps in (400, 800)]
    assert relative((16 * gradients[1] - gradients[0]) / 15, instance.reference) < 2e-10


def test_brusselator_sdirk3_solves_where_rk4_needs_thousands_of_steps(build, monkeypatch):
    """n = 10: rate 6480, rk4 is stable only from 2323 steps; sdirk3 at 20 steps stays within 1e-2 of
    the tight solution (measured 2.2e-3 on the states, 2.3e-4 on the gradient) where rk4 at 200 steps
    has blown up."""
    import gradcmp.problems.brusselator as brusselator

    monkeypatch.setattr(brusselator, "_reference", lambda *args: None)
    tight = build("brusselator", n=10, method="dopri5", rtol=1e-10, atol=1e-10)
    exact = tight.ode.trajectory(tight.x)
    implicit = build("brusselator", n=10, method="sdirk3", steps=20)
    assert relative(implicit.ode.trajectory(implicit.x), exact) < 1e-2
    explicit = build("brusselator", n=10, method="rk4", steps=200)
    assert not relative(explicit.ode.trajectory(explicit.x), exact) < 1
