"""A fixed-step solve differentiated by replaying a checkpoint schedule (gradcmp.ode.schedules).

The forward pass records nothing: it keeps the schedule's checkpoints. The backward pass reruns
steps from them, records each reversed stretch with autograd and backpropagates through it, so
the gradient is backprop's (the same steps, the same arithmetic) at the schedule's memory.
"""
import torch
from torch.autograd.function import once_differentiable

from gradcmp.ode import SOLVERS
from gradcmp.ode.fixed_step import fixed_grid


def scheduled_trajectory(system, theta, counters, actions):
    """system.trajectory(theta, counters), its backward pass following `actions` (a schedule over
    the whole grid's steps). Counters: nfe_fwd and steps_accepted of the forward solve; nfe_bwd every
    vector-field call of the backward pass (reruns and recorded steps); slots_peak the most states
    kept at once (the checkpoints, plus the state in hand)."""
    return _Replay.apply(theta, system, counters, actions)


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
    def forward(ctx, theta, system, counters, actions):
        grid, observations = flat_grid(system)
        rhs, z0 = system.solver_field(counters)
        params = system.parameters(theta)
        states = [z0]

        def record(index, z):
            if index in observations:
                states.append(z)

        first = next(i for i, action in enumerate(actions) if action[0] == "reverse")
        walker = _Walker(system, lambda t, z: rhs(t, z, params), grid, z0)
        walker.run(actions[:first], record)
        walker.advance(walker.index, len(grid), record)
        counters["steps_accepted"] += len(grid)
        counters["slots_peak"] = max(counters["slots_peak"], walker.peak)
        ctx.system, ctx.counters, ctx.actions, ctx.first = system, counters, actions, first
        ctx.indices = list(walker.slots) + [walker.resume[0]]
        ctx.save_for_backward(theta, *walker.slots.values(), walker.resume[1])
        return torch.stack(states)

    @staticmethod
    @once_differentiable
    def backward(ctx, states_bar):
        theta, *kept = ctx.saved_tensors
        system, counters = ctx.system, ctx.counters
        grid, observations = flat_grid(system)
        rhs, _ = system.solver_field(counters, "nfe_bwd")
        theta, parts, leaves, params = parameter_leaves(system, theta)
        walker = _Walker(system, lambda t, z: rhs(t, z, params), grid, None)
        walker.slots = dict(zip(ctx.indices[:-1], kept[:-1]))
        walker.index, walker.state = ctx.indices[-1], kept[-1]
        walker.peak = len(kept)
        z_bar = states_bar[-1]
        params_bar = [torch.zeros_like(leaf) for leaf in leaves]
        with own_graph():
            for action in ctx.actions[ctx.first:]:
                if action[0] != "reverse":
                    walker.run([action])
                    continue
                a, b = action[1:]
                with torch.enable_grad():
                    z = walker.start(a).detach().requires_grad_(True)
                    end = walker.steps(z, a, b)
                    z_bar, *bars = torch.autograd.grad(end, (z, *leaves), z_bar, allow_unused=True,
                                                       materialize_grads=True)
                params_bar = [total + bar for total, bar in zip(params_bar, bars)]
                if a in observations:
                    z_bar = z_bar + states_bar[observations[a]]
        counters["slots_peak"] = max(counters["slots_peak"], walker.peak)
        return theta_bar_of(theta, parts, params_bar), None, None, None


class _Walker:
    """Runs a schedule's store / free / advance actions: slots by state index, and the state in hand."""

    def __init__(self, system, f, grid, z0):
        self.step, self.f, self.grid = SOLVERS[system.options.method].step, f, grid
        self.slots, self.index, self.state, self.peak = {}, 0, z0, 0
        self.resume = (0, z0)

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
