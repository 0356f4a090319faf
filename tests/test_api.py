"""The Python API: gradcmp.compare and gradcmp.bench return the records, gradients kept on request."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import gradcmp
from gradcmp.cli import main
from gradcmp.config import ConfigError, Param
from gradcmp.problems import PROBLEMS, Instance, Problem
from gradcmp.results import Run

FAST = {"threads": 1, "min_run_time": 0.005}


def inv_norm_gradient(size: int, seed: int = 0) -> torch.Tensor:
    """dz/dX = -(Y^T Y Y^T) / z with Y = X^-1, z = ||Y||_F, on the X inv-norm draws."""
    x = PROBLEMS["inv-norm"].build({"size": size}, torch.float64, torch.device("cpu"), seed).x
    y = torch.linalg.inv(x)
    return -(y.T @ y @ y.T) / torch.linalg.matrix_norm(y)


def test_compare_keeps_gradients_that_match_the_analytic_formula():
    run = gradcmp.compare("inv-norm", ["vjp", "jvp"], {"size": 32}, keep_gradients=True, **FAST)
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


def test_compare_fills_in_defaults_and_keeps_nothing_unless_asked():
    run = gradcmp.compare("sin-wy", "vjp", {"m": "3"}, dtype="float32", **FAST)
    assert run.params == {"size": 64, "m": 3} and run.dtype == "float32"
    assert run.results[0].gradient is None and run.reference is None and run.gradient_arrays() == {}
    assert run.results[0].rel_error < 1e-5


def test_compare_takes_a_problem_object_and_lists_inapplicable_strategies_as_skipped():
    def build(params, dtype, device, seed):
        x = torch.arange(1.0, params["size"] + 1, dtype=dtype, device=device)
        return Instance(x=x, loss=lambda x: (x ** 3).sum(), reference=3 * x.double() ** 2)

    cube = Problem("cube", "sum(x^3)", (Param("size", 4, "entries", minimum=1),), build)
    run = gradcmp.compare(cube, keep_gradients=True, **FAST)
    rows = {row.strategy: row for row in run.results}
    assert torch.equal(rows["vjp"].gradient, torch.tensor([3.0, 12.0, 27.0, 48.0], dtype=torch.float64))
    assert rows["jacobian"].status == "skipped" and rows["jacobian"].reason.startswith("needs ")


def test_run_round_trips_through_json():
    run = gradcmp.compare("inv-norm", ["vjp", "finite-diff"], {"size": 5}, keep_gradients=True, **FAST)
    record = json.loads(json.dumps(run.to_json()))
    again = Run.from_json(record)
    assert again == run
    assert again.to_json() == record
    assert "gradient" not in record["results"][0] and "reference" not in record


@pytest.mark.parametrize("call, message", [
    (lambda: gradcmp.compare("nope"), "unknown problem 'nope'"),
    (lambda: gradcmp.compare("inv-norm", ["magic"]), "unknown strategy 'magic'"),
    (lambda: gradcmp.compare("inv-norm", ["backprop"]), "strategy backprop cannot run on inv-norm: needs an ODE"),
    (lambda: gradcmp.compare("inv-norm", params={"width": 3}), "unknown param 'width' for problem inv-norm"),
    (lambda: gradcmp.compare("inv-norm", params={"size": 0}), "size must be >= 1"),
    (lambda: gradcmp.compare("inv-norm", dtype="float16"), "unknown dtype 'float16'"),
    (lambda: gradcmp.compare("inv-norm", device="tpu"), "unknown device 'tpu'"),
    (lambda: gradcmp.compare("inv-norm", max_memory="lots"), "expected a size such as 512MiB"),
    (lambda: gradcmp.compare("inv-norm", threads=0), "threads must be a positive integer"),
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
