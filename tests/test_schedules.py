"""Checkpoint schedules: Revolve's forward-step count against the formula and a brute-force optimum,
and checkpointed gradients against backprop's, with reruns counted as they happen."""
from functools import lru_cache

import pytest
import torch

from gradcmp.ode.schedules import binomial, binomial_forward_steps, forward_steps, make, peak_slots
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import strategy as configured

SMALL = {"dim": 2, "hidden": 6, "batch": 3}


@lru_cache(maxsize=None)
def _fewest(n: int, free: int) -> int:
    """Brute force: the fewest untaped steps reversing n steps from a held x_a with `free` more slots."""
    if n == 1:
        return 0
    if free == 0:
        return n * (n - 1) // 2
    return min(m + _fewest(n - m, free - 1) + _fewest(m, free) for m in range(1, n))


@pytest.mark.parametrize("slots", [1, 2, 3, 5])
def test_binomial_formula_is_the_optimum_and_the_schedule_attains_it(slots):
    for n in range(1, 60):
        actions = binomial(n, slots)
        assert binomial_forward_steps(n, slots) == _fewest(n, slots - 1) == forward_steps(actions)
        assert peak_slots(actions) <= slots
        assert sorted(action[1] for action in actions if action[0] == "reverse") == list(range(n))


def test_binomial_known_values():
    """One slot: rerun from x_0 for every step, n (n - 1) / 2; slots >= n: one sweep, n - 1;
    1000 steps with 8 slots: r = 5 (C(12, 8) = 495 < 1000 <= C(13, 8) = 1287), so 5 n - C(13, 4)."""
    assert binomial_forward_steps(10, 1) == 45
    assert binomial_forward_steps(10, 10) == 9
    assert binomial_forward_steps(1000, 8) == 5 * 1000 - 715 == 4285


def test_schedule_rejects_nonsense():
    with pytest.raises(ValueError, match="schedule must be one of uniform, binomial"):
        make("random", 10, 2)


def _gradient(build, strategy, **params):
    """The strategy's gradient on a small neural-ode: params that are its options (checkpoints, schedule)
    configure it, the others the problem."""
    value = configured(strategy)
    options = {key: params.pop(key) for key in list(params) if key in ("checkpoints", "schedule")}
    instance = build("neural-ode", **SMALL, **params)
    return value.replace(**options).gradient(instance), instance


@pytest.mark.parametrize("obs", [1, 3])
@pytest.mark.parametrize("slots", [1, 3, 8])
def test_binomial_checkpoint_equals_backprop_and_reruns_the_formula(build, obs, slots):
    steps = 30
    exact, _ = _gradient(build, "backprop", steps=steps, obs=obs)
    theta_bar, instance = _gradient(build, "checkpoint", steps=steps, obs=obs, checkpoints=slots,
                                    schedule="binomial")
    assert torch.allclose(theta_bar, exact, rtol=1e-12, atol=1e-14)
    counters = instance.counters
    assert counters["nfe_fwd"] == 4 * steps  # rk4: one plain forward solve
    # every untaped step (forward solve included) plus the `steps` recorded ones, 4 evaluations each
    assert counters["nfe_fwd"] + counters["nfe_bwd"] == 4 * (binomial_forward_steps(steps, slots) + 1 + steps)
    assert counters["slots_peak"] <= slots + 1  # the checkpoints and the state in hand


@pytest.mark.parametrize("slots", [2, 5])
def test_uniform_checkpoint_with_slots_equals_backprop_and_reruns_once(build, slots):
    exact, _ = _gradient(build, "backprop", steps=20, obs=2)
    theta_bar, instance = _gradient(build, "checkpoint", steps=20, obs=2, checkpoints=slots)
    assert torch.allclose(theta_bar, exact, rtol=1e-12, atol=1e-14)
    assert instance.counters["nfe_bwd"] == instance.counters["nfe_fwd"] == 80


def test_adjoint_checkpoint_slots_set_the_segments(build):
    """checkpoints=K: segments of N / K steps; the gradient stays the continuous adjoint's."""
    default, _ = _gradient(build, "adjoint-checkpoint", steps=40)
    few, instance = _gradient(build, "adjoint-checkpoint", steps=40, checkpoints=2)
    assert torch.allclose(few, default, rtol=1e-12)
    assert instance.counters["nfe_bwd"] == 2 * instance.counters["nfe_fwd"]


@pytest.mark.parametrize("slots", [2, 6])
def test_checkpoint_saves_its_slots_only(build, slots):
    """Saved-for-backward bytes: the checkpoints and the state in hand, theta and the observed states;
    the graphs recorded in the backward pass are its own."""
    from gradcmp.measure import call_with_saved_bytes

    instance = build("neural-ode", **SMALL, steps=40)
    strategy = configured("checkpoint", checkpoints=slots, schedule="binomial")
    _, saved = call_with_saved_bytes(lambda: strategy.gradient(instance))
    state, theta = SMALL["batch"] * SMALL["dim"] * 8, instance.x.numel() * 8
    assert slots * state < saved <= (slots + 1) * state + theta + 2 * state


@pytest.mark.parametrize("obs", [1, 3])
def test_binomial_adjoint_checkpoint_equals_uniform_and_reruns_the_formula(build, obs):
    """Same adjoint steps from the same recomputed x, so the same gradient as the uniform segments;
    forward steps: Revolve's reruns, the forward solve's last step and one per reversed step."""
    steps, slots = 30, 4
    uniform, _ = _gradient(build, "adjoint-checkpoint", steps=steps, obs=obs, checkpoints=5)
    theta_bar, instance = _gradient(build, "adjoint-checkpoint", steps=steps, obs=obs, checkpoints=slots,
                                    schedule="binomial")
    assert torch.allclose(theta_bar, uniform, rtol=1e-12, atol=1e-14)
    counters = instance.counters
    adjoint = 4 * steps  # rk4: one backward step of (x, lambda, theta_bar) per forward step
    assert counters["nfe_fwd"] + counters["nfe_bwd"] - adjoint == 4 * (binomial_forward_steps(steps, slots) + 1 + steps)
    assert counters["slots_peak"] <= slots + 1


@pytest.mark.parametrize("every", [0, 3])
def test_dopri5_checkpoint_replays_the_accepted_steps_exactly(build, every):
    """checkpoints=0: a state at each accepted step (ACA); 3: every third. The backward pass reruns
    each accepted step once (six evaluations), never a rejected one, and the gradient is backprop's."""
    params = dict(obs=3, method="dopri5", rtol=1e-7, atol=1e-9)
    exact, reference = _gradient(build, "backprop", **params)
    theta_bar, instance = _gradient(build, "checkpoint", **params, checkpoints=every)
    assert torch.allclose(theta_bar, exact, rtol=1e-12, atol=1e-14)
    counters = instance.counters
    assert counters["steps_accepted"] == reference.counters["steps_accepted"] > 3
    assert counters["nfe_bwd"] == 6 * counters["steps_accepted"]
    kept = counters["steps_accepted"] if every == 0 else counters["steps_accepted"] // 3 + 3
    assert counters["slots_peak"] <= kept + 1


def test_dopri5_checkpoint_skips_the_binomial_schedule(build):
    """Revolve's schedule needs the steps before solving: on dopri5 the row does not apply, said before any work."""
    instance = build("neural-ode", **SMALL, method="dopri5")
    strategy = configured("checkpoint(schedule=binomial)")
    assert strategy.applies_to(PROBLEMS["neural-ode"]) is None  # a fixed-step method would do
    assert "needs a fixed-step solver; method dopri5" in strategy.applies_to(PROBLEMS["neural-ode"], instance)
    assert configured("checkpoint").applies_to(PROBLEMS["neural-ode"], instance) is None


@pytest.mark.parametrize("strategy, params", [
    ("checkpoint", {"schedule": "binomial", "checkpoints": 3}),
    ("adjoint-checkpoint", {"schedule": "binomial", "checkpoints": 3}),
    ("reversible", {}),
])
def test_backward_loops_stop_at_the_time_budget(build, strategy, params):
    """Forward pass outside any limit, backward pass under an exhausted one: it stops at its first step."""
    from gradcmp import deadline
    from gradcmp.ode.adjoint import adjoint_trajectory
    from gradcmp.ode.replay import scheduled_trajectory
    from gradcmp.ode.reversible import reversible_trajectory

    instance = build("neural-ode", **SMALL, steps=20)
    system, theta = configured(strategy, **params).system(instance), instance.x.detach().requires_grad_(True)
    solve = {"checkpoint": scheduled_trajectory, "reversible": reversible_trajectory,
             "adjoint-checkpoint": lambda *args: adjoint_trajectory(*args, checkpointed=True)}[strategy]
    loss = system.loss_of_trajectory(solve(system, theta, instance.counters))
    with deadline.within(0.0, "the gradient"), pytest.raises(deadline.OverTime, match="the gradient would take"):
        torch.autograd.grad(loss, theta)
    assert instance.counters["nfe_bwd"] <= 4 * 4  # stopped within the first reversal
