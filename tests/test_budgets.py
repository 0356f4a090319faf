"""Budgets and failures around the measuring: what cannot be afforded is skipped with its estimate,
what fails leaves every row and the measured figures in place."""
import pytest
import torch

from gradcmp import deadline, measure
from gradcmp.config import Budget, Settings
from gradcmp.ode import OdeError
from gradcmp.problems import PROBLEMS, neural_ode
from gradcmp.runner import run_problem
from gradcmp.strategies import strategy as configured, select_strategies


def run(problem, names=None, **settings):
    params = {param.name: param.default for param in PROBLEMS[problem].params}
    params.update(settings.pop("params", {}))
    settings = Settings(threads=1, min_run_time=0.01, **settings)
    return run_problem(PROBLEMS[problem], params, select_strategies(PROBLEMS[problem], names), settings)


def rows(result_run):
    return {row.strategy: row for row in result_run.results}


def test_a_problem_too_big_to_build_is_skipped_with_its_estimate_before_allocating():
    result = run("inv-norm", ["vjp", "jacobian"], params={"size": 60000}, max_memory=2 ** 30)
    for row in result.results:
        assert row.status == "skipped"
        assert row.reason.startswith("building the problem would need about 268.2 GiB")


def test_a_memory_budget_nothing_fits_in_says_so_for_every_row():
    for problem in ("inv-norm", "sin-wy", "mlp", "linear-ode", "neural-ode", "lotka-volterra"):
        if PROBLEMS[problem].estimate is None:
            continue
        result = run(problem, ["vjp"], max_memory=1)
        assert rows(result)["vjp"].status == "skipped"
        assert "building the problem would need about" in rows(result)["vjp"].reason


def test_a_build_that_fails_fails_every_row_with_the_reason():
    result = run("inv-norm", ["vjp", "finite-diff"], seed=2 ** 70)
    for row in result.results:
        assert row.status == "failed"
        assert row.reason.startswith("the problem could not be built: ")


def test_a_loss_over_the_time_budget_skips_every_row_with_an_estimate_in_seconds():
    result = run("neural-ode", ["backprop", "vjp"], params={"steps": 10 ** 6}, max_time=0.3)
    for row in result.results:
        assert row.status == "skipped"
        assert row.reason.startswith("one loss evaluation would take about ")
        assert "over the time budget of 300 ms" in row.reason
        assert "--max-time" in row.reason


def test_a_reference_that_fails_leaves_the_rows_measured_with_null_errors(monkeypatch):
    def gives_up(*args):
        raise OdeError("dopri5 reached max_steps")

    monkeypatch.setattr(neural_ode, "_reference", gives_up)
    result = run("neural-ode", ["vjp"], params={"steps": 10})
    row = rows(result)["vjp"]
    assert row.status == "ok" and row.time_s > 0 and row.peak_bytes > 0
    assert row.rel_error is None and row.max_abs_error is None
    assert result.info["reference"] == "not computed: dopri5 reached max_steps"


def test_a_failed_memory_pass_keeps_the_row_ok_with_a_note(monkeypatch, build):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("std::bad_alloc")

    monkeypatch.setattr(measure, "memory_of", out_of_memory)
    row = measure.measure_strategy(configured("vjp"), build("inv-norm", size=8), Budget(2 ** 30), threads=1,
                                   min_run_time=0.01, primal_time=1e-5)
    assert row.status == "ok" and row.rel_error < 1e-12 and row.time_s > 0
    assert row.peak_bytes is None
    assert row.notes == ["peak memory not measured: std::bad_alloc"]


def test_a_finite_gradient_whose_norm_overflows_gets_a_finite_error_and_a_warning(build):
    instance = build("lotka-volterra", method="euler", steps=10, obs=1)
    row = measure.measure_strategy(configured("vjp"), instance, Budget(2 ** 30), threads=1,
                                   min_run_time=0.01, primal_time=1e-5)
    assert row.status == "ok"
    assert 1e150 < row.rel_error < float("inf")
    assert row.notes and row.notes[0].startswith("relative error") and "unreliable" in row.notes[0]


def test_every_strategy_states_a_memory_estimate_or_none(build):
    instance = build("neural-ode", steps=10)
    for name in ("finite-diff", "jvp", "jacobian", "backprop", "checkpoint"):
        assert configured(name).estimated_bytes(instance) > 0
    assert configured("vjp").estimated_bytes(instance) is None


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_cut_off_extrapolates_a_loop_past_the_probe_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(deadline.time, "perf_counter", clock)
    with deadline.within(20.0, "the solve"):
        deadline.check(0.0)
        clock.now = 0.5
        deadline.check(0.01)  # before the probe time: no verdict yet
        clock.now = 2.0
        with pytest.raises(deadline.OverTime, match=r"^the solve would take about 3.33 min, over the time"):
            deadline.check(0.01)  # 2 s for 1 %: about 200 s in all


def test_the_cut_off_lets_a_loop_that_fits_run_and_does_nothing_outside_a_limit(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(deadline.time, "perf_counter", clock)
    with deadline.within(20.0, "the solve"):
        deadline.check(0.0)
        for step in range(1, 11):
            clock.now = step
            deadline.check(step / 10)  # 10 s in all
    clock.now = 1e6
    deadline.check(1e-9)


def test_the_cut_off_times_each_solve_from_its_own_start(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(deadline.time, "perf_counter", clock)
    with deadline.within(20.0, "the build"):
        clock.now = 5.0  # a first piece of work cut or finished
        deadline.check(0.0)  # a new solve starts
        clock.now = 6.5
        deadline.check(0.5)  # 1.5 s for half: 8 s in all, within 20 s


def test_problem_estimates_follow_their_sizes():
    small, large = (PROBLEMS["inv-norm"].estimate({"size": n}) for n in (100, 200))
    assert large[0] == 4 * small[0] and large[1] == 8 * small[1]
    assert torch.float64.itemsize * 100 * 100 <= small[0]


def test_direction_by_direction_strategies_stop_at_the_time_limit(build):
    instance = build("sin-wy", size=128)
    for name in ("finite-diff", "numpy-jvp"):
        with deadline.within(0.05, f"{name}'s gradient"):
            with pytest.raises(deadline.OverTime, match=f"^{name}'s gradient would take "):
                configured(name).gradient(instance)
