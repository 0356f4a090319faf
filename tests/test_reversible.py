"""The reversible strategy: backprop's gradient of the same reversible solve, at memory flat in steps."""
import pytest
import torch

from gradcmp.measure import peak_bytes
from gradcmp.ode.reversible import reversible_solve
from gradcmp.strategies import strategy as configured

SMALL = {"dim": 2, "hidden": 6, "batch": 3}


def _backprop_through_pair(instance, strategy):
    system = strategy.system(instance)  # the coupling is the strategy's
    theta = instance.x.detach().requires_grad_(True)
    (theta_bar,) = torch.autograd.grad(system.loss_of_trajectory(reversible_solve(system, theta)), theta)
    return theta_bar


@pytest.mark.parametrize("params, coupling", [
    ({"method": "midpoint", "steps": 40}, 0.999),
    ({"method": "rk4", "steps": 24, "obs": 3}, 0.9),
    ({"method": "euler", "steps": 30, "running_cost": True}, 1.0),
])
def test_reversible_equals_backprop_through_the_same_solve(build, params, coupling):
    instance = build("neural-ode", **SMALL, **params)
    value = configured("reversible", coupling=coupling)
    exact = _backprop_through_pair(instance, value)
    instance.counters.clear()
    theta_bar = value.gradient(instance)
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
        theta_bar = configured("reversible").gradient(instance)
        errors.append(float((theta_bar - instance.reference).norm() / instance.reference.norm()))
    assert 8 < errors[0] / errors[1] < 32


def _peak(build, strategy, steps):
    instance = build("neural-ode", dim=2, hidden=4, batch=2, method="euler", steps=steps)
    return peak_bytes(lambda: configured(strategy).gradient(instance), torch.device("cpu"))


def test_reversible_memory_is_flat_in_steps_while_backprop_grows(build):
    assert _peak(build, "reversible", 200) <= 1.1 * _peak(build, "reversible", 20)
    assert _peak(build, "backprop", 200) > 5 * _peak(build, "backprop", 20)


@pytest.mark.slow
def test_reversible_memory_is_flat_from_100_to_10000_steps(build):
    assert _peak(build, "reversible", 10_000) <= 1.1 * _peak(build, "reversible", 100)


def _reversible_heun_step(f, t, dt, y, z, f_z):
    """Kidger et al. 2021, eq. for one step, written out independently of gradcmp.ode.reversible_heun."""
    z_next = 2 * y - z + f_z * dt
    f_next = f(t + dt, z_next)
    return y + (f_z + f_next) * dt / 2, z_next, f_next


def test_reversible_heun_solves_as_the_paper_writes_it_and_converges_at_order_two():
    from gradcmp.ode import odeint

    f = lambda t, x: -x + torch.sin(t * torch.ones_like(x))  # noqa: E731
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    y, z, f_z = x0, x0, f(0.0, x0)
    for i in range(10):
        y, z, f_z = _reversible_heun_step(f, 0.1 * i, 0.1, y, z, f_z)
    states, stats = odeint(f, x0, [0.0, 1.0], "reversible_heun", steps=10)
    assert torch.allclose(states[-1], y, rtol=1e-15, atol=0)
    assert (stats.nfe, stats.accepted) == (11, 10)  # one evaluation a step, one to start
    exact, _ = odeint(f, x0, [0.0, 1.0], "dopri5", rtol=1e-12, atol=1e-12)
    errors = [float((odeint(f, x0, [0.0, 1.0], "reversible_heun", steps=n)[0][-1] - exact[-1]).norm())
              for n in (20, 80)]
    assert 8 < errors[0] / errors[1] < 32


@pytest.mark.parametrize("params", [{"steps": 40}, {"steps": 24, "obs": 3, "running_cost": True}])
def test_reversible_heun_rebuilt_backwards_equals_backprop_through_it(build, params):
    """The reversible strategy runs reversible_heun as its own reversible pair: backprop's gradient
    through the very solver backprop differentiates, at two evaluations a step forward, four back."""
    instance = build("neural-ode", **SMALL, method="reversible_heun", **params)
    exact = configured("backprop").gradient(instance)
    instance.counters.clear()
    theta_bar = configured("reversible").gradient(instance)
    assert torch.allclose(theta_bar, exact, rtol=1e-12, atol=1e-14)
    steps = params["steps"]
    assert dict(instance.counters) == {"nfe_fwd": 2 * steps, "steps_accepted": steps, "nfe_bwd": 4 * steps}


def test_reversible_heun_memory_is_flat_in_steps(build):
    def peak(strategy, steps):
        instance = build("neural-ode", dim=2, hidden=4, batch=2, method="reversible_heun", steps=steps)
        return peak_bytes(lambda: configured(strategy).gradient(instance), torch.device("cpu"))

    assert peak("reversible", 400) <= 1.1 * peak("reversible", 40)
    assert peak("backprop", 400) > 5 * peak("backprop", 40)
