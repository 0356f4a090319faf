"""--compile: compiled(backprop), compiled(checkpoint), compiled(adjoint) and compiled(adjoint-checkpoint),
sweeps of torch.compile'd chunks of steps, give their eager strategy's gradient to rounding, with its compile
time apart; a compile failure fails its row and the eager rows still run; where a compiled form cannot
apply, its row is skipped with the reason before any work."""
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.config import Settings
from gradcmp.presets import load_preset
from gradcmp.problems import PROBLEMS
from gradcmp.runner import run_problem
from gradcmp.config import ConfigError
from gradcmp.strategies import compile_backend, compiled_adjoint, compiled_sweep, select_strategies, strategy as configured
from gradcmp.strategies.compiled import FORMS


def instance(problem="neural-ode", **params):
    values = {param.name: param.default for param in PROBLEMS[problem].params}
    values.update({"batch": 3, "hidden": 5, "steps": 6} if problem == "neural-ode" else {"n": 3, "steps": 7})
    values.update(params)
    return PROBLEMS[problem].build(values, torch.float64, torch.device("cpu"), 0)


CASES = {  # chunks of 2 steps: segments of several chunks, chunks ending mid-interval and at observations
    "neural-ode, 2 observations, running cost": ("neural-ode", {"obs": 2, "running_cost": True}, {"checkpoints": 2}),
    "neural-ode, midpoint": ("neural-ode", {"method": "midpoint", "steps": 5}, {}),
    "linear-ode (x @ a.T)": ("linear-ode", {}, {}),  # torch.func.vjp under torch.compile got this one wrong
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("eager", sorted(FORMS))
def test_compiled_equals_eager_to_rounding(monkeypatch, eager, case):
    monkeypatch.setattr(compiled_sweep, "CHUNK", 2)
    monkeypatch.setattr(compiled_adjoint, "CHUNK", 2)
    problem, params, options = CASES[case]
    built = instance(problem, **params)
    eager_value = configured(eager, **{key: value for key, value in options.items() if key in configured(eager).config})
    compiled = configured(f"compiled({eager_value.label})")
    gradient = compiled.gradient(built)
    assert built.counters["steps_accepted"] == built.ode.options.steps
    reference = eager_value.gradient(built)
    assert float((gradient - reference).norm() / reference.norm()) < 1e-12
    assert compiled.own_measurements(built)["compile_s"] >= 0


def test_compile_failure_fails_the_compiled_row_and_the_eager_rows_still_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", refuse)
    problem = PROBLEMS["linear-ode"]
    params = {param.name: param.default for param in problem.params} | {"n": 3, "steps": 4}
    settings = Settings(threads=1, min_run_time=0.01, compile=True)
    chosen = select_strategies(problem, ["backprop", "checkpoint", "adjoint"], compile=True)
    run = run_problem(problem, params, chosen, settings)
    rows = {result.strategy: result for result in run.results}
    assert list(rows) == ["backprop", "compiled(backprop)", "checkpoint", "compiled(checkpoint)", "adjoint",
                          "compiled(adjoint)"]
    for name in ("backprop", "checkpoint", "adjoint"):
        assert rows[f"compiled({name})"].status == "failed"
        assert rows[f"compiled({name})"].reason == "no compiler here"
        assert rows[name].status == "ok"
    assert rows["backprop"].compile_s is None


def test_the_compiled_float64_tanh_is_within_8_ulp_of_torch_tanh():
    x = torch.cat([torch.linspace(-30, 30, 200001, dtype=torch.float64),  # both forms and the switch at 1/8
                   torch.logspace(-300, 0, 3001, dtype=torch.float64),
                   -torch.logspace(-300, 0, 3001, dtype=torch.float64)])
    got, want = compile_backend.tanh(x), torch.tanh(x)
    ulps = (got - want).abs().numpy() / np.spacing(want.abs().numpy())
    assert ulps.max() <= 8
    edges = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 1e308, -1e308], dtype=torch.float64)
    assert compile_backend.tanh(edges).tolist() == [0.0, -0.0, 1.0, -1.0, 1.0, -1.0]
    assert torch.signbit(compile_backend.tanh(edges))[1]
    assert compile_backend.tanh(torch.tensor([float("nan")], dtype=torch.float64)).isnan().all()
    assert compile_backend.tanh(x.float()) is NotImplemented  # float32 keeps inductor's own tanh


def test_the_lowerings_pickle_so_inductor_keeps_its_caches():
    """inductor keys its on-disk caches on the decomposition table; an unpicklable one skips them."""
    table = pickle.loads(pickle.dumps(compile_backend._lowerings()))
    assert table[torch.ops.aten.tanh.default] is compile_backend.tanh


@pytest.mark.parametrize("n", [4, 64])  # 4 x 64 x 4: summed by inductor; 64 x 64 x 64: MKL's
def test_the_compiled_products_are_the_products(n):
    a = torch.randn(64, n, dtype=torch.float64).t()  # a transposed first operand, as in a parameter's gradient
    b, bias = torch.randn(n, 64, dtype=torch.float64).t(), torch.randn(n, dtype=torch.float64)
    if n == 4:
        torch.testing.assert_close(compile_backend._mm(a, b.contiguous()), a @ b, rtol=1e-14, atol=1e-13)
    torch.testing.assert_close(compile_backend._mm(a, b), a @ b, rtol=1e-14, atol=1e-13)
    torch.testing.assert_close(compile_backend._addmm(bias, a, b, beta=0.5, alpha=2.0),
                               torch.addmm(bias, a, b, beta=0.5, alpha=2.0), rtol=1e-14, atol=1e-13)
    x, w = torch.randn(64, 4, dtype=torch.float64), torch.randn(32, 4, dtype=torch.float64)  # an inner size of 4:
    torch.testing.assert_close(compile_backend._mm(x, w.t()), x @ w.t(), rtol=1e-14, atol=1e-13)  # outer products


@pytest.mark.parametrize("method", ["dopri5", "reversible_heun"])
def test_a_compiled_row_on_a_method_it_cannot_take_is_skipped_with_the_reason(method):
    problem = PROBLEMS["linear-ode"]
    params = {param.name: param.default for param in problem.params} | {"n": 3, "steps": 4, "method": method}
    settings = Settings(threads=1, min_run_time=0.01, compile=True)
    run = run_problem(problem, params, select_strategies(problem, ["backprop", "adjoint"], compile=True), settings)
    rows = {result.strategy: result for result in run.results}
    for name in ("compiled(backprop)", "compiled(adjoint)"):
        assert rows[name].status == "skipped" and rows[name].not_applicable
        assert ("fixed-step" if method == "dopri5" else "second state") in rows[name].reason


@pytest.mark.parametrize("eager", ["checkpoint", "adjoint-checkpoint"])
def test_compiled_checkpoints_refuse_the_binomial_schedule(eager):
    with pytest.raises(ConfigError, match="takes the uniform schedule, not binomial"):
        configured(f"compiled({eager}(schedule=binomial))")
    chosen = select_strategies(PROBLEMS["neural-ode"], [f"{eager}(schedule=binomial)"], compile=True)
    assert [value.label for value, _ in chosen] == [f"{eager}(schedule=binomial)"]  # --compile adds no such row


def test_without_compile_there_is_no_compiled_row():
    result = CliRunner().invoke(main, ["run", "-p", "linear-ode", "--size", "4", "-s", "backprop",
                                       "--min-run-time", "0.01", "--format", "json"])
    assert result.exit_code == 0
    assert '"compiled(backprop)"' not in result.output


def test_frameworks_preset_turns_compile_on():
    assert load_preset("frameworks").settings["compile"] is True
