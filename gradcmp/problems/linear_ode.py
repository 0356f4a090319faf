"""dx/dt = A x: the ODE whose exact gradient is known, so the solver's own error shows."""
from gradcmp import deadline
from gradcmp.config import Param
from gradcmp.ode import SOLVERS
from gradcmp.ode.system import OdeSystem, SolverOptions, solver_params
from gradcmp.problems.base import Problem, ode_instance


def exact_loss_and_gradient(a, x0, target, horizon):
    """(J, dJ/dA) for J = mean over the batch of ||x_T - y||^2, x_T = expm(A T) x0, in closed form.

    With rows as states, X_T = X0 expm(A T)^T and G = dJ/dX_T = 2 (X_T - Y) / B, so
    dJ = <G^T X0, L(A T, T dA)>, L(X, E) the Frechet derivative of expm at X in direction E.
    The adjoint of E -> L(X, E) is W -> L(X^T, W), hence dJ/dA = T L(A^T T, G^T X0), and
    L(X, W) is the upper right block of expm([[X, W], [0, X]]) (Higham, Functions of Matrices, 3.2).
    Cost: one matrix exponential of size 2n.
    """
    import torch

    n, batch = a.shape[0], x0.shape[0]
    x_t = x0 @ torch.linalg.matrix_exp(a * horizon).T
    residual = x_t - target
    loss = residual.pow(2).sum() / batch
    direction = (2 / batch) * residual.T @ x0
    block = torch.zeros(2 * n, 2 * n, dtype=a.dtype, device=a.device)
    block[:n, :n] = block[n:, n:] = a.T * horizon
    block[:n, n:] = direction
    return loss, horizon * torch.linalg.matrix_exp(block)[:n, n:]


def _data(n, batch, seed):
    """A = G / sqrt(n) - I (eigenvalues within the unit disc around -1: stable, not stiff), X0, Y ~ N(0, 1)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    normal = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    a = normal(n, n) / n ** 0.5 - torch.eye(n, dtype=torch.float64)
    return a, normal(batch, n), normal(batch, n)


def _system(x0, target, horizon, options):
    """The system on these data, written for torch and JAX alike."""
    return OdeSystem(
        vector_field=lambda t, x, a: x @ a.T,
        x0=x0,
        times=(0.0, horizon),
        terminal_loss=lambda states: ((states[-1] - target) ** 2).sum() / x0.shape[0],
        options=options,
        jax=lambda convert: _system(convert(x0), convert(target), horizon, options),
    )


def build(params, dtype, device, seed):
    return linear_instance(*_data(params["n"], params["batch"], seed), params, dtype, device)


def linear_instance(a, x0, target, params, dtype, device):
    """The Instance of dx/dt = A x from float64 data (A, X0, Y) and the solver params in `params`.

    Reference: the exact gradient. Info: how far the measured solver's x_T and its own exact
    (backprop, float64) gradient are from the truth -- the floor no strategy on this grid can beat;
    over the time budget, the info says so and the instance is built without it."""
    import torch

    horizon = params["T"]
    _, reference = exact_loss_and_gradient(a, x0, target, horizon)
    options = SolverOptions.from_params(params)
    info = {}

    def solver_floor():
        exact_x_t = x0 @ torch.linalg.matrix_exp(a * horizon).T
        solver64 = _system(x0, target, horizon, options)
        theta = a.clone().requires_grad_(True)
        states = solver64.trajectory(theta)
        (discrete_gradient,) = torch.autograd.grad(solver64.loss_of_trajectory(states), theta)
        info["x_T rel. error"] = float((states[-1].detach() - exact_x_t).norm() / exact_x_t.norm())
        info["discrete grad rel. error"] = float((discrete_gradient - reference).norm() / reference.norm())

    deadline.attempt(solver_floor, "solver error floor", info)
    convert = lambda tensor: tensor.to(dtype=dtype, device=device)  # noqa: E731
    system = _system(convert(x0), convert(target), horizon, options)
    return ode_instance(system, convert(a), reference, info)


def estimate(params) -> tuple[float, float]:
    """The float64 solve differentiated for the info line keeps a few states per stage of every
    step (dopri5: taken as `steps` steps), and the matrix exponentials of size 2n; flops: that
    solve forward and backward plus the exponentials."""
    n, batch, steps = params["n"], params["batch"], params["steps"]
    evaluations = steps * getattr(SOLVERS[params["method"]], "stages", 7)
    return 4 * evaluations * batch * n * 8 + 10 * (2 * n) ** 2 * 8, 6 * evaluations * batch * n * n + 30 * (2 * n) ** 3


PROBLEM = Problem(
    name="linear-ode",
    description="dx/dt = A x, J = mean ||x_T - y||^2, d/dA exact via the Frechet derivative of expm",
    params=(
        *solver_params(steps=100, method="rk4"),
        Param("n", 8, "state dimension (A is n x n)", minimum=1),
        Param("batch", 4, "initial states solved together", minimum=1),
        Param("T", 1.0, "horizon", above=0),
    ),
    test_params={"steps": 400, "n": 3, "batch": 2},  # rk4's error below 1e-11
    build=build,
    provides=frozenset({"ode", "chain"}),
    estimate=estimate,
)
