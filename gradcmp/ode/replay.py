"""A solve differentiated by replaying a checkpoint schedule (gradcmp.ode.schedules) over its steps:
a fixed-step method's grid, or the steps an adaptive (dopri5, tsit5) solve accepted (recorded as it ran).

The forward pass records nothing: it keeps the schedule's checkpoints. The backward pass reruns
steps from them, records each reversed stretch with autograd and backpropagates through it, so
the gradient is backprop's (the same steps, the same arithmetic) at the schedule's memory.
"""
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from gradcmp import deadline
from gradcmp.ode import SOLVERS, odeint
from gradcmp.ode.fixed_step import fixed_grid
from gradcmp.ode.schedules import make, uniform


def scheduled_trajectory(system, theta, counters):
    """system.trajectory(theta, counters), its backward pass following the checkpoint schedule the
    options ask for (see checkpointed_forward). Counters: nfe_fwd, steps_accepted (and rejected) of
    the forward solve; nfe_bwd every vector-field call of the backward pass (reruns and recorded
    steps); slots_peak the most states kept at once (the checkpoints, plus the state in hand)."""
    return _Replay.apply(theta, system, counters)


@dataclass
class Plan:
    """What a checkpointed forward pass leaves its backward pass: the accepted steps (t_i, dt_i), the
    observations {step index: k}, the schedule, where its backward share starts, and the indices of
    the kept states (the last one the state to resume from)."""

    grid: list
    observations: dict
    actions: list
    first: int
    indices: list

    def walker(self, system, f, kept):
        """A walker over the grid holding the kept states, as the forward pass left it."""
        walker = _Walker(system, f, self.grid, None)
        walker.slots = dict(zip(self.indices[:-1], kept[:-1]))
        walker.index, walker.state, walker.peak = self.indices[-1], kept[-1], len(kept)
        return walker


def checkpointed_forward(system, f, z0, counters):
    """(states at the observation times, stacked; Plan; the kept states), nothing recorded.

    Fixed steps: the schedule `options.schedule` with `options.checkpoints` slots over the grid.
    Adaptive methods (dopri5, tsit5): the solve runs once, under error control, recording each
    accepted step (t, dt) and keeping the state every `options.checkpoints`-th accepted step (0: each,
    as ACA does) and at each observation; the backward pass replays those steps exactly (uniform
    segments, through the solver's `step`), so the gradient is backprop's through the same accepted steps.
    """
    options = system.options
    if options.adaptive:
        return _adaptive_forward(system, f, z0, counters)
    grid, observations = flat_grid(system)
    actions = make(options.schedule, len(grid), options.checkpoints, observations)
    states = [z0]

    def record(index, z):
        if index in observations:
            states.append(z)
        deadline.check(index / len(grid))

    first = next(i for i, action in enumerate(actions) if action[0] == "reverse")
    walker = _Walker(system, f, grid, z0)
    walker.run(actions[:first], record)
    walker.advance(walker.index, len(grid), record)
    counters["steps_accepted"] += len(grid)
    counters["slots_peak"] = max(counters["slots_peak"], walker.peak)
    plan = Plan(grid, observations, actions, first, list(walker.slots) + [walker.resume[0]])
    return torch.stack(states), plan, [*walker.slots.values(), walker.resume[1]]


def _adaptive_forward(system, f, z0, counters):
    options, every = system.options, system.options.checkpoints or 1
    grid, observations, kept = [], {}, {0: z0}

    def accepted(t, dt, x1, lands):
        grid.append((t, dt))
        if lands:
            observations[len(grid)] = len(observations) + 1
        if lands or len(grid) % every == 0:
            kept[len(grid)] = x1

    states, stats = odeint(f, z0, system.times, options.method, rtol=options.rtol, atol=options.atol,
                           max_steps=options.max_steps, on_accept=accepted)
    counters["steps_accepted"] += stats.accepted
    counters["steps_rejected"] += stats.rejected
    del kept[len(grid)]
    actions = uniform(len(grid), every, observations)
    first = next(i for i, action in enumerate(actions) if action[0] == "reverse")
    counters["slots_peak"] = max(counters["slots_peak"], len(kept) + 1)
    indices = [*kept, max(kept)]
    return states, Plan(grid, observations, actions, first, indices), [*kept.values(), kept[max(kept)]]


def parameter_leaves(system, theta):
    """(theta requiring grad, its unpacked parts, leaf copies of the parts, params built from the
    leaves): a backward pass's VJPs stop at the leaves, then one VJP through unpack gives theta_bar."""
    theta = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        params = system.parameters(theta)
    parts = (params,) if torch.is_tensor(params) else tuple(params)
    leaves = tuple(part.detach().requires_grad_(True) for part in parts)
    return theta, parts, leaves, leaves[0] if torch.is_tensor(params) else leaves


def theta_bar_of(theta, parts, params_bar):
    """theta_bar from the leaves' gradients (the VJP through unpack)."""
    (theta_bar,) = torch.autograd.grad(parts, theta, params_bar, allow_unused=True, materialize_grads=True)
    return theta_bar


def own_graph():
    """Each recorded step's graph lives only inside a backward pass: keep it away from outer
    saved-tensor hooks (the measured "saved" bytes: what the forward pass keeps), as
    torch.utils.checkpoint does with its recomputation."""
    return torch.autograd.graph.saved_tensors_hooks(_unchanged, _unchanged)


def _unchanged(tensor):
    return tensor


def flat_grid(system):
    """((t_i, dt_i) for each step of the whole solve, {step index: observation k})."""
    grid, observations = [], {}
    for k, (start, dt, n) in enumerate(fixed_grid(system.times, system.options.steps), start=1):
        grid.extend((start + i * dt, dt) for i in range(n))
        observations[len(grid)] = k
    return grid, observations


class _Replay(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, system, counters):
        rhs, z0 = system.solver_field(counters)
        params = system.parameters(theta)
        states, ctx.plan, kept = checkpointed_forward(system, lambda t, z: rhs(t, z, params), z0, counters)
        ctx.system, ctx.counters = system, counters
        ctx.save_for_backward(theta, *kept)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, states_bar):
        theta, *kept = ctx.saved_tensors
        system, counters, plan = ctx.system, ctx.counters, ctx.plan
        rhs, _ = system.solver_field(counters, "nfe_bwd")
        theta, parts, leaves, params = parameter_leaves(system, theta)
        walker = plan.walker(system, lambda t, z: rhs(t, z, params), kept)
        z_bar = states_bar[-1]
        params_bar = [torch.zeros_like(leaf) for leaf in leaves]
        with own_graph():
            for a, b in walker.reverses(plan.actions[plan.first:]):
                with torch.enable_grad():
                    z = walker.start(a).detach().requires_grad_(True)
                    end = walker.steps(z, a, b)
                    z_bar, *bars = torch.autograd.grad(end, (z, *leaves), z_bar, allow_unused=True,
                                                       materialize_grads=True)
                params_bar = [total + bar for total, bar in zip(params_bar, bars)]
                if a in plan.observations:
                    z_bar = z_bar + states_bar[plan.observations[a]]
        counters["slots_peak"] = max(counters["slots_peak"], walker.peak)
        return theta_bar_of(theta, parts, params_bar), None, None


class _Walker:
    """Runs a schedule's store / free / advance actions: slots by state index, and the state in hand."""

    def __init__(self, system, f, grid, z0):
        self.step, self.f, self.grid = SOLVERS[system.options.method].step, f, grid
        self.slots, self.index, self.state, self.peak = {}, 0, z0, 0
        self.resume = (0, z0)

    def reverses(self, actions):
        """Run the backward share of a schedule: yield each reverse (a, b), the other actions done
        on the way; the time budget is checked after each (the share of the steps reversed)."""
        done = 0
        for action in actions:
            if action[0] != "reverse":
                self.run([action])
                continue
            yield action[1:]
            done += action[2] - action[1]
            deadline.check(done / len(self.grid))

    def start(self, a):
        return self.state if self.index == a else self.slots[a]

    def steps(self, z, a, b, seen=None):
        for i in range(a, b):
            t, dt = self.grid[i]
            z = self.step(self.f, t, z, dt)
            if seen is not None:
                seen(i + 1, z)
        return z

    def advance(self, a, b, seen=None):
        self.resume = (a, self.start(a))
        self.state, self.index = self.steps(self.resume[1], a, b, seen), b

    def run(self, actions, seen=None):
        for action in actions:
            if action[0] == "advance":
                self.advance(*action[1:], seen)
            elif action[0] == "store":
                self.slots[action[1]] = self.state
            elif action[0] == "free":
                del self.slots[action[1]]
            self.peak = max(self.peak, len(self.slots) + 1)
