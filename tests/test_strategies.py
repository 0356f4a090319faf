"""Every registered strategy on every registered problem it applies to, against the float64 reference.

The pairs come from the registries (every configuration a run can make, the compiled ones included) and
each problem's own test_params, so a strategy or problem is tested the moment it is registered.
"""
import re

import pytest
import torch

from gradcmp.measure import gradient_errors
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import STRATEGIES, Strategy, configurations, representative, strategy as configured

# Finite differences carry truncation and rounding error of order eps^(2/3); every other strategy is
# exact up to rounding (and, on ODE problems, the solver's error, which test_params keep below 1e-9).
TOLERANCE_64 = {"finite-diff": 1e-5}
TOLERANCE_32 = {"finite-diff": 5e-2}


def applicable_pairs(compiled: bool = True):
    """(strategy, problem) for every configuration and problem that apply; one that compiles (a JIT peer, a
    compiled form: it reports its own compile figures) compiles afresh in every test, seconds to minutes
    each, so its pairs are marked slow (CI runs them). compiled=False leaves the compiled forms out."""
    for problem in PROBLEMS.values():
        for strategy in configurations(compile=compiled):
            if strategy.applies_to(problem) is None:
                compiles = type(strategy).own_measurements is not Strategy.own_measurements
                yield pytest.param(strategy.label, problem.name, id=f"{strategy.label}-{problem.name}",
                                   marks=[pytest.mark.slow] if compiles else [])


def gradient_of(strategy_name, instance, problem_name):
    strategy = configured(strategy_name)
    reason = strategy.unavailable() or strategy.applies_to(PROBLEMS[problem_name], instance)
    if reason:  # an extra not installed, or a need only the built instance tells (a fixed-step method)
        pytest.skip(reason)
    return strategy.gradient(instance)


@pytest.mark.parametrize("strategy_name, problem_name", list(applicable_pairs()))
def test_float64_gradient_matches_the_reference(small_instance, strategy_name, problem_name, monkeypatch):
    from gradcmp.strategies import compiled_adjoint, compiled_sweep

    for module in (compiled_sweep, compiled_adjoint):  # compiled forms: chunks of 2 steps, small graphs to compile
        monkeypatch.setattr(module, "CHUNK", 2)
    instance = small_instance(problem_name)
    gradient = gradient_of(strategy_name, instance, problem_name)
    assert gradient.shape == instance.x.shape
    rel_error, _ = gradient_errors(gradient, instance.reference)
    assert rel_error < TOLERANCE_64.get(strategy_name, 1e-8)


@pytest.mark.parametrize("strategy_name, problem_name", list(applicable_pairs(compiled=False)))
def test_float32_gradient_is_within_single_precision(small_instance, strategy_name, problem_name):
    instance = small_instance(problem_name, torch.float32)
    gradient = gradient_of(strategy_name, instance, problem_name)
    assert gradient.dtype == torch.float32
    rel_error, _ = gradient_errors(gradient, instance.reference)
    assert rel_error < TOLERANCE_32.get(strategy_name, 1e-4)


def test_directional_derivative_by_finite_difference_matches_jvp(build):
    """Seed 2's check: (z(X + hV) - z(X - hV)) / 2h equals the JVP along a random V."""
    instance = build("inv-norm", size=10)
    direction = torch.randn(instance.x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    _, x_dot_z = torch.func.jvp(instance.loss, (instance.x,), (direction,))
    h = 1e-5
    finite = (instance.loss(instance.x + h * direction) - instance.loss(instance.x - h * direction)) / (2 * h)
    assert torch.isclose(finite, x_dot_z, rtol=1e-8)
    assert torch.isclose(x_dot_z, (instance.reference * direction).sum(), rtol=1e-10)


def test_jvp_chunks_cover_every_direction(build, monkeypatch):
    """With chunks smaller than the input, the gradient is still complete and exact."""
    import gradcmp.strategies.jvp as jvp_module

    monkeypatch.setattr(jvp_module, "CHUNK_ENTRIES", 7 * 64)  # 7 directions per chunk for 64 inputs
    instance = build("inv-norm", size=8)
    rel_error, _ = gradient_errors(configured("jvp").gradient(instance), instance.reference)
    assert rel_error < 1e-10


def test_jacobian_strategy_multiplies_materialised_jacobians(build):
    """It really forms an n^2 x n^2 Jacobian for inv-norm: the memory figure theory predicts."""
    from gradcmp.measure import peak_bytes

    instance = build("inv-norm", size=12)
    peak = peak_bytes(lambda: configured("jacobian").gradient(instance), torch.device("cpu"))
    assert peak >= 12 ** 4 * 8


INTERNAL_NAMES = re.compile(r"gradcmp\.|Instance|Problem\b|Strategy\b|[A-Za-z]+Error\b")


@pytest.mark.parametrize("strategy_name", list(STRATEGIES))
def test_descriptions_and_reasons_never_name_gradcmps_modules_or_classes(strategy_name):
    strategy = representative(STRATEGIES[strategy_name])
    texts = [strategy.description, strategy.unavailable() or ""]
    texts += [option.help for option in strategy.options]
    texts += [strategy.applies_to(problem) or "" for problem in PROBLEMS.values()]
    for text in texts:
        assert not INTERNAL_NAMES.search(text), text


def test_inapplicable_reasons_say_what_the_problem_lacks():
    reasons = {strategy.label: strategy.applies_to(PROBLEMS["inv-norm"]) for strategy in configurations(True)}
    assert reasons["backprop"] == "needs an ODE problem"
    assert reasons["vjp"] is None
    assert configured("jacobian").applies_to(PROBLEMS["mlp"]) == "needs a problem written as a chain of maps " \
                                                                 "(x -> y -> ... -> loss)"
