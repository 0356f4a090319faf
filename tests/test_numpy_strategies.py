"""numpy-vjp and numpy-jvp: the engine's gradients on every problem with a numpy twin, and their memory."""
import numpy as np
import pytest
import torch

from gradcmp.config import Budget
from gradcmp.measure import measure_strategy, peak_bytes
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import STRATEGIES, strategy as configured, Skip

NUMPY_STRATEGIES = [name for name, family in STRATEGIES.items() if "numpy" in family.needs]
NUMPY_PROBLEMS = [name for name, problem in PROBLEMS.items() if "numpy" in problem.provides]
CPU = torch.device("cpu")


def test_both_strategies_and_three_problems_are_registered():
    assert set(NUMPY_STRATEGIES) == {"numpy-vjp", "numpy-jvp"}
    assert {"inv-norm", "sin-wy", "mlp"} <= set(NUMPY_PROBLEMS)


@pytest.mark.parametrize("problem", NUMPY_PROBLEMS)
def test_the_numpy_twin_is_the_same_loss(small_instance, problem):
    instance = small_instance(problem)
    assert float(instance.numpy_loss(instance.numpy_x)) == pytest.approx(float(instance.loss(instance.x)),
                                                                          rel=1e-14)


@pytest.mark.parametrize("strategy", NUMPY_STRATEGIES)
@pytest.mark.parametrize("problem", NUMPY_PROBLEMS)
def test_numpy_gradient_matches_the_reference_in_float64(small_instance, strategy, problem):
    instance = small_instance(problem)
    gradient = configured(strategy).gradient(instance)
    assert gradient.dtype == torch.float64 and gradient.shape == instance.x.shape
    assert float((gradient - instance.reference).norm() / instance.reference.norm()) < 1e-12


@pytest.mark.parametrize("strategy", NUMPY_STRATEGIES)
def test_numpy_strategies_compute_in_the_runs_dtype(small_instance, strategy):
    instance = small_instance("inv-norm", torch.float32)
    gradient = configured(strategy).gradient(instance)
    assert gradient.dtype == torch.float32
    error = float((gradient.double() - instance.reference).norm() / instance.reference.norm())
    assert 1e-9 < error < 1e-5  # float32 rounding: well above float64's, well below a wrong answer


def test_numpy_jvp_is_skipped_over_the_time_budget_with_the_count_of_jvps(small_instance):
    instance = small_instance("inv-norm")
    with pytest.raises(Skip, match=rf"{instance.x.numel()} JVPs would take about .*, over the time budget .* \(--max-time to change\)"):
        configured("numpy-jvp").check_budget(instance, Budget(max_bytes=2 ** 40, max_seconds=1e-9))


def test_numpy_peak_memory_counts_a_known_allocation():
    nbytes = 8 * 10 ** 6
    assert nbytes <= peak_bytes(lambda: np.ones(nbytes // 8), CPU, numpy=True) < nbytes + 64 * 1024


@pytest.mark.parametrize("strategy, n, matrices", [("numpy-vjp", 64, 16), ("numpy-jvp", 32, 32)])
def test_numpy_peak_memory_is_a_few_matrices_never_the_jacobian(strategy, n, matrices):
    """inv-norm: the tape holds X^-1 and backward makes a few n x n cotangents; forward mode holds one
    pass's values and tangents at a time, whatever the number of directions. The Jacobian dY/dX alone
    would be n^2 matrices (1024 at n = 32)."""
    instance = PROBLEMS["inv-norm"].build({"size": n}, torch.float64, CPU, 0)
    peak = peak_bytes(lambda: configured(strategy).gradient(instance), CPU, numpy=True)
    matrix = 8 * n * n
    assert 2 * matrix <= peak <= matrices * matrix


@pytest.mark.parametrize("strategy", NUMPY_STRATEGIES)
def test_measure_reports_numpy_strategies_with_their_traced_peak(small_instance, strategy):
    instance = small_instance("inv-norm")
    row = measure_strategy(configured(strategy), instance, Budget(max_bytes=2 ** 40), threads=1,
                           min_run_time=0.01, primal_time=1e-3)
    assert row.status == "ok" and row.rel_error < 1e-12
    assert row.peak_bytes >= instance.x.numel() * 8  # at least the gradient itself
