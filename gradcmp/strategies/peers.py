"""torchdiffeq (the reference implementation seed 3 cites) solving the very same ODE problem as gradcmp.

One strategy, `torchdiffeq`, with one option: `torchdiffeq` calls torchdiffeq.odeint (autograd through the
steps, the peer of backprop), `torchdiffeq(adjoint=true)` calls odeint_adjoint (the backsolve adjoint, the
peer of adjoint). Same vector field, same initial state and
observation times, same loss (running cost included, as an extra state entry like gradcmp's), and the
same solver settings, so that gradcmp's rows and torchdiffeq's can be read side by side:

- euler, midpoint: torchdiffeq's solvers of those names, on gradcmp's grid (a grid_constructor that
  returns exactly the points of gradcmp.ode.fixed_step.fixed_grid), so both take identical steps.
- rk4: torchdiffeq's own `rk4` is Kutta's 3/8 rule, a different fourth-order method from gradcmp's
  classic RK4. The peers therefore run torchdiffeq's classic step (rk_common.rk4_step_func) inside
  torchdiffeq's fixed-grid solver, registered in torchdiffeq's solver table as `rk4-classic`: still
  torchdiffeq's code throughout, and the same arithmetic as gradcmp, so gradients agree to rounding.
- dopri5: torchdiffeq's dopri5 with the same rtol, atol and step limit (and for odeint_adjoint the same
  backward tolerances and error norm). Not the same step sequence: torchdiffeq's error estimate is
  Shampine's, exactly 2/3 of the standard Dormand-Prince one gradcmp uses; it never shrinks the step
  after an accepted one; and it interpolates at output times instead of landing on them. So its NFE
  and its error differ from gradcmp's at the same tolerances (README: Peers).
- reversible_heun: torchdiffeq has none; the peers skip it.

The vector field is wrapped in an nn.Module whose one Parameter is theta (odeint_adjoint finds the
parameters to differentiate that way); it counts every call into instance.counters.
"""
from __future__ import annotations

from gradcmp.config import ConfigError, Param
from gradcmp.strategies.adjoint import BACKWARD_OPTIONS, BACKWARD_SOLVER_OPTIONS
from gradcmp.strategies.base import Strategy

CLASSIC_RK4 = "rk4-classic"


def _torchdiffeq_method(method: str) -> str:
    """torchdiffeq's name for gradcmp's method (registering the classic RK4 on first use)."""
    if method != "rk4":
        return method
    from torchdiffeq._impl.odeint import SOLVERS

    if CLASSIC_RK4 not in SOLVERS:
        from torchdiffeq._impl.fixed_grid import FixedGridODESolver
        from torchdiffeq._impl.misc import Perturb
        from torchdiffeq._impl.rk_common import rk4_step_func

        class ClassicRK4(FixedGridODESolver):
            order = 4

            def _step_func(self, func, t0, dt, t1, y0):
                f0 = func(t0, y0, perturb=Perturb.NEXT if self.perturb else Perturb.NONE)
                return rk4_step_func(func, t0, dt, t1, y0, f0=f0, perturb=self.perturb), f0

        SOLVERS[CLASSIC_RK4] = ClassicRK4
    return CLASSIC_RK4


def _grid_constructor(times, steps: int):
    """torchdiffeq's grid_constructor giving gradcmp's fixed grid: the same points, both directions.

    odeint_adjoint's backward pass solves one interval at a time with decreasing times, so the
    number of steps of an interval is looked up by its end points, as gradcmp's grid assigned it.
    """
    import torch

    from gradcmp.ode.fixed_step import fixed_grid

    steps_of = {(start, stop): n for (start, _, n), stop in zip(fixed_grid(times, steps), times[1:])}

    def construct(func, y0, t):
        requested = t.tolist()
        points = []
        for start, stop in zip(requested, requested[1:]):
            n = steps_of[(min(start, stop), max(start, stop))]
            points.extend(start + i * (stop - start) / n for i in range(n))
        points.append(requested[-1])
        return torch.tensor(points, dtype=t.dtype, device=t.device)

    return construct


def _solver_options(options, times) -> dict:
    """torchdiffeq's `options` for gradcmp's SolverOptions."""
    if options.adaptive:
        return {"max_num_steps": options.max_steps}
    return {"grid_constructor": _grid_constructor(times, options.steps)}


def _adjoint_arguments(options, times) -> dict:
    """odeint_adjoint's backward settings, as gradcmp's adjoint takes them: adjoint_rtol / adjoint_atol
    (0 meaning the forward ones), and for dopri5 the error norm, the largest RMS of (x, lambda,
    theta_bar) -- torchdiffeq's default -- or with `seminorm` of (x, lambda) alone. Fixed-step
    methods inherit the forward options, gradcmp's grid included."""
    arguments = {"adjoint_rtol": options.adjoint_rtol or options.rtol,
                 "adjoint_atol": options.adjoint_atol or options.atol}
    if options.adaptive:
        adjoint_options = _solver_options(options, times)
        if options.seminorm:
            adjoint_options["norm"] = "seminorm"
        arguments["adjoint_options"] = adjoint_options
    return arguments


def _vector_field_module(rhs, system, theta, counters, adjoint: bool):
    """An nn.Module computing rhs, system.solver_field's right-hand side (running cost included), theta
    its only Parameter, as odeint_adjoint needs. theta is unpacked into the vector field's parameters
    once, here, as gradcmp's solves do (odeint_adjoint's VJPs then reach theta through the unpacking);
    one flat theta also keeps torchdiffeq's adjoint error norm over theta_bar the RMS gradcmp takes.

    Calls are counted into counters[module.phase]: "nfe_fwd", then "nfe_bwd" once the backward pass
    starts (0 for backprop, whose backward replays the graph); steps through torchdiffeq's step
    callbacks, under gradcmp's counter names (the backward solve's with `adjoint`).
    """
    import torch

    adaptive = system.options.adaptive

    def count(name):
        counters[name] += 0  # listed even when it stays 0 (no rejected step), as gradcmp's solvers do

        def callback(t0, y0, dt):
            counters[name] += 1
        return callback

    class VectorField(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = torch.nn.Parameter(theta.detach())
            self.params = system.parameters(self.theta)
            self.phase = "nfe_fwd"
            counters["nfe_bwd"] += 0
            # only the callbacks the solver supports (torchdiffeq warns about the others)
            for suffix, bwd in (("", ""), ("_adjoint", "_bwd"))[:2 if adjoint else 1]:
                if adaptive:
                    setattr(self, "callback_accept_step" + suffix, count("steps_accepted" + bwd))
                    setattr(self, "callback_reject_step" + suffix, count("steps_rejected" + bwd))
                else:
                    setattr(self, "callback_step" + suffix, count("steps_accepted" + bwd))

        def forward(self, t, z):
            counters[self.phase] += 1
            return rhs(t, z, self.params)

    return VectorField()


class TorchdiffeqPeer(Strategy):
    """A torchdiffeq entry point as a gradcmp strategy (see the module docstring for what is matched).

    adjoint false: torchdiffeq.odeint, autograd through every solver step (like gradcmp's backprop).
    adjoint true: torchdiffeq.odeint_adjoint, the backsolve adjoint (like gradcmp's adjoint), with the
    backward pass on the same grid (fixed step) or tolerances (dopri5) as the forward one.
    """

    name = "torchdiffeq"
    description = ("torchdiffeq.odeint through every step (peer of backprop), or odeint_adjoint with "
                   "adjoint=true (peer of adjoint); extra: peers")
    options = (Param("adjoint", False, "call odeint_adjoint (backsolve) instead of odeint"), *BACKWARD_OPTIONS)
    solver_options = BACKWARD_SOLVER_OPTIONS
    needs = frozenset({"ode", "torchdiffeq", "torchdiffeq-method"})
    autograd = True

    def check_config(self):
        if not self.config["adjoint"] and self.label != self.name:
            raise ConfigError("torchdiffeq: rtol, atol and seminorm set the backward solve of odeint_adjoint; "
                              "give adjoint=true too")

    def gradient(self, instance):
        import torch
        import torchdiffeq

        system = self.system(instance)
        options = system.options
        rhs, z0 = system.solver_field()
        field = _vector_field_module(rhs, system, instance.x, instance.counters, self.config["adjoint"])
        times = torch.tensor(system.times, dtype=torch.float64, device=instance.x.device)
        arguments = dict(rtol=options.rtol, atol=options.atol, method=_torchdiffeq_method(options.method),
                         options=_solver_options(options, system.times))
        if self.config["adjoint"]:
            states = torchdiffeq.odeint_adjoint(field, z0, times, **arguments,
                                                **_adjoint_arguments(options, system.times))
        else:
            states = torchdiffeq.odeint(field, z0, times, **arguments)
        loss = system.loss_of_trajectory(states)
        field.phase = "nfe_bwd"
        # odeint_adjoint's backward records a one-evaluation graph per VJP that lives only inside that
        # call: keep it out of the measured "saved" bytes, as gradcmp's adjoint does (peak memory sees it).
        # Packing a detached view, not the tensor itself: torchdiffeq keeps those graphs (retain_graph)
        # until the evaluation's output is dropped, and a tensor packed into its own grad_fn is a
        # reference cycle that would hold every step's graph until the garbage collector runs.
        with torch.autograd.graph.saved_tensors_hooks(torch.Tensor.detach, _unchanged):
            (x_bar,) = torch.autograd.grad(loss, field.theta)
        return x_bar


def _unchanged(tensor):
    return tensor


STRATEGY = TorchdiffeqPeer
