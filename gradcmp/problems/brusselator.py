"""The 2-D Brusselator reaction-diffusion system on an n x n periodic grid, as SciMLBenchmarks'
BrussScaling benchmark sets it (benchmarks/AutomaticDifferentiation/BrussScaling.jmd, from Ma,
Dixit, Rackauckas et al., "A Comparison of Automatic Differentiation and Continuous Sensitivity
Analysis for Derivatives of Differential Equation Solutions", 2021):

    du/dt = alpha_u lap(u) + B + u^2 v - (A + 1) u + f(x, y, t)
    dv/dt = alpha_v lap(v) + A u - u^2 v

per cell, lap the 5-point periodic Laplacian on the grid points x, y = 0, 1/(n-1), ..., 1 (both ends
are grid points, as range(0, 1, length=n) in the benchmark, and the periodic wrap joins them), f = 5 on
the disc (x - 0.3)^2 + (y - 0.6)^2 <= 0.1^2 from t = 1.1 on (never, on the default horizon [0, 1]),
u(0) = 22 (y (1 - y))^(3/2), v(0) = 27 (x (1 - x))^(3/2). The parameters are per cell: theta =
(A: n^2, B: n^2, alpha: 2 n^2, u's then v's) = 4 n^2 numbers (400 at n = 10), all cells starting at
A = 3.4, B = 1, alpha = 10. J = sum over the observation times t_k = T k / obs, k = 0..obs, of
sum (1 - z)^2 / 2 over the 2 n^2 states z (the benchmark's loss: its saveat = 0:0.1:1 is obs = 10).

The state is flat, 2 n^2 entries in the benchmark's order (u then v, x fastest), as are theta's parts.
Stiff: the fastest diffusion rate is alpha 8 / dx^2 (720 at n = 4, 6480 at n = 10), so an explicit
method needs steps of dt < 2.8 / that (rk4) whatever the accuracy, where sdirk3's are bounded by
accuracy alone.
"""
from functools import lru_cache

from gradcmp import deadline
from gradcmp.config import Param
from gradcmp.ode.system import OdeSystem, SolverOptions, solver_params
from gradcmp.problems.base import Problem, ode_instance

A0, B0 = 3.4, 1.0  # the benchmark's p = [fill(3.4, N^2); fill(1.0, N^2); fill(10.0, 2 N^2)]
FORCING, FORCING_START = 5.0, 1.1
REFERENCE_TOLERANCE = 1e-12


def _grid(n: int):
    """(x, y of every cell as (n, n) arrays indexed [j, i], i along x; dx), float64 torch tensors."""
    import torch

    points = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    y, x = torch.meshgrid(points, points, indexing="ij")
    return x, y, 1.0 / (n - 1)


def _data(n: int, alpha: float):
    """(theta, x0, the forcing's disc as a 0/1 mask (n, n)), float64."""
    import torch

    x, y, _ = _grid(n)
    cells = n * n
    theta = torch.cat([torch.full((cells,), A0, dtype=torch.float64), torch.full((cells,), B0, dtype=torch.float64),
                       torch.full((2 * cells,), alpha, dtype=torch.float64)])
    x0 = torch.cat([(22 * (y * (1 - y)) ** 1.5).reshape(-1), (27 * (x * (1 - x)) ** 1.5).reshape(-1)])
    disc = (((x - 0.3) ** 2 + (y - 0.6) ** 2) <= 0.1 ** 2).to(torch.float64)
    return theta, x0, disc


def _vector_field(disc, inverse_dx2: float, roll, stack):
    """The vector field on this grid, written once for torch and JAX: `roll(z, shift, axis)` is their
    periodic shift, `stack` their stack; the forcing's disc and 1/dx^2 are data, not parameters."""
    n = disc.shape[0]

    def vector_field(t, state, params):
        a, b, alpha = params
        z = state.reshape(2, n, n)
        laplacian = (roll(z, 1, 1) + roll(z, -1, 1) + roll(z, 1, 2) + roll(z, -1, 2) - 4 * z) * inverse_dx2
        u, v = z[0], z[1]
        u2v = u * u * v
        forcing = disc * (FORCING * (t >= FORCING_START))  # t a float or a traced scalar: no branch
        du = alpha[0] * laplacian[0] + b + u2v - (a + 1) * u + forcing
        dv = alpha[1] * laplacian[1] + a * u - u2v
        return stack([du, dv]).reshape(state.shape)

    return vector_field


def _torch(disc, inverse_dx2):
    import torch

    return _vector_field(disc, inverse_dx2, torch.roll, torch.stack)


def _jax(disc, inverse_dx2):
    import jax.numpy as jnp

    return _vector_field(disc, inverse_dx2, jnp.roll, jnp.stack)


def _unpack(theta, n: int):
    """theta -> (A (n, n), B (n, n), alpha (2, n, n)), views of theta (torch or JAX)."""
    cells = n * n
    return theta[:cells].reshape(n, n), theta[cells:2 * cells].reshape(n, n), theta[2 * cells:].reshape(2, n, n)


def _system(x0, disc, n, horizon, obs, options, field=_torch):
    """The system on these data; the loss and unpack are written for torch and JAX alike."""
    return OdeSystem(
        vector_field=field(disc, float((n - 1) ** 2)),
        x0=x0,
        times=tuple(horizon * k / obs for k in range(obs + 1)),
        terminal_loss=lambda states: ((1 - states) ** 2).sum() / 2,
        options=options,
        unpack=lambda theta: _unpack(theta, n),
        jax=lambda convert: _system(convert(x0), convert(disc), n, horizon, obs, options, _jax),
    )


def reference_gradient(system, theta):
    """dJ/dtheta from the continuous adjoint with x recomputed from checkpoints (adjoint-checkpoint),
    float64 dopri5 at rtol = atol = REFERENCE_TOLERANCE forwards and backwards: lambda under error
    control, x restarted from the recomputed forward solution at every backward step.

    Not gradcmp.ode.system.reference_gradient (backprop through a dopri5 solve): on this stiff system
    dopri5's accepted steps sit at the edge of its stability region, and the exact derivative of that
    discrete solution is not the gradient (measured at n = 4: relative error 1e82 to 1e89 for rtol
    1e-8 to 1e-12, in a checkerboard sign pattern). This one agreed with rk4 at 4000 and 8000 steps
    Richardson-extrapolated (fixed steps inside rk4's stability interval; 62 s) to 3.0e-12 at n = 4."""
    from collections import Counter
    from dataclasses import replace
    from functools import partial

    from gradcmp.ode.adjoint import adjoint_trajectory
    from gradcmp.ode.system import reference_options

    fine = replace(system, options=reference_options(REFERENCE_TOLERANCE))
    return fine.gradient_through(partial(adjoint_trajectory, checkpointed=True), theta, Counter())


@lru_cache(maxsize=32)
def _reference(n, alpha, horizon, obs):
    """The reference gradient of one configuration, computed once per process (about 8 s at the defaults)."""
    theta, x0, disc = _data(n, alpha)
    return reference_gradient(_system(x0, disc, n, horizon, obs, SolverOptions()), theta)


def build(params, dtype, device, seed):
    """No random data: the benchmark's fixed theta and initial state (seed is not used)."""
    n, alpha, horizon, obs = params["n"], params["alpha"], params["T"], params["obs"]
    theta, x0, disc = _data(n, alpha)
    convert = lambda tensor: tensor.to(dtype=dtype, device=device)  # noqa: E731
    system = _system(convert(x0), convert(disc), n, horizon, obs, SolverOptions.from_params(params))
    fastest = alpha * 8 * (n - 1) ** 2
    info = {"parameters": theta.numel(), "states": x0.numel(),
            "fastest diffusion rate": f"{fastest:.4g} (rk4 is stable for steps >= {fastest * horizon / 2.79:.0f})"}
    info["reference"] = f"float64 dopri5 rtol=atol={REFERENCE_TOLERANCE:g}, continuous adjoint (adjoint-checkpoint)"
    reference = deadline.attempt(lambda: _reference(n, alpha, horizon, obs), "reference", info)
    return ode_instance(system, convert(theta), reference, info)


PROBLEM = Problem(
    name="brusselator",
    description="2-D Brusselator reaction-diffusion on an n x n periodic grid (SciML's BrussScaling), "
                "theta = per-cell (A, B, alpha_u, alpha_v)",
    params=(
        *solver_params(steps=300, method="rk4"),
        Param("n", 4, "grid points per side: 2 n^2 states, 4 n^2 parameters (n = 10: 200 and 400)", minimum=3),
        Param("alpha", 10.0, "the diffusion coefficients theta starts from (sets the stiffness: alpha 8 (n-1)^2)",
             above=0),
        Param("T", 1.0, "horizon (the forcing switches on at t = 1.1)", above=0),
        Param("obs", 10, "observation times T k / obs, k = 0..obs, in the loss", minimum=1),
    ),
    # 18 states, 36 parameters, mild (fastest rate 3.2): the backsolve adjoint meets the reference too; rk4's error 2e-9
    test_params={"steps": 120, "n": 3, "alpha": 0.1, "T": 0.25, "obs": 2},
    build=build,
    provides=frozenset({"ode", "chain"}),
)
