"""diffrax (JAX) as peer strategies: on gradcmp's grid, the same discrete gradient as gradcmp's backprop
(DirectAdjoint, RecursiveCheckpointAdjoint) or adjoint (BacksolveAdjoint) to rounding, with compile time
and XLA's memory figure reported apart; a clear message when the optional extra is not installed."""
import importlib.util

import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.config import Budget
from gradcmp.measure import measure_strategy
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import STRATEGIES, strategy as configured

# JAX compiles afresh in each test (seconds each): slow, run by CI's second pass (`pytest -m slow`).
pytestmark = pytest.mark.slow

PEERS = {"diffrax(adjoint=direct)": "backprop", "diffrax": "backprop", "diffrax(adjoint=backsolve)": "adjoint"}
ODE_PROBLEMS = [name for name, problem in PROBLEMS.items() if "ode" in problem.provides]
MISSING = "jax and diffrax and equinox are not installed; pip install -e '.[jax]' (or pip install jax jaxlib diffrax equinox)"
# small cases, rk4 on a grid whose steps the backsolve can take backwards (stiff-linear made mild)
SMALL = {"neural-ode": {"batch": 3, "hidden": 5, "obs": 2, "steps": 6},
         "linear-ode": {"n": 3, "steps": 5},
         "lotka-volterra": {"T": 1.0, "obs": 2, "steps": 8},
         "stiff-linear": {"n": 3, "stiffness": 2.0, "steps": 8},
         "brusselator": {"n": 3, "alpha": 0.1, "T": 0.1, "obs": 1, "steps": 10},  # mild, as in smoke
         "cubic-regression": {"points": 4, "hidden": 3, "steps": 6}}


def instance(problem, **params):
    values = {param.name: param.default for param in PROBLEMS[problem].params}
    values.update(SMALL[problem], **params)
    return PROBLEMS[problem].build(values, torch.float64, torch.device("cpu"), 0)


def relative(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture
def without_jax(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name in (
        "jax", "diffrax", "equinox") else find_spec(name, *args))


@pytest.mark.parametrize("name", PEERS)
def test_peer_without_the_extra_exits_2_saying_how_to_install_it(without_jax, name):
    assert configured(name).unavailable() == MISSING
    result = CliRunner().invoke(main, ["run", "-p", "neural-ode", "-s", name])
    assert result.exit_code == 2
    assert f"strategy {name} cannot run on neural-ode: {MISSING}" in " ".join(result.output.split())


def test_every_ode_problem_has_a_jax_twin():
    assert ODE_PROBLEMS == list(SMALL)
    assert all(instance(problem).ode.jax is not None for problem in ODE_PROBLEMS)


@pytest.fixture
def jax():
    return pytest.importorskip("diffrax") and pytest.importorskip("jax")


@pytest.mark.parametrize("problem", ODE_PROBLEMS)
@pytest.mark.parametrize("name", PEERS)
def test_peer_agrees_with_gradcmp_to_rounding(jax, problem, name):
    case = instance(problem)
    peer = configured(name).gradient(case)
    assert case.counters["steps_accepted"] == SMALL[problem]["steps"]
    gradcmp = configured(PEERS[name]).gradient(case)
    assert peer.dtype == torch.float64 and peer.shape == case.x.shape
    assert relative(peer, gradcmp) < 1e-12
    if problem != "cubic-regression":  # its reference is backprop through the same solve
        assert relative(peer, case.reference) > 1e-9  # a coarse grid: the agreement is the discrete gradient's


@pytest.mark.parametrize("method, running_cost", [("euler", True), ("midpoint", False), ("reversible_heun", True)])
def test_euler_midpoint_and_reversible_heun_agree_with_backprop_running_cost_included(jax, method, running_cost):
    case = instance("neural-ode", method=method, running_cost=running_cost)
    assert relative(configured("diffrax").gradient(case),
                    configured("backprop").gradient(case)) < 1e-12


def test_dopri5_agrees_within_its_tolerance_and_counts_rejections(jax):
    """Not step for step (diffrax chooses its own first step), so not to rounding."""
    case = instance("neural-ode", method="dopri5", rtol=1e-8, atol=1e-10)
    peer = configured("diffrax(adjoint=backsolve)").gradient(case)
    assert {"steps_accepted", "steps_rejected"} <= set(case.counters)
    assert relative(peer, configured("adjoint").gradient(case)) < 1e-6


def test_row_reports_compile_time_and_xla_memory_apart_from_the_time(jax):
    case = instance("linear-ode")
    row = measure_strategy(configured("diffrax"), case, Budget(2 ** 30, 60), 1, 0.01, None)
    assert row.status == "ok", row.reason
    assert row.compile_s > 0 and row.time_s > 0
    # XLA's buffers: at least the argument (A, 3 x 3) and the output (its gradient), in float64
    assert row.peak_bytes >= 2 * 9 * 8
    assert row.rel_error < 1e-3 and row.stats["steps_accepted"] == 5
