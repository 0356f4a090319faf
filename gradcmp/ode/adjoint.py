"""The continuous adjoint (seed 3): the gradient of an ODE solve from a second solve, backwards in time.

    lambda(t_K) = dJ/dx(t_K),   d lambda/dt = -lambda^T df/dx   (- dL/dx with a running cost),
    dJ/dtheta = integral over [t_0, t_K] of lambda^T df/dtheta dt,

and lambda jumps by dJ/dx(t_k) at every earlier observation time t_k. Both products come from one
torch.autograd.grad call on one evaluation of f (seed 1): no Jacobian is ever formed. A running
cost needs no extra code: the cost integral is one more state whose cotangent stays constant, and
the VJP of the augmented field adds its dL/dx to lambda's dynamics.

The backward solve needs x(t) too. Two ways to get it, one autograd.Function:
  backsolve     integrate x backwards alongside lambda, from the forward state at each observation
                time. Memory: the states at the observation times, whatever the number of steps.
                Wrong where the backward solve of x is unstable: on a dissipative system, errors
                grow like exp(max |Re eig(df/dx)| (t_k - t_k-1)). It then raises OdeError rather than
                return a wrong gradient: x solved back to t_k-1 must land within MAX_DRIFT of the
                forward state there.
  checkpointed  keep x at checkpoints; in the backward pass recompute each segment's states and
                restart x from the recomputed state at every step, so no error is carried further
                than one step. Fixed steps: the checkpoint schedule of options.schedule (uniform
                segments, or Revolve's binomial one with single-step segments; gradcmp.ode.replay).
                adaptive methods: one segment per observation interval. Memory: the checkpoints plus one
                segment's states.
Either way lambda and theta_bar are the continuous adjoint integrated by the forward's method
(fixed steps: the same grid, reversed; adaptive (dopri5, tsit5): its own error control, adjoint_rtol / adjoint_atol,
and with `seminorm` theta_bar left out of the error norm). They agree with backprop through the
solver (the discrete adjoint) to the method's order, not to rounding.
"""
import math
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from gradcmp.ode import SOLVERS, OdeError, odeint, rms_norm
from gradcmp.ode.fixed_step import fixed_grid
from gradcmp.ode.replay import checkpointed_forward, own_graph


@dataclass(frozen=True)
class Segment:
    """A stretch of the backward pass: x is known (saved or recomputed) at each of `times`.

    times        anchor times a = s_0 < ... < s_m = b
    steps        solver steps between consecutive anchors (fixed-step methods)
    observation  k when b is the observation time t_k (lambda jumps there), else None
    """

    times: tuple[float, ...]
    steps: int
    observation: int | None


def adjoint_trajectory(system, theta, counters, checkpointed: bool = False):
    """system.trajectory(theta, counters), differentiated by the continuous adjoint.

    Same states (K+1 rows, one per observation time); autograd saves only those (backsolve) or the
    checkpoints (checkpointed), never a step's activations. Counters: nfe_fwd, steps_accepted and
    steps_rejected of the forward solve; nfe_bwd (every vector-field call of the backward pass,
    recomputation included), steps_accepted_bwd and steps_rejected_bwd of the backward solve.

    An implicit method (sdirk3) is refused (the adjoint strategies declare the "explicit-method" need, so
    their rows are skipped before any work). Its backward solve would integrate x backwards
    with lambda, even over one step (adjoint-checkpoint): on the stiff systems an implicit method is for,
    the Newton matrix I - gamma dt J of that backward x is (near) singular wherever dt times a decay
    rate nears 1/gamma. The fix is an interpolating adjoint, x from the forward pass's dense output
    rather than solved backwards; not written. (Also, Newton on the augmented field would differentiate
    its VJP, which torch.func will not do under this backward pass's saved-tensor hooks.)
    """
    if SOLVERS[system.options.method].implicit:
        raise OdeError(f"the continuous adjoint solves x backwards, which the implicit method {system.options.method} "
                   "cannot do on a stiff system (an interpolating adjoint is not written); backprop and "
                   "checkpoint differentiate through it")
    return _Adjoint.apply(theta, system, counters, checkpointed)


class _Adjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, system, counters, checkpointed):
        ctx.plan = ctx.segments = None
        if checkpointed and not system.options.adaptive:  # the checkpoint schedule's, as checkpoint keeps
            rhs, z0 = system.solver_field(counters)
            params = system.parameters(theta)
            states, ctx.plan, saved = checkpointed_forward(system, lambda t, z: rhs(t, z, params), z0, counters)
        elif checkpointed:
            states, checkpoints, ctx.segments = _checkpointed_forward(system, theta, counters)
            saved = [checkpoints]
        else:
            states = system.trajectory(theta, counters)
            saved, ctx.segments = [states], _observation_segments(system)
        ctx.system, ctx.counters, ctx.checkpointed = system, counters, checkpointed
        ctx.save_for_backward(theta, *saved)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, states_bar):
        theta, *saved = ctx.saved_tensors
        system, counters = ctx.system, ctx.counters
        rhs, z0 = system.solver_field(counters, "nfe_bwd")
        # The VJPs stop at the unpacked parameters (leaves); one more VJP through unpack at the end.
        theta = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            params = system.parameters(theta)
        parts = (params,) if torch.is_tensor(params) else tuple(params)
        leaves = tuple(part.detach().requires_grad_(True) for part in parts)
        params = leaves[0] if torch.is_tensor(params) else leaves
        field = _adjoint_field(rhs, params, leaves, z0.shape)
        options = system.options
        n = z0.numel()
        norm = _backward_norm(n, options.seminorm)
        sizes = [leaf.numel() for leaf in leaves]
        y = theta.new_zeros(2 * n + sum(sizes))
        # Each VJP's one-evaluation graph lives only inside one field call: keep it away from outer
        # saved-tensor hooks (the measured "saved" bytes), as torch.utils.checkpoint does with its
        # recomputation.
        with own_graph():
            if ctx.plan is not None:
                y = _scheduled_backward(ctx.plan, ctx.plan.walker(system, lambda t, z: rhs(t, z, params), saved),
                                        field, y, states_bar, options, counters, norm)
            else:
                y = _segments_backward(ctx, saved[0], rhs, params, field, y, states_bar, options, counters, norm)
        params_bar = [bar.view_as(leaf) for bar, leaf in zip(y[2 * n:].split(sizes), leaves)]
        (theta_bar,) = torch.autograd.grad(parts, theta, params_bar, allow_unused=True, materialize_grads=True)
        return theta_bar, None, None, None


def _scheduled_backward(plan, walker, field, y, states_bar, options, counters, norm):
    """lambda and theta_bar back over each step of a checkpoint schedule's reverses: x at the step's
    end recomputed from the walker's checkpoints, never solved backwards."""
    n = states_bar[0].numel()
    for a, b in walker.reverses(plan.actions[plan.first:]):
        xs = {a: walker.start(a)}
        walker.steps(xs[a], a, b, xs.__setitem__)
        walker.peak = max(walker.peak, len(walker.slots) + b - a)
        for i in reversed(range(a, b)):
            if i + 1 in plan.observations:
                y[n:2 * n] += states_bar[plan.observations[i + 1]].reshape(-1)
            t, dt = plan.grid[i]
            y[:n] = xs[i + 1].reshape(-1)  # restart x from the forward solution
            y = _solve(field, y, (t + dt, t), options, 1, counters, "_bwd", backward=True, norm=norm)[-1]
    counters["slots_peak"] = max(counters["slots_peak"], walker.peak)
    return y


def _segments_backward(ctx, saved, rhs, params, field, y, states_bar, options, counters, norm):
    """lambda and theta_bar back over each segment: x from its recomputed anchors (adaptive,
    checkpointed) or solved backwards from the observed states (backsolve)."""
    n = states_bar[0].numel()
    for index in reversed(range(len(ctx.segments))):
        segment = ctx.segments[index]
        if segment.observation is not None:
            y[n:2 * n] += states_bar[segment.observation].reshape(-1)
        if ctx.checkpointed:  # the segment's states, recomputed from its checkpoint
            anchors = _solve(lambda t, z: rhs(t, z, params), saved[index], segment.times, options,
                             len(segment.times) - 1)
        else:  # x at the two ends of an observation interval, from the forward pass
            anchors = saved[index:index + 2]
        times = segment.times
        for i in reversed(range(len(times) - 1)):
            y[:n] = anchors[i + 1].reshape(-1)  # restart x from the forward solution
            y = _solve(field, y, (times[i + 1], times[i]), options, segment.steps, counters, "_bwd",
                       backward=True, norm=norm)[-1]
        if not ctx.checkpointed:
            _check_drift(y[:n], anchors[0], times[0])
    return y


# Backsolve's alarm: x solved backwards over one observation interval landing this far (relative)
# from the forward state. A coarse grid drifts about as much as the forward solve errs (about 1e-2 for
# euler at h = 0.05); an unstable backward solve drifts by orders of magnitude (stiff-linear: 1e4).
MAX_DRIFT = 0.1


def _check_drift(x_backward, x_forward, t: float) -> None:
    """Raise OdeError when the backward solve of x has lost the forward solution at time t."""
    drift = (x_backward - x_forward.reshape(-1)).norm()
    if not drift <= MAX_DRIFT * x_forward.norm():  # also catches NaN and Inf
        raise OdeError(f"backsolve lost x: solved backwards to t={t:.3g} it is off the forward solution by "
                       f"{float(drift / x_forward.norm()):.1e} (relative), so its gradient cannot be trusted; "
                       f"x is unstable backwards (dissipative or stiff) or the grid too coarse: "
                       f"use adjoint-checkpoint or more steps")


def _adjoint_field(rhs, params, leaves, shape):
    """dy/dt of y = [x, lambda, theta_bar] (flat), solved from t_K down to t_0 (theta_bar(t) is the
    integral from t to t_K): (f, -lambda^T df/dx, -lambda^T df/dparams), `leaves` being the tensors
    in `params`. Cost: one evaluation of f and one VJP (with -lambda, so no result needs negating)."""
    n = math.prod(shape)

    def field(t, y):
        x = y[:n].view(shape).detach().requires_grad_(True)
        with torch.enable_grad():
            x_dot = rhs(t, x, params)
            x_bar, *params_bar = torch.autograd.grad(x_dot, (x, *leaves), y[n:2 * n].view(shape).neg(),
                                                     allow_unused=True, materialize_grads=True)
        return torch.cat([x_dot.reshape(-1), x_bar.reshape(-1), *(bar.reshape(-1) for bar in params_bar)])

    return field


def _backward_norm(n: int, seminorm: bool):
    """The backward solve's error norm: the largest RMS of its parts x, lambda and theta_bar (as
    torchdiffeq's adjoint does), so no part is drowned by another's size. `seminorm` leaves theta_bar
    out: it is only a quadrature of the others and feeds nothing back, so its error need not shrink
    the step (Kidger, Chen and Lyons, "Hey, that's not an ODE", 2021)."""
    def norm(scaled_error):
        parts = (scaled_error[:n], scaled_error[n:2 * n]) if seminorm else scaled_error.split(
            (n, n, scaled_error.numel() - 2 * n))
        return torch.stack([rms_norm(part) for part in parts]).max()

    return norm


def _solve(f, z, times, options, steps, counters=None, suffix="", backward=False, norm=rms_norm):
    """odeint with the system's options (the adjoint tolerances when `backward`); states at `times`.
    Adds the steps taken to counters["steps_accepted" + suffix] (and rejected, adaptive only)."""
    rtol, atol = options.rtol, options.atol
    if backward:
        rtol, atol = options.adjoint_rtol or rtol, options.adjoint_atol or atol
    states, stats = odeint(f, z, times, options.method, steps=steps, rtol=rtol, atol=atol,
                           max_steps=options.max_steps, norm=norm)
    if counters is not None:
        counters["steps_accepted" + suffix] += stats.accepted
        if options.adaptive:
            counters["steps_rejected" + suffix] += stats.rejected
    return states


def _observation_segments(system) -> list[Segment]:
    """Backsolve: one segment per observation interval, x known only at its ends."""
    times = system.times
    steps = [1] * (len(times) - 1)
    if not system.options.adaptive:
        steps = [n for _, _, n in fixed_grid(times, system.options.steps)]
    return [Segment((times[k - 1], times[k]), steps[k - 1], k) for k in range(1, len(times))]


def _checkpointed_forward(system, theta, counters):
    """Adaptive methods: (states at the observation times, checkpoints stacked, segments), one segment per
    observation interval, with as many evenly spaced anchors as the forward solve accepted steps there."""
    rhs, z = system.solver_field(counters)
    params = system.parameters(theta)
    f = lambda t, z: rhs(t, z, params)  # noqa: E731
    options, times = system.options, system.times
    states, checkpoints, segments = [z], [], []
    for k in range(1, len(times)):
        checkpoints.append(z)
        before = counters["steps_accepted"]
        z = _solve(f, z, (times[k - 1], times[k]), options, 1, counters)[-1]
        m = counters["steps_accepted"] - before
        span = times[k] - times[k - 1]
        anchors = tuple(times[k - 1] + span * i / m for i in range(m)) + (times[k],)
        segments.append(Segment(anchors, 1, k))
        states.append(z)
    return torch.stack(states), torch.stack(checkpoints), segments
