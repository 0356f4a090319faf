"""--compile: backprop-compiled, a reverse sweep of torch.compile'd step VJPs, gives backprop's gradient
to rounding, with its compile time apart; a compile failure fails its row and the eager rows still run."""
import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.config import Settings
from gradcmp.presets import load_preset
from gradcmp.problems import PROBLEMS
from gradcmp.run import run_problem
from gradcmp.strategies import COMPILED, STRATEGIES, select_strategies


def instance(**params):
    values = {knob.name: knob.default for knob in PROBLEMS["neural-ode"].knobs}
    values.update({"batch": 3, "hidden": 5, "steps": 6, **params})
    return PROBLEMS["neural-ode"].build(values, torch.float64, torch.device("cpu"), 0)


@pytest.mark.parametrize("params", [{"obs": 2, "running_cost": True}, {"method": "midpoint", "steps": 5}])
def test_compiled_backprop_equals_backprop_to_rounding(params):
    case = instance(**params)
    compiled = COMPILED["backprop"].gradient(case)
    assert case.counters["steps_accepted"] == case.ode.options.steps
    eager = STRATEGIES["backprop"].gradient(case)
    assert float((compiled - eager).norm() / eager.norm()) < 1e-12
    assert COMPILED["backprop"].own_measurements(case)["compile_s"] >= 0


def test_compile_failure_fails_the_compiled_row_and_the_eager_rows_still_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", refuse)
    problem = PROBLEMS["linear-ode"]
    params = {knob.name: knob.default for knob in problem.knobs} | {"n": 3, "steps": 4}
    settings = Settings(threads=1, min_run_time=0.01, compile=True)
    run = run_problem(problem, params, select_strategies(problem, ["backprop", "adjoint"]), settings)
    rows = {result.strategy: result for result in run.results}
    assert list(rows) == ["backprop", "backprop-compiled", "adjoint"]
    assert rows["backprop-compiled"].status == "failed"
    assert rows["backprop-compiled"].reason == "no compiler here"
    assert rows["backprop"].status == rows["adjoint"].status == "ok"
    assert rows["backprop"].compile_s is None


def test_dopri5_has_no_compiled_sweep():
    with pytest.raises(ValueError, match="fixed-step methods only"):
        COMPILED["backprop"].gradient(instance(method="dopri5"))


def test_without_compile_there_is_no_compiled_row():
    result = CliRunner().invoke(main, ["run", "-p", "linear-ode", "--size", "4", "-s", "backprop",
                                       "--min-run-time", "0.01", "--format", "json"])
    assert result.exit_code == 0
    assert '"backprop-compiled"' not in result.output


def test_frameworks_preset_turns_compile_on():
    assert load_preset("frameworks").settings["compile"] is True
