"""The user's own problems: FILE.py:NAME factories (functions, nn.Modules, ODEs) and their bad input."""
import json
import textwrap

import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.config import ConfigError
from gradcmp.problems.user import disagreement, user_problem

FAST = ["--min-run-time", "0.005", "--threads", "1"]


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def rosenbrock_gradient(x):
    """The analytic gradient of sum(100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2)."""
    g = torch.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * x[:-1] * inner - 2 * (1 - x[:-1])
    g[1:] += 200 * inner
    return g


@pytest.mark.parametrize("dtype, bound", [("float64", 1e-12), ("float32", 1e-6)])
def test_rosenbrock_rows_agree_with_the_analytic_gradient(dtype, bound):
    result = invoke("run", "--problem", "examples/rosen.py:rosenbrock", "--format", "json", "--dtype", dtype,
                    "-s", "vjp", "-s", "jvp", "-s", "jacobian", "-s", "finite-diff", *FAST)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["info"]["reference"] == "float64 vjp"
    rows = {row["strategy"]: row for row in document["results"]}
    assert all(row["status"] == "ok" for row in rows.values())
    for name in ("vjp", "jvp", "jacobian"):
        assert rows[name]["rel_error"] < bound
    assert 0 < rows["finite-diff"]["rel_error"] < 1e3 * bound ** (2 / 3)
    # the reference itself is the analytic gradient
    instance = user_problem("examples/rosen.py:rosenbrock").build({}, torch.float64, torch.device("cpu"), 0)
    exact = rosenbrock_gradient(torch.linspace(-1.5, 1.5, 200, dtype=torch.float64))
    assert torch.allclose(instance.reference, exact, rtol=1e-13, atol=1e-11)


def test_every_plain_function_strategy_applies_and_ode_ones_are_skipped():
    result = invoke("run", "--problem", "examples/rosen.py:rosenbrock", "--format", "json", *FAST)
    status = {row["strategy"]: row["status"] for row in json.loads(result.output)["results"]}
    assert {name for name, value in status.items() if value == "ok"} == {"jacobian", "vjp", "jvp", "finite-diff"}
    assert status["adjoint"] == "skipped"


def test_param_reaches_the_factory_and_bench_sweeps_it(tmp_path):
    problem = user_problem("examples/rosen.py:rosenbrock_n")
    assert [param.name for param in problem.params] == ["n"]
    instance = problem.build({"n": 7}, torch.float64, torch.device("cpu"), 0)
    assert instance.x.shape == (7,)
    out = tmp_path / "sweep.json"
    result = invoke("bench", "--problem", "examples/rosen.py:rosenbrock_n", "--param", "n=10,30", "-s", "vjp",
                    "--output", str(out), "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert [run["params"]["n"] for run in runs] == [10, 30]
    assert all(run["results"][0]["rel_error"] < 1e-12 for run in runs)


def test_module_problem_differentiates_every_parameter_against_the_float64_model():
    problem = user_problem("examples/module_problem.py:regression")
    instance = problem.build({"width": 5, "batch": 8}, torch.float32, torch.device("cpu"), 0)
    assert instance.x.numel() == 4 * 5 + 5 + 5 + 1 and instance.x.dtype == torch.float32
    # the reference is the float64 model's gradient at the float32 weights
    torch.manual_seed(0)
    from examples.module_problem import regression

    made = regression(torch.float64, torch.device("cpu"), 0, width=5, batch=8)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(instance.x.double(), made.module.parameters())
    made.loss_fn(made.module, made.batch).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in made.module.parameters()])
    assert torch.allclose(instance.reference, expected, rtol=1e-12, atol=1e-14)


def test_pendulum_ode_offers_every_ode_strategy_and_states_its_reference():
    problem = user_problem("examples/pendulum.py:pendulum")
    assert problem.main_param == "steps" and {"ode", "chain"} <= problem.provides
    result = invoke("run", "--problem", "examples/pendulum.py:pendulum", "--param", "obs=2", "--param", "steps=40",
                    "--param", "horizon=1.0", "-s", "backprop", "-s", "adjoint", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["info"]["reference"].startswith("float64 dopri5")
    assert all(row["rel_error"] < 1e-5 for row in document["results"])


def test_a_wrong_given_reference_is_reported_not_trusted(tmp_path):
    (tmp_path / "wrong.py").write_text(textwrap.dedent("""
        import torch
        def f(dtype, device, seed):
            x = torch.ones(5, dtype=dtype, device=device)
            return (lambda x: (x ** 2).sum()), x, 3 * x
    """))
    instance = user_problem(f"{tmp_path}/wrong.py:f").build({}, torch.float64, torch.device("cpu"), 0)
    assert instance.reference is None and "NOT USED" in instance.info["reference"]
    assert disagreement(lambda x: (x ** 2).sum(), torch.ones(5, dtype=torch.float64), 2 * torch.ones(5)) < 1e-8


BAD = {
    "missing-file": (None, "nope.py:f", "nope.py: no such file"),
    "missing-attribute": ("def g(dtype, device, seed): pass", "bad.py:f", "bad.py: has no 'f'"),
    "raises": ("def f(dtype, device, seed):\n    raise RuntimeError('boom')", "bad.py:f",
               "bad.py:f: the factory raised RuntimeError: boom"),
    "wrong-shape": ("def f(dtype, device, seed):\n    return 1, 2, 3, 4", "bad.py:f",
                    "bad.py:f: the factory must return (loss, x)"),
    "non-scalar": ("import torch\ndef f(dtype, device, seed):\n"
                   "    return (lambda x: x * 2), torch.ones(3, dtype=dtype)", "bad.py:f",
                   "bad.py:f: loss(x) must return a scalar tensor, got (3,)"),
    "no-dependence": ("import torch\ndef f(dtype, device, seed):\n    return (lambda x: torch.tensor(1.0)), "
                      "torch.ones(3, dtype=dtype)", "bad.py:f", "bad.py:f: loss(x) does not depend on x"),
    "integer-x": ("import torch\ndef f(dtype, device, seed):\n    return (lambda x: x.sum()), torch.arange(3)",
                  "bad.py:f", "bad.py:f: x must have a floating dtype"),
    "reference-shape": ("import torch\ndef f(dtype, device, seed):\n"
                        "    x = torch.ones(3, dtype=dtype)\n    return (lambda x: x.sum()), x, torch.ones(4)",
                        "bad.py:f", "bad.py:f: the reference must be a tensor shaped like x (3,)"),
    "no-default": ("import torch\ndef f(dtype, device, seed, n):\n    pass", "bad.py:f", "bad.py:f: give n a default"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_the_file_and_exit_2(case, tmp_path, monkeypatch):
    source, spec, expected = BAD[case]
    monkeypatch.chdir(tmp_path)
    if source is not None:
        (tmp_path / "bad.py").write_text(source)
    user_problem.cache_clear()
    result = invoke("run", "--problem", spec, *FAST)
    assert result.exit_code == 2, result.output
    message = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(message) == 1 and expected in message[0], result.output
    assert "Traceback" not in result.output


def test_help_says_user_code_is_imported_only_when_named():
    for command in ("run", "bench"):
        text = " ".join(invoke(command, "--help").output.split())
        assert "FILE.py:NAME or package.module:NAME (imported only then" in text


def test_size_on_a_factory_without_params_is_a_usage_error():
    result = invoke("run", "--problem", "examples/rosen.py:rosenbrock", "--size", "5", *FAST)
    assert result.exit_code == 2
    assert "rosen.py:rosenbrock declares no params, so there is no size to set" in result.output


def test_a_module_path_is_imported_as_package_module_name():
    with pytest.raises(ConfigError, match="no_such_pkg.mod: cannot import it"):
        user_problem("no_such_pkg.mod:f")
    assert user_problem("examples.rosen:rosenbrock").name == "examples.rosen:rosenbrock"


def test_tolerance_exits_1_when_a_row_exceeds_it():
    args = ["run", "--problem", "examples/rosen.py:rosenbrock", "-s", "vjp", "-s", "finite-diff", *FAST]
    assert invoke(*args, "--tolerance", "1e-6").exit_code == 0
    over = invoke(*args, "--tolerance", "1e-12")
    assert over.exit_code == 1 and "over the tolerance 1e-12: finite-diff" in over.output
