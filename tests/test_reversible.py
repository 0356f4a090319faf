"""The reversible strategy: backprop's gradient of the same reversible solve, at memory flat in steps."""
import pytest
import torch

from gradcmp.measure import peak_bytes
from gradcmp.ode.reversible import reversible_solve
from gradcmp.strategies import STRATEGIES

SMALL = {"dim": 2, "hidden": 6, "batch": 3}


def _backprop_through_pair(instance):
    system = instance.ode
    theta = instance.x.detach().requires_grad_(True)
    (theta_bar,) = torch.autograd.grad(system.loss_of_trajectory(reversible_solve(system, theta)), theta)
    return theta_bar


@pytest.mark.parametrize("params", [
    {"method": "midpoint", "steps": 40},
    {"method": "rk4", "steps": 24, "obs": 3, "coupling": 0.9},
    {"method": "euler", "steps": 30, "running_cost": True, "coupling": 1.0},
])
def test_reversible_equals_backprop_through_the_same_solve(build, params):
    instance = build("neural-ode", **SMALL, **params)
    exact = _backprop_through_pair(instance)
    instance.counters.clear()
    theta_bar = STRATEGIES["reversible"].gradient(instance)
    assert torch.allclose(theta_bar, exact, rtol=1e-12, atol=1e-14)
    from gradcmp.ode import SOLVERS

    stages, steps = SOLVERS[params["method"]].stages, params["steps"]
    assert dict(instance.counters) == {"nfe_fwd": 2 * stages * steps, "steps_accepted": steps,
                                       "nfe_bwd": 4 * stages * steps}  # two base steps forward, four back


def test_reversible_converges_to_the_reference_at_the_base_order(build):
    """midpoint inside the pair: 4x the steps, about 16x less error against the continuous gradient."""
    errors = []
    for steps in (20, 80):
        instance = build("neural-ode", **SMALL, method="midpoint", steps=steps)
        theta_bar = STRATEGIES["reversible"].gradient(instance)
        errors.append(float((theta_bar - instance.reference).norm() / instance.reference.norm()))
    assert 8 < errors[0] / errors[1] < 32


def _peak(build, strategy, steps):
    instance = build("neural-ode", dim=2, hidden=4, batch=2, method="euler", steps=steps)
    return peak_bytes(lambda: STRATEGIES[strategy].gradient(instance), torch.device("cpu"))


def test_reversible_memory_is_flat_in_steps_while_backprop_grows(build):
    assert _peak(build, "reversible", 200) <= 1.1 * _peak(build, "reversible", 20)
    assert _peak(build, "backprop", 200) > 5 * _peak(build, "backprop", 20)


@pytest.mark.slow
def test_reversible_memory_is_flat_from_100_to_10000_steps(build):
    assert _peak(build, "reversible", 10_000) <= 1.1 * _peak(build, "reversible", 100)
