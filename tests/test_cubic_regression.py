"""McCallum & Foster's cubic regression: the data, the backprop reference, and the paper's ordering."""
import torch

from gradcmp.strategies import strategy as configured


def _distance(build, strategy, **params):
    instance = build("cubic-regression", points=50, **params)
    gradient = configured(strategy).gradient(instance)
    return float((gradient - instance.reference).norm() / instance.reference.norm()), instance


def test_data_and_reference_are_backprop_through_the_same_solve(build):
    distance, instance = _distance(build, "backprop")
    assert distance == 0.0  # the same float64 computation
    x0 = instance.ode.x0
    assert x0.shape == (50, 1) and float(x0[0]) == -2.0 and float(x0[-1]) == 2.0
    assert instance.x.numel() == 3 * 50 + 1  # W1, b1, W2 (1 x 50 each), b2
    states = instance.ode.trajectory(instance.x)
    assert torch.allclose(instance.loss(instance.x), (states[1] - (x0 ** 3 + x0)).pow(2).mean())


def test_reversible_is_closer_to_backprop_than_the_backsolve_adjoint(build):
    """The paper's finding at T = 1 (midpoint, h = 0.01): reversible 7e-10, backsolve 2e-6 (ours: about
    5e-8 and 2e-6 relative)."""
    reversible, _ = _distance(build, "reversible")
    backsolve, _ = _distance(build, "adjoint")
    assert reversible < backsolve / 10
