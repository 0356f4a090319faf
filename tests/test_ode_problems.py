"""The ODE problems and the strategies that look inside the solve: exact gradients, orders, NFE, memory."""
import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.measure import gradient_errors, peak_bytes
from gradcmp.problems import PROBLEMS
from gradcmp.problems.linear_ode import exact_loss_and_gradient
from gradcmp.strategies import strategy as configured

ODE_PROBLEMS = [name for name, problem in PROBLEMS.items() if "ode" in problem.provides]
SMALL = {"neural-ode": {"dim": 2, "hidden": 8, "batch": 4}, "linear-ode": {"n": 3, "batch": 2},
         "lotka-volterra": {},  # its default reference (about 2 s) is cached and shared
         "stiff-linear": {"n": 4, "batch": 2},
         "brusselator": {"n": 3, "alpha": 0.1, "T": 0.25, "obs": 2},
         "cubic-regression": {"points": 8, "hidden": 4, "method": "rk4"}}
CPU = torch.device("cpu")


def rel_error(gradient, reference):
    return gradient_errors(gradient, reference)[0]


def test_linear_ode_exact_gradient_matches_float64_finite_differences():
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(4, 4, generator=generator, dtype=torch.float64) / 2 - torch.eye(4, dtype=torch.float64)
    x0, target = (torch.randn(3, 4, generator=generator, dtype=torch.float64) for _ in range(2))
    _, gradient = exact_loss_and_gradient(a, x0, target, 1.5)
    h = 1e-6
    differences = torch.empty_like(a)
    for i in range(4):
        for j in range(4):
            step = torch.zeros_like(a)
            step[i, j] = h
            plus, minus = (exact_loss_and_gradient(a + sign * step, x0, target, 1.5)[0] for sign in (1, -1))
            differences[i, j] = (plus - minus) / (2 * h)
    assert torch.allclose(gradient, differences, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("method, order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
@pytest.mark.parametrize("strategy", ["backprop", "jvp"])
def test_linear_ode_gradient_error_falls_at_the_solver_order(build, strategy, method, order):
    """The exact gradient of the discrete solution converges to the continuous one at the method's order."""
    errors = [rel_error(configured(strategy).gradient(build("linear-ode", steps=steps, method=method, n=4)),
                        build("linear-ode", n=4).reference) for steps in (20, 40)]
    assert errors[0] / errors[1] == pytest.approx(2 ** order, rel=0.15)


def test_linear_ode_info_reports_the_discrete_floor(build):
    instance = build("linear-ode", steps=20, n=4)
    backprop = rel_error(configured("backprop").gradient(instance), instance.reference)
    assert instance.info["discrete grad rel. error"] == pytest.approx(backprop, rel=1e-6)
    assert 0 < instance.info["x_T rel. error"] < 1e-5


@pytest.mark.parametrize("params", [{"method": "rk4", "steps": 10}, {"method": "euler", "steps": 7},
                                    {"method": "rk4", "steps": 10, "running_cost": True},
                                    {"method": "dopri5", "rtol": 1e-6, "atol": 1e-6}],
                         ids=["rk4", "euler", "running-cost", "dopri5"])
def test_neural_ode_backprop_matches_forward_mode_to_1e_10(build, params):
    """Both are the exact derivative of the same discrete solution (dopri5: via dual numbers, its
    accepted steps held fixed), so they agree far below the discretisation error."""
    instance = build("neural-ode", **SMALL["neural-ode"], **params)
    backprop = configured("backprop").gradient(instance)
    forward = configured("jvp").gradient(instance)
    assert rel_error(forward, backprop.double()) < 1e-10
    assert rel_error(backprop, instance.reference) > 1e-9  # a coarse solve: not the reference itself


def test_neural_ode_running_cost_adds_the_integral(build):
    """With L(x) = mean(x^2) the cost integral is checked against the trapezoid rule on a fine grid."""
    from dataclasses import replace

    plain = build("neural-ode", **SMALL["neural-ode"], steps=400)
    with_cost = build("neural-ode", **SMALL["neural-ode"], steps=400, running_cost=True)
    every_step = replace(plain.ode, times=tuple(k / 400 for k in range(401)))
    values = every_step.trajectory(plain.x).pow(2).mean(dim=(1, 2))
    trapezoid = float((values[1:] + values[:-1]).sum() / 2 / 400)
    difference = float(with_cost.loss(with_cost.x) - plain.loss(plain.x))
    assert difference == pytest.approx(trapezoid, rel=1e-5)


@pytest.mark.parametrize("problem", ODE_PROBLEMS)
def test_checkpoint_equals_backprop_and_recomputes_each_evaluation_once(build, problem):
    instance = build(problem, **SMALL[problem], steps=50)
    backprop = configured("backprop").gradient(instance)
    assert dict(instance.counters)["nfe_bwd"] == 0
    forward_calls = instance.counters["nfe_fwd"]
    instance.counters.clear()
    checkpointed = configured("checkpoint").gradient(instance)
    assert torch.allclose(checkpointed, backprop, rtol=1e-13, atol=1e-15)
    assert instance.counters["nfe_fwd"] == forward_calls == instance.counters["steps_accepted"] * 4
    assert instance.counters["nfe_bwd"] == forward_calls  # counted as the calls happen, not assumed


def test_lotka_volterra_strategies_converge_to_the_reference(build):
    coarse, fine = build("lotka-volterra", steps=200), build("lotka-volterra", steps=1600)
    errors = [rel_error(configured("backprop").gradient(instance), instance.reference) for instance in (coarse, fine)]
    assert errors[1] < 1e-7 and errors[0] / errors[1] > 8 ** 4 / 2  # rk4: 8x the steps, ~8^4 less error
    assert rel_error(configured("jvp").gradient(coarse), configured("backprop").gradient(coarse).double()) < 1e-12
    assert coarse.x.numel() == 4 and len(coarse.ode.times) == 11


def _peak(strategy, instance):
    return peak_bytes(lambda: configured(strategy).gradient(instance), CPU)


def test_backprop_memory_grows_linearly_in_steps_checkpoint_about_as_the_root(build):
    """10x the steps: backprop keeps every stage (about 10x), checkpoint sqrt(N) states plus one
    segment (about sqrt(10) = 3.2x)."""
    short, long = build("neural-ode", steps=10), build("neural-ode", steps=100)  # measured: 9.5x, 3.0x
    backprop_ratio = _peak("backprop", long) / _peak("backprop", short)
    checkpoint_ratio = _peak("checkpoint", long) / _peak("checkpoint", short)
    assert 8 < backprop_ratio < 11
    assert 2 < checkpoint_ratio < 4.5
    assert _peak("checkpoint", long) < _peak("backprop", long) / 4


def test_backprop_estimate_is_close_to_what_autograd_saves(build):
    from gradcmp.measure import call_with_saved_bytes

    instance = build("neural-ode", steps=30)
    _, saved = call_with_saved_bytes(lambda: configured("backprop").gradient(instance))
    assert configured("backprop").estimated_bytes(instance) == pytest.approx(saved, rel=0.25)


def invoke(*args):
    return CliRunner().invoke(main, ["run", *args, "--min-run-time", "0.005", "--threads", "1"])


@pytest.mark.parametrize("param, message", [
    ("steps=0", "steps must be >= 1, got 0"),
    ("method=rk5", "method must be one of euler, midpoint, rk4, dopri5, tsit5, sdirk3, reversible_heun, got 'rk5'"),
    ("rtol=0", "rtol must be > 0, got 0.0"),
    ("atol=-1e-9", "atol must be > 0, got -1e-09"),
    ("T=0", "T must be > 0, got 0.0"),
])
@pytest.mark.parametrize("problem", ODE_PROBLEMS)
def test_bad_solver_settings_exit_2_with_one_line(problem, param, message):
    result = invoke("-p", problem, "--param", param)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_dopri5_over_max_steps_is_a_failed_row_and_exit_1():
    result = invoke("-p", "neural-ode", "-s", "backprop", "-s", "jvp", "--param", "method=dopri5",
                    "--param", "max_steps=3", "--param", "hidden=8")
    assert result.exit_code == 1
    assert result.output.count("failed: dopri5 reached max_steps=3") == 2


def test_ode_table_shows_nfe_columns_and_checkpoint_binomial_skip_for_dopri5():
    result = invoke("-p", "linear-ode", "-s", "backprop", "-s", "checkpoint(schedule=binomial)", "--param",
                    "method=dopri5")
    assert result.exit_code == 0, result.output
    assert "nfe_fwd" in result.output and "steps_rejected" in result.output
    assert ("not applicable to linear-ode: checkpoint(schedule=binomial) (needs a fixed-step solver; method dopri5 "
            "chooses its steps while solving") in " ".join(result.output.split())
