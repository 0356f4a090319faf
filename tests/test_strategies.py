"""Every strategy on every problem it applies to, against the analytic float64 reference."""
import pytest
import torch

from gradcmp.measure import gradient_errors
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import STRATEGIES

# Small configurations per problem (a few sizes each) and the float64 bound every exact strategy meets.
CASES = {
    "inv-norm": [{"size": 3}, {"size": 8}, {"size": 16}],
    "sin-wy": [{"size": 8}, {"size": 12, "m": 5}, {"size": 3, "m": 20}],
    # ODE problems: grids fine enough that rk4's discretisation error sits below the bounds
    "linear-ode": [{"steps": 400, "n": 3, "batch": 2}],
    "neural-ode": [{"steps": 100, "dim": 2, "hidden": 8, "batch": 4}],
}
# Finite differences carry truncation and rounding error of order eps^(2/3).
TOLERANCE_64 = {"finite-diff": 1e-5}
TOLERANCE_32 = {"finite-diff": 5e-2}


def applicable_pairs():
    for problem_name, configurations in CASES.items():
        for strategy in STRATEGIES.values():
            if strategy.unavailable() or strategy.applies_to(PROBLEMS[problem_name]):
                continue
            for params in configurations:
                yield pytest.param(strategy.name, problem_name, params, id=f"{strategy.name}-{problem_name}-{params}")


@pytest.mark.parametrize("strategy_name, problem_name, params", list(applicable_pairs()))
def test_float64_gradient_matches_the_analytic_reference(build, strategy_name, problem_name, params):
    instance = build(problem_name, **params)
    gradient = STRATEGIES[strategy_name].gradient(instance)
    assert gradient.shape == instance.x.shape
    rel_error, _ = gradient_errors(gradient, instance.reference)
    assert rel_error < TOLERANCE_64.get(strategy_name, 1e-8)


@pytest.mark.parametrize("strategy_name, problem_name, params", list(applicable_pairs()))
def test_float32_gradient_is_within_single_precision(build, strategy_name, problem_name, params):
    instance = build(problem_name, dtype=torch.float32, **params)
    gradient = STRATEGIES[strategy_name].gradient(instance)
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
    rel_error, _ = gradient_errors(STRATEGIES["jvp"].gradient(instance), instance.reference)
    assert rel_error < 1e-10


def test_jacobian_strategy_multiplies_materialised_jacobians(build):
    """It really forms an n^2 x n^2 Jacobian for inv-norm: the memory figure theory predicts."""
    from gradcmp.measure import peak_bytes

    instance = build("inv-norm", size=12)
    peak = peak_bytes(lambda: STRATEGIES["jacobian"].gradient(instance), torch.device("cpu"))
    assert peak >= 12 ** 4 * 8
