"""A neural ODE (seed 3): dx/dt = MLP(x; theta), J = mean ||x(t_k) - y_k||^2 over `obs` times (+ integral of mean x^2)."""
from functools import lru_cache

from gradcmp import deadline
from gradcmp.config import Param
from gradcmp.ode.system import OdeSystem, SolverOptions, reference_gradient, solver_params
from gradcmp.problems.base import Problem, ode_instance

# Tight enough to resolve rk4's error at 1000 steps (about 3e-14), cheap here (146 dopri5 steps).
REFERENCE_TOLERANCE = 1e-14


def _unflatten(theta, dim: int, hidden: int):
    """Views (W1 hidden x dim, b1, W2 dim x hidden, b2) into the flat parameter vector (torch or JAX)."""
    ends = (hidden * dim, hidden * dim + hidden, 2 * hidden * dim + hidden)
    return (theta[:ends[0]].reshape(hidden, dim), theta[ends[0]:ends[1]],
            theta[ends[1]:ends[2]].reshape(dim, hidden), theta[ends[2]:])


def _data(dim, hidden, batch, obs, seed):
    """theta (W1 ~ N(0, 1/dim), W2 ~ N(0, 1/hidden), zero biases), x0 and the targets y_1..y_obs
    ~ N(0, 1), float64 (obs = 1 draws the same numbers as a single target)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    normal = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    theta = torch.cat([normal(hidden * dim) / dim ** 0.5, torch.zeros(hidden, dtype=torch.float64),
                       normal(dim * hidden) / hidden ** 0.5, torch.zeros(dim, dtype=torch.float64)])
    return theta, normal(batch, dim), normal(obs, batch, dim)


def _vector_field(t, x, params):
    import torch

    w1, b1, w2, b2 = params
    return torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(x, w1, b1)), w2, b2)


def _jax_vector_field(t, x, params):
    import jax.numpy as jnp

    w1, b1, w2, b2 = params
    return jnp.tanh(x @ w1.T + b1) @ w2.T + b2


def _system(x0, targets, dim, hidden, horizon, running_cost, options, vector_field=_vector_field):
    """The system on these data; the losses and unpack are written for torch and JAX alike."""
    return OdeSystem(
        vector_field=vector_field,
        x0=x0,
        times=tuple(horizon * k / len(targets) for k in range(len(targets) + 1)),
        terminal_loss=lambda states: ((states[1:] - targets) ** 2).mean(),
        options=options,
        running_cost=(lambda x: (x ** 2).mean()) if running_cost else None,
        unpack=lambda theta: _unflatten(theta, dim, hidden),
        jax=lambda convert: _system(convert(x0), convert(targets), dim, hidden, horizon, running_cost,
                                    options, _jax_vector_field),
    )


@lru_cache(maxsize=32)
def _reference(dim, hidden, batch, horizon, obs, running_cost, seed):
    """The float64 reference gradient of one configuration, computed once per process (lru_cache keyed
    on every param it depends on: not steps, method or tolerances, so a sweep over them reuses it)."""
    theta, x0, targets = _data(dim, hidden, batch, obs, seed)
    system = _system(x0, targets, dim, hidden, horizon, running_cost, SolverOptions())
    return reference_gradient(system, theta, REFERENCE_TOLERANCE)


def build(params, dtype, device, seed):
    dim, hidden, batch, horizon = params["dim"], params["hidden"], params["batch"], params["T"]
    obs, running_cost = params["obs"], params["running_cost"]
    theta, x0, targets = _data(dim, hidden, batch, obs, seed)
    convert = lambda tensor: tensor.to(dtype=dtype, device=device)  # noqa: E731
    system = _system(convert(x0), convert(targets), dim, hidden, horizon, running_cost,
                     SolverOptions.from_params(params))
    info = {"parameters": theta.numel()}
    reference = deadline.attempt(lambda: _reference(dim, hidden, batch, horizon, obs, running_cost, seed),
                                 "reference", info)
    return ode_instance(system, convert(theta), reference, info)


def estimate(params) -> tuple[float, float]:
    """theta, x0 and the targets, three times over (float64, the run's dtype, the reference's leaf);
    no flops: the reference's adaptive solve has no step count to foresee (the time limit cuts it)."""
    dim, hidden, batch, obs = params["dim"], params["hidden"], params["batch"], params["obs"]
    return 3 * (2 * hidden * dim + hidden + dim + batch * dim * (obs + 1)) * 8, 0


PROBLEM = Problem(
    name="neural-ode",
    description="dx/dt = W2 tanh(W1 x + b1) + b2 over a batch, J = mean ||x(t_k) - y_k||^2 at obs times",
    params=(
        *solver_params(steps=100, method="rk4"),
        Param("dim", 4, "state dimension d", minimum=1),
        Param("hidden", 32, "hidden units of the MLP", minimum=1),
        Param("batch", 64, "initial states solved together", minimum=1),
        Param("T", 1.0, "horizon", above=0),
        Param("obs", 1, "observation times T k / obs, k = 1..obs, that the loss compares with targets", minimum=1),
        Param("running_cost", False, "add the integral of mean(x^2) dt over [0, T] to J"),
    ),
    test_params={"steps": 50, "dim": 2, "hidden": 4, "batch": 2},
    build=build,
    provides=frozenset({"ode", "chain"}),
    estimate=estimate,
)
