"""torchdiffeq as peer strategies: the same discrete gradient as gradcmp's on the same grid, and a clear
message (never a traceback) when the optional extra is not installed."""
import importlib.util

import pytest
from click.testing import CliRunner
from rich.console import Console

from gradcmp.cli import main
from gradcmp.problems import PROBLEMS
from gradcmp.report.table import list_tables
from gradcmp.strategies import select_strategies
from gradcmp.strategies import STRATEGIES, strategy as configured

PEERS = ("torchdiffeq", "torchdiffeq(adjoint=true)")
ODE_PROBLEMS = [name for name, problem in PROBLEMS.items() if "ode" in problem.provides]
MISSING = "torchdiffeq is not installed; pip install -e '.[peers]' (or pip install torchdiffeq)"


@pytest.fixture
def without_torchdiffeq(monkeypatch):
    """An installation where torchdiffeq cannot be found."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torchdiffeq" else find_spec(name, *args))


@pytest.mark.parametrize("name", PEERS)
def test_peer_without_the_extra_says_how_to_install_it(without_torchdiffeq, name):
    assert configured(name).unavailable() == MISSING


def test_list_marks_the_peers_unavailable_with_the_install_command(without_torchdiffeq):
    console = Console(width=400, record=True)
    console.print(list_tables(PROBLEMS, STRATEGIES))
    rows = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if line.count("│") == 4}
    assert f"[unavailable: {MISSING}]" in rows["torchdiffeq"]  # one family, both entry points
    assert "unavailable" not in rows["backprop"]
    assert CliRunner().invoke(main, ["list"]).exit_code == 0


@pytest.mark.parametrize("name", PEERS)
def test_run_naming_a_peer_without_the_extra_exits_2_saying_so(without_torchdiffeq, name):
    result = CliRunner().invoke(main, ["run", "-p", "neural-ode", "-s", name])
    assert result.exit_code == 2
    assert f"strategy {name} cannot run on neural-ode: {MISSING}" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_run_of_every_strategy_without_the_extra_skips_the_peers_with_the_reason(without_torchdiffeq):
    reasons = {strategy.label: reason for strategy, reason in select_strategies(PROBLEMS["neural-ode"], None)}
    assert all(reasons[name] == MISSING for name in PEERS)
    assert reasons["backprop"] is None


@pytest.fixture
def torchdiffeq():
    return pytest.importorskip("torchdiffeq")


def _gradient(strategy, instance):
    instance.counters.clear()
    gradient = configured(strategy).gradient(instance)  # a spelling, or a value as it is
    return gradient, dict(instance.counters)


def _relative(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
@pytest.mark.parametrize("problem", ODE_PROBLEMS)
def test_torchdiffeq_backprop_is_gradcmp_backprop_on_the_same_grid(torchdiffeq, build, problem, method):
    instance = build(problem, method=method)
    ours, our_counts = _gradient("backprop", instance)
    theirs, their_counts = _gradient("torchdiffeq", instance)
    assert _relative(theirs, ours) < 1e-10
    assert their_counts == our_counts  # nfe_fwd, steps_accepted, and nfe_bwd = 0


def test_running_cost_is_part_of_the_peer_loss(torchdiffeq, build):
    instance = build("neural-ode", steps=40, running_cost=True)
    ours, _ = _gradient("backprop", instance)
    theirs, _ = _gradient("torchdiffeq", instance)
    assert _relative(theirs, ours) < 1e-10
    assert _relative(theirs, build("neural-ode", steps=40).reference) > 1e-3  # the cost changed the gradient


@pytest.mark.parametrize("name", PEERS)
def test_peer_dopri5_gradient_within_its_tolerance_of_the_reference(torchdiffeq, build, name):
    instance = build("neural-ode", method="dopri5", rtol=1e-8, atol=1e-8)
    gradient, counts = _gradient(name, instance)
    assert _relative(gradient, instance.reference) < 1e-6
    assert counts["steps_accepted"] > 0 and counts["nfe_fwd"] >= 6 * counts["steps_accepted"]


def test_torchdiffeq_adjoint_backward_costs_one_solve_of_the_augmented_system(torchdiffeq, build):
    instance = build("lotka-volterra", steps=50, method="rk4")
    _, counts = _gradient("torchdiffeq(adjoint=true)", instance)
    assert counts["nfe_fwd"] == counts["nfe_bwd"] == 4 * 50


# Backsolve refuses the stiff ones, stiff-linear and brusselator at its defaults (x unstable backwards), and
# euler's coarse default grids (x drifts).
@pytest.mark.parametrize("method", ["midpoint", "rk4"])
@pytest.mark.parametrize("problem", [name for name in ODE_PROBLEMS if name not in ("stiff-linear", "brusselator")])
def test_torchdiffeq_adjoint_is_gradcmp_adjoint_on_the_same_grid(torchdiffeq, build, problem, method):
    instance = build(problem, method=method)
    ours, our_counts = _gradient("adjoint", instance)
    theirs, their_counts = _gradient("torchdiffeq(adjoint=true)", instance)
    assert _relative(theirs, ours) < 1e-10
    assert their_counts == our_counts  # nfe and steps, forward and backward


@pytest.mark.parametrize("seminorm", [False, True])
def test_torchdiffeq_adjoint_takes_the_backward_tolerances_and_seminorm(torchdiffeq, build, seminorm):
    """Tighter backward tolerances cost the peer more backward steps and buy it a better gradient, as
    they do gradcmp's adjoint; seminorm never costs it more."""
    loose = build("neural-ode", method="dopri5")
    tight = build("neural-ode", method="dopri5")
    backward = {"rtol": 1e-10, "atol": 1e-10}
    loose_gradient, loose_counts = _gradient(configured("torchdiffeq(adjoint=true)", seminorm=seminorm), loose)
    tight_gradient, tight_counts = _gradient(configured("torchdiffeq(adjoint=true)", seminorm=seminorm, **backward), tight)
    assert tight_counts["nfe_fwd"] == loose_counts["nfe_fwd"]
    assert tight_counts["nfe_bwd"] > loose_counts["nfe_bwd"]
    assert _relative(tight_gradient, tight.reference) < _relative(loose_gradient, loose.reference)
    full_norm = build("neural-ode", method="dopri5")
    assert tight_counts["nfe_bwd"] <= _gradient(configured("torchdiffeq(adjoint=true)", **backward), full_norm)[1]["nfe_bwd"]


def test_torchdiffeq_adjoint_saved_bytes_flat_in_steps(torchdiffeq, build):
    """What the peer's forward keeps for backward is the observed states and theta, whatever the steps
    (its backward's one-evaluation VJP graphs are transient and not counted, as for gradcmp's adjoint)."""
    from gradcmp.measure import call_with_saved_bytes

    saved = [call_with_saved_bytes(lambda: configured("torchdiffeq(adjoint=true)").gradient(instance))[1]
             for instance in (build("neural-ode", steps=10), build("neural-ode", steps=100))]
    assert saved[0] == saved[1] > 0


def test_torchdiffeq_adjoint_peak_memory_flat_in_steps(torchdiffeq, build):
    """Its backward's per-step VJP graphs are freed as it goes (no reference cycle keeps them to the end)."""
    import torch

    from gradcmp.measure import peak_bytes

    peaks = [peak_bytes(lambda: configured("torchdiffeq(adjoint=true)").gradient(instance), torch.device("cpu"))
             for instance in (build("neural-ode", steps=10), build("neural-ode", steps=50))]
    assert peaks[1] < 1.2 * peaks[0]


def test_torchdiffeq_adjoint_is_silently_wrong_where_gradcmp_adjoint_refuses(torchdiffeq, build):
    """On stiff-linear x is unstable backwards: gradcmp's backsolve fails with the reason, torchdiffeq's
    (which has no drift check) hands back a gradient that is off by orders of magnitude."""
    from gradcmp.ode import OdeError

    instance = build("stiff-linear")
    with pytest.raises(OdeError, match="backsolve lost x"):
        configured("adjoint").gradient(instance)
    theirs, _ = _gradient("torchdiffeq(adjoint=true)", instance)
    assert _relative(theirs, instance.reference) > 1
