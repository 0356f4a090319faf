"""Lotka-Volterra predator-prey: 2 states, 4 parameters, a loss on several observation times."""
from functools import lru_cache

from gradcmp import deadline
from gradcmp.config import Param
from gradcmp.ode.system import OdeSystem, SolverOptions, reference_gradient, reference_options, solver_params
from gradcmp.problems.base import Problem, ode_instance

# du/dt = alpha u - beta u v (prey), dv/dt = delta u v - gamma v (predators): the textbook values.
TRUE_THETA = (1.5, 1.0, 1.0, 3.0)  # alpha, beta, delta, gamma
X0 = (1.0, 1.0)
PERTURBATION = 0.1  # theta = TRUE_THETA * (1 + 0.1 N(0, 1)): the data were made by TRUE_THETA


def vector_field(t, x, params):
    import torch

    alpha, beta, delta, gamma = params
    u, v = x.unbind(-1)
    uv = u * v
    return torch.stack([alpha * u - beta * uv, delta * uv - gamma * v], -1)


def _jax_vector_field(t, x, params):
    import jax.numpy as jnp

    alpha, beta, delta, gamma = params
    u, v = x[..., 0], x[..., 1]
    uv = u * v
    return jnp.stack([alpha * u - beta * uv, delta * uv - gamma * v], -1)


def _system(x0, targets, times, options, vector_field=vector_field, unpack=lambda theta: theta.unbind()):
    """The system on these data; the loss is written for torch and JAX alike."""
    return OdeSystem(
        vector_field=vector_field,
        x0=x0,
        times=times,
        terminal_loss=lambda states: ((states[1:] - targets) ** 2).mean(),
        options=options,
        unpack=unpack,
        jax=lambda convert: _system(convert(x0), convert(targets), times, options, _jax_vector_field, tuple),
    )


def _times(horizon, obs):
    return tuple(horizon * k / obs for k in range(obs + 1))


def _theta_x0(seed):
    import torch

    generator = torch.Generator().manual_seed(seed)
    truth = torch.tensor(TRUE_THETA, dtype=torch.float64)
    theta = truth * (1 + PERTURBATION * torch.randn(4, generator=generator, dtype=torch.float64))
    return truth, theta, torch.tensor(X0, dtype=torch.float64)


@lru_cache(maxsize=32)
def _targets(horizon, obs, options):
    """The data: the solution at TRUE_THETA at the observation times, solved with `options`."""
    import torch

    truth, _, x0 = _theta_x0(0)
    with torch.no_grad():
        return _system(x0, None, _times(horizon, obs), options).trajectory(truth)[1:]


@lru_cache(maxsize=32)
def _reference(horizon, obs, seed):
    """The reference gradient from reference_gradient (about 2 s at T = 10: 1200 dopri5 steps),
    computed once per process (lru_cache keyed on every param it depends on)."""
    _, theta, x0 = _theta_x0(seed)
    system = _system(x0, _targets(horizon, obs, reference_options()), _times(horizon, obs), SolverOptions())
    return reference_gradient(system, theta)


def build(params, dtype, device, seed):
    """Targets from a reference-accuracy solve; where that is over the time budget or fails (a long
    horizon), from the measured solver instead, and no reference: the info says which."""
    horizon, obs = params["T"], params["obs"]
    _, theta, x0 = _theta_x0(seed)
    options = SolverOptions.from_params(params)
    info = {"theta": " ".join(f"{value:.3f}" for value in theta.tolist())}
    targets = deadline.attempt(lambda: _targets(horizon, obs, reference_options()), "reference-accuracy data", info)
    reference = None
    if targets is None:
        targets = _targets(horizon, obs, options)
        info["targets"] = "solved with the measured solver settings"
        info["reference"] = "not computed: it needs the reference-accuracy data"
    else:
        reference = deadline.attempt(lambda: _reference(horizon, obs, seed), "reference", info)
    convert = lambda tensor: tensor.to(dtype=dtype, device=device)  # noqa: E731
    system = _system(convert(x0), convert(targets), _times(horizon, obs), options)
    return ode_instance(system, convert(theta), reference, info)


PROBLEM = Problem(
    name="lotka-volterra",
    description="predator-prey ODE, theta = (alpha, beta, delta, gamma), J = mean squared misfit at obs times",
    params=(
        *solver_params(steps=200, method="rk4"),
        Param("T", 10.0, "horizon (about 2 predator-prey cycles at the default theta)", above=0),
        Param("obs", 10, "evenly spaced observation times in (0, T]", minimum=1),
    ),
    test_params={"steps": 200, "T": 1.0, "obs": 2},  # a short horizon: a cheap reference, rk4's error about 4e-10
    build=build,
    provides=frozenset({"ode", "chain"}),
)
