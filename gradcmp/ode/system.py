"""An ODE problem as data: what the ODE problems attach to their Instance, and what gradient
strategies that look inside the solve (backprop, checkpoint, the adjoint) work from.

    J(theta) = loss(x(t_0), ..., x(t_K)) + integral over [t_0, t_K] of L(x_t) dt,
    dx/dt = f(t, x, theta),  x(t_0) = x0.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from gradcmp.config import Param
from gradcmp.ode import SOLVERS, odeint


@dataclass(frozen=True)
class SolverOptions:
    """How to solve: `steps` for the fixed-step methods; rtol, atol and max_steps for the adaptive
    ones, dopri5 and tsit5 (the problem's params, SOLVER_PARAMS).

    The rest are set by the strategy that solves (Strategy.solver_options), never by the problem: the
    adjoint's backward adaptive solve uses adjoint_rtol / adjoint_atol (0: the forward rtol / atol) and,
    with `seminorm`, leaves the parameter gradient out of its error norm; the checkpointing strategies
    keep `checkpoints` states (0: their sqrt(steps) default) placed by `schedule`
    (gradcmp.ode.schedules; checkpoint with an adaptive method: every `checkpoints`-th accepted step); the
    reversible strategy couples its pair with `coupling`.
    """

    method: str = "rk4"
    steps: int = 100
    rtol: float = 1e-6
    atol: float = 1e-8
    max_steps: int = 10_000
    adjoint_rtol: float = 0.0
    adjoint_atol: float = 0.0
    seminorm: bool = False
    checkpoints: int = 0
    schedule: str = "uniform"
    coupling: float = 0.999

    @property
    def adaptive(self) -> bool:
        return SOLVERS[self.method].adaptive

    @classmethod
    def from_params(cls, params: dict) -> "SolverOptions":
        """The solver params among a problem's params (the strategies' fields keep their defaults)."""
        return cls(**{name: params[name] for name in SOLVER_PARAMS if name in params})


SOLVER_PARAMS = ("steps", "method", "rtol", "atol", "max_steps")


def solver_params(steps: int = 100, method: str = "rk4") -> tuple[Param, ...]:
    """The params every ODE problem shares, `steps` first (so --size sets the number of steps)."""
    return (
        Param("steps", steps, "steps of a fixed-step method over the whole horizon", minimum=1),
        Param("method", method, "ODE solver", choices=tuple(SOLVERS)),
        Param("rtol", 1e-6, "relative tolerance of the adaptive methods (dopri5, tsit5)", above=0),
        Param("atol", 1e-8, "absolute tolerance of the adaptive methods (dopri5, tsit5)", above=0),
        Param("max_steps", 10_000, "adaptive methods: attempted steps before giving up", minimum=1),
    )


# The reference solve: dopri5 at this tolerance (rtol = atol), in float64, differentiated by backprop.
REFERENCE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class OdeSystem:
    """dx/dt = vector_field(t, x, unpack(theta)) from x0 over `times`, and the loss J on the solution.

    vector_field  (t: float, x, params) -> dx/dt shaped like x; x may be a batch (B x d)
    x0            the initial state (not differentiated)
    times         Python floats t_0 < ... < t_K; the loss sees the state at every one (x(t_0) = x0)
    terminal_loss states (K+1, *x0.shape) -> scalar, the part of J that reads the observations
    options       the solver and its settings (SolverOptions)
    running_cost  None, or x -> scalar L(x), integrated over [t_0, t_K] and added to J
    unpack        theta -> params, what vector_field takes (e.g. weight matrices as views of the flat
                  theta); applied once per solve, not once per evaluation. None: params = theta
    jax           None, or convert -> this system written with jax.numpy (vector_field, unpack, the
                  losses), on its data passed through `convert` (torch tensor -> JAX array): the
                  diffrax peers' copy of the problem. Its options and times are not used
    """

    vector_field: Callable
    x0: Any
    times: tuple[float, ...]
    terminal_loss: Callable
    options: SolverOptions
    running_cost: Callable | None = None
    unpack: Callable | None = None
    jax: Callable | None = None

    def parameters(self, theta):
        """What vector_field takes: unpack(theta), or theta itself when there is no unpack."""
        return theta if self.unpack is None else self.unpack(theta)

    def solver_field(self, counters=None, counter: str = "nfe_fwd"):
        """(rhs(t, z, params), z0): the field the solver integrates and its initial state, params being
        parameters(theta).

        Without a running cost that is the vector field and x0; with one, z is the flattened state
        with the cost integral so far appended. Every call of rhs adds one to counters[counter].
        """
        import torch

        def field(t, x, params):
            if counters is not None:
                counters[counter] += 1
            return self.vector_field(t, x, params)

        if self.running_cost is None:
            return field, self.x0
        shape, cost = self.x0.shape, self.running_cost

        def rhs(t, z, params):
            x = z[:-1].view(shape)
            return torch.cat([field(t, x, params).reshape(-1), cost(x).reshape(1)])

        return rhs, torch.cat([self.x0.reshape(-1), self.x0.new_zeros(1)])

    def trajectory(self, theta, counters=None):
        """The solver's states at `times`: (K+1, *x0.shape), or with a running cost (K+1, x0.numel() + 1),
        each row the flattened state with the cost integral so far appended (so one solve gives both).

        Adds to `counters`: nfe_fwd (every vector-field call, counted as it happens), steps_accepted,
        and steps_rejected for an adaptive method.
        """
        rhs, z0 = self.solver_field(counters)
        params = self.parameters(theta)
        options = self.options
        states, stats = odeint(lambda t, z: rhs(t, z, params), z0, self.times, options.method,
                               steps=options.steps, rtol=options.rtol, atol=options.atol,
                               max_steps=options.max_steps)
        if counters is not None:
            counters["steps_accepted"] += stats.accepted
            if options.adaptive:
                counters["steps_rejected"] += stats.rejected
        return states

    def loss_of_trajectory(self, states):
        """J from the output of `trajectory`."""
        if self.running_cost is None:
            return self.terminal_loss(states)
        observed = states[:, :-1].reshape(len(self.times), *self.x0.shape)
        return self.terminal_loss(observed) + states[-1, -1]

    def objective(self, theta, counters=None):
        """J(theta): one solve, then the loss."""
        return self.loss_of_trajectory(self.trajectory(theta, counters))

    def gradient_through(self, trajectory, theta, counters):
        """dJ/dtheta by autograd through `trajectory(system, theta, counters)`, a differentiable solve
        (an autograd Function with its own backward: checkpointed, adjoint, reversible) returning the states."""
        import torch

        theta = theta.detach().requires_grad_(True)
        (theta_bar,) = torch.autograd.grad(self.loss_of_trajectory(trajectory(self, theta, counters)), theta)
        return theta_bar


def reference_options(tolerance: float = REFERENCE_TOLERANCE) -> SolverOptions:
    return SolverOptions(method="dopri5", rtol=tolerance, atol=tolerance, max_steps=1_000_000)


def reference_gradient(system: OdeSystem, theta, tolerance: float = REFERENCE_TOLERANCE):
    """dJ/dtheta from a float64 dopri5 solve at rtol = atol = tolerance, by backprop.

    Independent of the measured method and steps, so one reference serves every solver setting.
    Its error is about the tolerance: the gradient of the discrete solution converges to the
    continuous one at dopri5's order (on neural-ode, 1e-12 -> 1.2e-12 and 1e-14 -> 1.3e-14 relative
    error against rk4 at 4000 steps). `system` and `theta` must be float64.
    """
    import torch

    fine = replace(system, options=reference_options(tolerance))
    theta = theta.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(fine.objective(theta), theta)
    return gradient

