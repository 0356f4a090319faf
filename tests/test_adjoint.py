"""The continuous adjoint (backsolve and checkpointed) against backprop, exact gradients and theory."""
import pytest
import torch

from gradcmp.config import Budget
from gradcmp.measure import call_with_saved_bytes, measure_strategy, peak_bytes
from gradcmp.ode import SOLVERS, OdeError
from gradcmp.strategies import strategy as configured

ADJOINTS = ["adjoint", "adjoint-checkpoint"]
SMALL = {"dim": 3, "hidden": 8, "batch": 5}  # neural-ode, small enough for a fast test


def relative(a, b) -> float:
    return float((a - b).norm() / b.norm())


def gradient(build, strategy, problem="neural-ode", options=None, **params):
    instance = build(problem, **params)
    return configured(strategy, **(options or {})).gradient(instance), instance


@pytest.mark.parametrize("strategy", ADJOINTS)
@pytest.mark.parametrize("extra", [{}, {"obs": 4}, {"running_cost": True}, {"obs": 3, "running_cost": True}],
                         ids=["terminal", "obs", "running-cost", "obs-and-running-cost"])
def test_adjoint_matches_backprop_on_the_same_rk4_grid(build, strategy, extra):
    """The continuous adjoint on rk4's grid differs from backprop's exact discrete gradient by
    O(h^4): at 240 steps that is below 1e-9. With several observation times this holds only if
    lambda jumps by dJ/dx(t_k) at each; with a running cost only if dL/dx enters lambda's dynamics."""
    params = dict(SMALL, steps=240, **extra)
    adjoint, _ = gradient(build, strategy, **params)
    backprop, _ = gradient(build, "backprop", **params)
    assert relative(adjoint, backprop) < 1e-9


@pytest.mark.parametrize("strategy", ADJOINTS)
@pytest.mark.parametrize("method", [name for name, solver in SOLVERS.items() if hasattr(solver, "step")
                                    and not solver.adaptive and not solver.implicit])  # implicit: skipped
def test_adjoint_and_backprop_differ_by_the_method_order(build, strategy, method):
    """Optimise-then-discretise vs discretise-then-optimise: their gap shrinks 2^order-fold each time h halves.
    (reversible_heun, which adjoint-checkpoint skips, is left out: backsolve's gap with it shrinks
    16-fold, faster than its order 2 says.)"""
    gaps = []
    for steps in (20, 40):
        params = dict(SMALL, method=method, steps=steps, obs=2)
        gaps.append(relative(gradient(build, strategy, **params)[0], gradient(build, "backprop", **params)[0]))
    assert gaps[0] / gaps[1] == pytest.approx(2 ** SOLVERS[method].order, rel=0.3)


@pytest.mark.parametrize("strategy", ADJOINTS)
def test_adjoint_error_vs_the_exact_gradient_falls_at_rk4_order(build, strategy):
    errors = []
    for steps in (10, 20, 40):
        theta_bar, instance = gradient(build, strategy, "linear-ode", steps=steps)
        errors.append(relative(theta_bar, instance.reference))
    assert errors[0] / errors[1] == pytest.approx(16, rel=0.25)
    assert errors[1] / errors[2] == pytest.approx(16, rel=0.25)


@pytest.mark.parametrize("strategy", ADJOINTS)
@pytest.mark.parametrize("problem, params", [("neural-ode", dict(SMALL, T=2.0, obs=3)),
                                              ("lotka-volterra", {"obs": 5, "T": 5.0})])
def test_dopri5_adjoint_meets_its_tolerance(build, strategy, problem, params):
    theta_bar, instance = gradient(build, strategy, problem, method="dopri5", rtol=1e-8, atol=1e-10, **params)
    assert relative(theta_bar, instance.reference) < 1e-6
    counters = instance.counters
    assert counters["nfe_bwd"] > 0 and counters["steps_accepted_bwd"] > 0 and "steps_rejected_bwd" in counters


def test_adjoint_tolerances_are_their_own_options(build):
    """A looser backward tolerance takes fewer backward steps and leaves the forward solve alone."""
    loose, tight = (gradient(build, "adjoint", options={"rtol": rtol, "atol": rtol}, method="dopri5", **SMALL)[1]
                    for rtol in (1e-4, 1e-10))
    assert loose.counters["nfe_fwd"] == tight.counters["nfe_fwd"]
    assert loose.counters["nfe_bwd"] < tight.counters["nfe_bwd"]


def test_seminorm_saves_backward_evaluations_on_neural_ode(build):
    """Leaving theta_bar out of the backward error norm: fewer backward evaluations, same accuracy."""
    params = dict(SMALL, method="dopri5", rtol=1e-8, atol=1e-10)
    full, semi = (gradient(build, "adjoint", options={"seminorm": seminorm}, **params) for seminorm in (False, True))
    assert semi[1].counters["nfe_bwd"] < full[1].counters["nfe_bwd"]
    assert semi[1].counters["nfe_fwd"] == full[1].counters["nfe_fwd"]
    for theta_bar, instance in (full, semi):
        assert relative(theta_bar, instance.reference) < 1e-7


@pytest.mark.parametrize("strategy, backward_per_step", [("adjoint", 1), ("adjoint-checkpoint", 2)])
def test_fixed_step_counts(build, strategy, backward_per_step):
    """rk4: 4 evaluations a step forward; backward 4 (backsolve) or 8 (recompute, then adjoint).
    adjoint-checkpoint's states at most: 6 checkpoints (segments of round(sqrt(30)) = 5 steps) and one
    segment's 5 recomputed states."""
    _, instance = gradient(build, strategy, steps=30, obs=3, **SMALL)
    if strategy == "adjoint-checkpoint":
        assert instance.counters.pop("slots_peak") == 6 + 5
    assert dict(instance.counters) == {"nfe_fwd": 120, "steps_accepted": 30, "nfe_bwd": 120 * backward_per_step,
                                       "steps_accepted_bwd": 30}


def test_adjoint_saves_only_the_observed_states(build):
    """Saved-for-backward bytes do not depend on the steps, and grow by one state per observation."""
    def saved(**params):
        instance = build("neural-ode", **dict(SMALL, **params))
        return call_with_saved_bytes(lambda: configured("adjoint").gradient(instance))[1]

    state = SMALL["batch"] * SMALL["dim"] * 8
    assert saved(steps=10) == saved(steps=200)
    assert saved(steps=40, obs=5) - saved(steps=40, obs=1) >= 4 * state


def test_adjoint_memory_is_flat_in_steps_while_backprop_grows(build):
    cpu = torch.device("cpu")

    def peak(strategy, steps):
        instance = build("neural-ode", dim=4, hidden=32, batch=32, steps=steps)
        return peak_bytes(lambda: configured(strategy).gradient(instance), cpu)

    ratios = {strategy: peak(strategy, 64) / peak(strategy, 8)
              for strategy in ("backprop", "adjoint", "adjoint-checkpoint")}
    assert ratios["adjoint"] <= 1.2
    assert ratios["backprop"] >= 5
    assert ratios["adjoint-checkpoint"] < 8 ** 0.5  # checkpoints + one segment: about sqrt(steps)


def test_backsolve_failure_is_reported_not_returned(build):
    """stiff-linear: x solved backwards grows like exp(50 T); backsolve says so and fails, while the
    checkpointed adjoint (x never solved backwards across more than a step) and backprop stay right."""
    instance = build("stiff-linear")
    with pytest.raises(OdeError, match="backsolve lost x"):
        configured("adjoint").gradient(instance)
    rows = {name: measure_strategy(configured(name), instance, Budget(max_bytes=2 ** 30), threads=1,
                                   min_run_time=0.01, primal_time=1.0)
            for name in ("adjoint", "adjoint-checkpoint", "backprop")}
    assert rows["adjoint"].status == "failed" and "use adjoint-checkpoint" in rows["adjoint"].reason
    assert rows["adjoint-checkpoint"].status == "ok" and rows["adjoint-checkpoint"].rel_error < 1e-6
    assert rows["backprop"].status == "ok" and rows["backprop"].rel_error < 1e-6


def test_backsolve_is_fine_on_the_same_system_when_mild(build):
    """The failure is the stiffness, not the code: with eigenvalues in [-3, -1] backsolve is right."""
    theta_bar, instance = gradient(build, "adjoint", "stiff-linear", stiffness=3.0)
    assert relative(theta_bar, instance.reference) < 1e-8
