"""The command line: output shapes, exit codes and one-line messages for bad input."""
import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from gradcmp import problems as problems_module
from gradcmp.cli import main
from gradcmp.config import Param
from gradcmp.problems import PROBLEMS, Instance, Problem
from gradcmp.strategies import configurations, strategy as configured

FAST = ["--min-run-time", "0.005"]


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_run_json_has_the_documented_shape():
    result = invoke("run", "--problem", "inv-norm", "--size", "6", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert {"gradcmp_version", "problem", "params", "dtype", "device", "seed", "threads", "machine",
            "results"} <= set(document)
    assert document["params"] == {"size": 6}
    assert {"cpu", "torch", "device_name"} <= set(document["machine"])
    for row in document["results"]:
        assert {"strategy", "status", "reason", "time_s", "time_iqr_s", "primal_time_s", "rel_error",
                "max_abs_error", "peak_bytes", "saved_bytes"} <= set(row)
        strategy = configured(row["strategy"])
        if strategy.unavailable():  # an optional extra not installed: skipped, saying what to install
            assert row["status"] == "skipped" and row["reason"] == strategy.unavailable()
        elif strategy.applies_to(PROBLEMS["inv-norm"]):
            assert row["status"] == "skipped" and row["reason"].startswith("needs ")
        else:
            assert row["status"] == "ok" and row["rel_error"] < 1e-5
    assert [row["strategy"] for row in document["results"]] == [value.label for value in configurations()]


def test_run_table_shows_each_strategy_and_the_condition_number():
    result = invoke("run", "-p", "inv-norm", "-n", "5", "-s", "vjp", "-s", "jvp", *FAST)
    assert result.exit_code == 0, result.output
    assert "vjp" in result.output and "jvp" in result.output and "jacobian" not in result.output
    assert "condition number" in result.output


def test_param_sets_any_param():
    result = invoke("run", "-p", "sin-wy", "--param", "size=4", "--param", "m=3", "-s", "vjp", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["params"] == {"size": 4, "m": 3}


@pytest.mark.parametrize("args, message", [
    (["-p", "nope"], "unknown problem 'nope'; choose from: inv-norm, sin-wy"),
    (["-p", "inv-norm", "-s", "magic"], "unknown strategy 'magic'; choose from: jacobian, vjp"),
    (["-p", "inv-norm", "--size", "0"], "must be a positive integer, got 0"),
    (["-p", "inv-norm", "--size", "-3"], "must be a positive integer, got -3"),
    (["-p", "inv-norm", "--size", "big"], "'big' is not a valid integer"),
    (["-p", "inv-norm", "--dtype", "float16"], "'float16' is not one of 'float32', 'float64'"),
    (["-p", "inv-norm", "--device", "tpu"], "unknown device 'tpu'; choose from: cpu, cuda"),
    (["-p", "inv-norm", "--param", "width=3"], "unknown param 'width' for problem inv-norm; its params are: size"),
    (["-p", "inv-norm", "--param", "size=two"], "size must be an integer, got 'two'"),
    (["-p", "inv-norm", "--param", "size"], "expected KEY=VALUE, got 'size'"),
    (["-p", "sin-wy", "--param", "m=-1"], "m must be >= 0, got -1"),
    (["-p", "inv-norm", "--max-memory", "lots"], "expected a size such as 512MiB"),
    (["-p", "inv-norm", "--max-time", "0"], "must be a positive number of seconds"),
])
def test_bad_input_exits_2_with_a_one_line_reason(args, message):
    result = invoke("run", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_usage_error():
    result = invoke("run", "-p", "inv-norm", "--device", "cuda")
    assert result.exit_code == 2
    assert "sees no CUDA device" in result.output


@pytest.fixture
def chainless_problem(monkeypatch):
    """A problem without a chain of maps (so `jacobian` cannot apply) whose loss is NaN at x."""

    def build(params, dtype, device, seed):
        x = torch.full((params["size"],), -1.0, dtype=dtype, device=device)
        return Instance(x=x, loss=lambda x: torch.sqrt(x).sum(), reference=None)

    problem = Problem("nan-root", "sum(sqrt(x)) at x = -1", (Param("size", 3, "entries", minimum=1),), build)
    monkeypatch.setitem(problems_module.PROBLEMS, problem.name, problem)
    return problem


def test_explicit_strategy_that_does_not_apply_exits_2_with_the_reason(chainless_problem):
    result = invoke("run", "-p", "nan-root", "-s", "jacobian")
    assert result.exit_code == 2
    assert "strategy jacobian cannot run on nan-root: needs a problem written as a chain of maps" in result.output


def test_inapplicable_strategy_is_listed_as_skipped_and_nan_gradient_as_failed(chainless_problem):
    result = invoke("run", "-p", "nan-root", "--format", "json", *FAST)
    rows = {row["strategy"]: row for row in json.loads(result.output)["results"]}
    assert rows["jacobian"]["status"] == "skipped" and "chain" in rows["jacobian"]["reason"]
    assert rows["vjp"]["status"] == "failed"
    assert rows["vjp"]["reason"] == "the gradient has NaN or Inf entries"
    assert result.exit_code == 1


def test_list_shows_problems_params_strategies_and_the_matrix():
    result = invoke("list")
    assert result.exit_code == 0
    for word in ("inv-norm", "sin-wy", "size=64", "m=0", "jacobian", "finite-diff",
                 "applies to"):
        assert word in result.output


@pytest.mark.parametrize("args", [["--help"], ["list"], ["run", "--help"]])
def test_help_and_list_do_not_import_torch(args):
    code = ("import sys\nfrom gradcmp.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_python_dash_m_gradcmp_runs():
    completed = subprocess.run([sys.executable, "-m", "gradcmp", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and "gradcmp" in completed.stdout


def test_threads_are_fixed_and_reported():
    result = invoke("run", "-p", "inv-norm", "-n", "4", "-s", "vjp", "--threads", "1", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["threads"] == 1


def test_run_prints_every_format_bench_does():
    args = ["run", "-p", "inv-norm", "-n", "4", "-s", "vjp", "--threads", "1", *FAST]
    csv_lines = invoke(*args, "--format", "csv").output.splitlines()
    assert csv_lines[0].startswith("case,problem,params") and csv_lines[1].startswith('1,inv-norm,"{""size"": 4}"')
    assert invoke(*args, "--format", "markdown").output.startswith("### inv-norm  size=4  float64 cpu  threads=1")
    row = json.loads(invoke(*args, "--format", "json").output)["results"][0]
    assert isinstance(row["repeats"], int) and row["repeats"] >= 1


def test_run_collapses_inapplicable_strategies_to_one_line():
    result = invoke("run", "-p", "inv-norm", "-n", "4", "--threads", "1", *FAST)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "not applicable to inv-norm: backprop, checkpoint, adjoint," in text and "(they need an ODE problem)" in text
    assert "backprop skipped" not in text and "│ backprop" not in result.output
