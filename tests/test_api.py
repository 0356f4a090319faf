"""The Python API: gradcmp.run, bench, compare and show return the records (gradients kept on request), with
the same names, checks and verdicts as the commands."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import gradcmp
from gradcmp.cli import main
from gradcmp.config import ConfigError, Param
from gradcmp.problems import PROBLEMS, Instance, Problem
from gradcmp.records import Run

FAST = {"threads": 1, "min_run_time": 0.005}


def inv_norm_gradient(size: int, seed: int = 0) -> torch.Tensor:
    """dz/dX = -(Y^T Y Y^T) / z with Y = X^-1, z = ||Y||_F, on the X inv-norm draws."""
    x = PROBLEMS["inv-norm"].build({"size": size}, torch.float64, torch.device("cpu"), seed).x
    y = torch.linalg.inv(x)
    return -(y.T @ y @ y.T) / torch.linalg.matrix_norm(y)


def test_run_keeps_gradients_that_match_the_analytic_formula():
    run = gradcmp.run("inv-norm", ["vjp", "jvp"], {"size": 32}, keep_gradients=True, **FAST)
    expected = inv_norm_gradient(32)
    assert run.params == {"size": 32} and [row.strategy for row in run.results] == ["vjp", "jvp"]
    assert torch.allclose(run.reference, expected, rtol=1e-12, atol=0)
    for row in run.results:
        assert row.status == "ok" and row.gradient.dtype == torch.float64
        assert torch.allclose(row.gradient, expected, rtol=1e-10, atol=1e-14)
    arrays = run.gradient_arrays()
    assert set(arrays) == {"vjp", "jvp", "reference"}
    assert isinstance(arrays["vjp"], np.ndarray)
    np.testing.assert_allclose(arrays["jvp"], expected.numpy(), rtol=1e-10, atol=1e-14)


def test_run_fills_in_defaults_and_keeps_nothing_unless_asked():
    run = gradcmp.run("sin-wy", "vjp", {"m": "3"}, dtype="float32", **FAST)
    assert run.params == {"size": 64, "m": 3} and run.dtype == "float32"
    assert run.results[0].gradient is None and run.reference is None and run.gradient_arrays() == {}
    assert run.results[0].rel_error < 1e-5


def test_run_takes_a_problem_object_and_lists_inapplicable_strategies_as_skipped():
    def build(params, dtype, device, seed):
        x = torch.arange(1.0, params["size"] + 1, dtype=dtype, device=device)
        return Instance(x=x, loss=lambda x: (x ** 3).sum(), reference=3 * x.double() ** 2)

    cube = Problem("cube", "sum(x^3)", (Param("size", 4, "entries", minimum=1),), build)
    run = gradcmp.run(cube, keep_gradients=True, **FAST)
    rows = {row.strategy: row for row in run.results}
    assert torch.equal(rows["vjp"].gradient, torch.tensor([3.0, 12.0, 27.0, 48.0], dtype=torch.float64))
    assert rows["jacobian"].status == "skipped" and rows["jacobian"].reason.startswith("needs ")


def test_run_round_trips_through_json():
    run = gradcmp.run("inv-norm", ["vjp", "finite-diff"], {"size": 5}, keep_gradients=True, **FAST)
    record = json.loads(json.dumps(run.to_json()))
    again = Run.from_json(record)
    assert again.results == run.results and again.params == run.params
    assert again.to_json() == record
    assert "gradient" not in record["results"][0] and "reference" not in record


@pytest.mark.parametrize("call, message", [
    (lambda: gradcmp.run("nope"), "unknown problem 'nope'"),
    (lambda: gradcmp.run("inv-norm", ["magic"]), "unknown strategy 'magic'"),
    (lambda: gradcmp.run("inv-norm", ["backprop"]), "strategy backprop cannot run on inv-norm: needs an ODE"),
    (lambda: gradcmp.run("inv-norm", params={"width": 3}), "unknown param 'width' for problem inv-norm"),
    (lambda: gradcmp.run("inv-norm", params={"size": 0}), "size must be >= 1"),
    (lambda: gradcmp.run("inv-norm", dtype="float16"), "dtype must be one of float32, float64, got 'float16'"),
    (lambda: gradcmp.run("inv-norm", device="tpu"), "unknown device 'tpu'; choose from: cpu, cuda"),
    (lambda: gradcmp.run("inv-norm", colour=1), "unknown setting 'colour'"),
    (lambda: gradcmp.run("inv-norm", "vjp", seed=1.5), "seed must be an integer from 0 to"),
    (lambda: gradcmp.bench("smoke", fail_on_regression=1.5), "fail_on_regression compares with a baseline"),
    (lambda: gradcmp.bench("smoke", sizes=16), "sizes must be a non-empty list of values, got 16"),
    (lambda: gradcmp.run("inv-norm", max_memory="lots"), "max_memory: expected a size such as 512MiB"),
    (lambda: gradcmp.run("inv-norm", threads=0), "threads must be a positive integer"),
    (lambda: gradcmp.bench("no-such-preset"), "unknown preset 'no-such-preset'"),
    (lambda: gradcmp.bench([{"problem": "inv-norm", "colour": 1}]), "cases: case[1].colour: unknown key"),
])
def test_bad_arguments_raise_config_error_before_any_work(call, message):
    with pytest.raises(ConfigError, match="^" + message.replace("[", r"\[").replace("(", r"\(")):
        call()


def test_bench_over_cases_returns_the_sweep_with_gradients_kept():
    from gradcmp.sweep import gradient_arrays

    sweep = gradcmp.bench([{"problem": "inv-norm", "sizes": [3, 4], "strategies": ["vjp"]}],
                          keep_gradients=True, **FAST)
    assert sweep.status == "complete" and [entry.run.params["size"] for entry in sweep.entries] == [3, 4]
    for entry in sweep.entries:
        size = entry.run.params["size"]
        assert torch.allclose(entry.run.results[0].gradient, inv_norm_gradient(size), rtol=1e-10)
    assert set(gradient_arrays(sweep.entries)) == {"case1/inv-norm size=3/vjp", "case1/inv-norm size=3/reference",
                                                    "case1/inv-norm size=4/vjp", "case1/inv-norm size=4/reference"}


def test_bench_overrides_a_presets_params_and_writes_the_output(tmp_path):
    path = tmp_path / "out.json"
    sweep = gradcmp.bench("smoke", problems=["sin-wy"], strategies=["jvp"], sizes=[5], output=path, **FAST)
    assert [(entry.run.problem, entry.run.params["size"]) for entry in sweep.entries] == [("sin-wy", 5)]
    assert json.loads(path.read_text())["status"] == "complete"


def test_run_and_bench_save_gradients_to_npz(tmp_path):
    run_file, bench_file = tmp_path / "run.npz", tmp_path / "bench.npz"
    result = CliRunner().invoke(main, ["run", "-p", "inv-norm", "-n", "6", "-s", "vjp", "-s", "jvp",
                                       "--min-run-time", "0.005", "--save-gradients", str(run_file)])
    assert result.exit_code == 0, result.output
    with np.load(run_file) as arrays:
        assert set(arrays.files) == {"vjp", "jvp", "reference"}
        np.testing.assert_allclose(arrays["vjp"], inv_norm_gradient(6).numpy(), rtol=1e-10)
    result = CliRunner().invoke(main, ["bench", "-p", "inv-norm", "--sizes", "3", "-s", "vjp", "--min-run-time",
                                       "0.005", "-o", str(tmp_path / "b.json"), "--save-gradients", str(bench_file)])
    assert result.exit_code == 0, result.output
    with np.load(bench_file) as arrays:
        assert set(arrays.files) == {"case1/inv-norm size=3/vjp", "case1/inv-norm size=3/reference"}


def test_a_python_script_gates_ci_against_a_baseline_without_the_cli(tmp_path):
    """bench(baseline=, fail_on_regression=) returns the comparison and the verdict as data: a rerun against
    itself passes at a generous ratio; a baseline made 1000x faster by hand fails it, naming the row."""
    cases = [{"problem": "inv-norm", "sizes": [4], "strategies": ["vjp"]}]
    old = tmp_path / "old.json"
    gradcmp.bench(cases, output=old, **FAST)
    sweep = gradcmp.bench(cases, baseline=old, fail_on_regression=1000.0, **FAST)
    assert not sweep.failed and sweep.comparison.regressions == [] and len(sweep.comparison.comparisons) == 1
    document = json.loads(old.read_text())
    document["runs"][0]["results"][0]["time_s"] /= 1e6
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps(document))
    sweep = gradcmp.bench(cases, baseline=fast, fail_on_regression=1000.0, **FAST)
    assert sweep.failed and sweep.comparison.regressions == ["inv-norm size=4 vjp"]
    assert not sweep.verdict.failed  # the rows themselves are fine: the regression is what fails
    report = gradcmp.compare(fast, old, fail_on_regression=1000.0)
    assert report.failed and report.regressions == ["inv-norm size=4 vjp"]


def test_a_notebook_passes_a_function_and_its_input_and_prints_the_table():
    x = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64)

    def cubes(x):
        return (x ** 3).sum()

    run = gradcmp.run((cubes, x), ["vjp", "finite-diff"], **FAST)
    assert run.problem == "cubes" and [row.status for row in run.results] == ["ok", "ok"]
    assert run.results[0].rel_error < 1e-15
    text = str(run)
    assert text.startswith("cubes  float64 cpu  threads=1") and "finite-diff" in text
    assert "<table" in run._repr_html_() or "<pre" in run._repr_html_()

    def factory(dtype, device, seed, n=3):
        return (lambda x: x.sin().sum()), torch.ones(n, dtype=dtype, device=device)

    assert gradcmp.run(factory, "vjp", {"n": 4}, **FAST).params == {"n": 4}
    with pytest.raises(ConfigError, match="a problem is a registered name"):
        gradcmp.run(42)
    with pytest.raises(ConfigError, match="needs x as a torch tensor"):
        gradcmp.run((cubes, [1.0, 2.0]))


def test_configured_strategies_are_values_spelled_one_way():
    value = gradcmp.strategy("checkpoint", checkpoints=8, schedule="binomial")
    assert value.label == "checkpoint(checkpoints=8,schedule=binomial)" == str(value)
    assert value == gradcmp.strategy("checkpoint(schedule=binomial,checkpoints=8)")
    assert gradcmp.strategy("checkpoint(checkpoints=0)").label == "checkpoint"  # defaults are not spelled
    with pytest.raises(AttributeError, match="immutable"):
        value.checkpoints = 4
    run = gradcmp.run("linear-ode", [value, "checkpoint(checkpoints=2,4)"], {"steps": 8, "n": 2},
                      keep_gradients=True, **FAST)
    assert [row.strategy for row in run.results] == ["checkpoint(checkpoints=8,schedule=binomial)",
                                                      "checkpoint(checkpoints=2)", "checkpoint(checkpoints=4)"]
    first = run.results[0].gradient  # three schedules of the same discrete solve: one gradient
    assert all(row.status == "ok" and torch.allclose(row.gradient, first, rtol=1e-12) for row in run.results)
    assert [row.stats["slots_peak"] for row in run.results] == [9, 3, 5]
