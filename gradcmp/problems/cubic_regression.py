"""McCallum & Foster's first experiment (2024, "Efficient, accurate and stable gradients for Neural
ODEs"): a neural ODE learning y = x^3 + x on [-2, 2], where reversible and backsolve gradients part.

dx/dt = W2 tanh(W1 x + b1) + b2 (scalar -> hidden tanh -> scalar) from x(0) = x_i, `points` inputs
evenly spaced on [-2, 2]; J = mean (x_i(T) - (x_i^3 + x_i))^2. The paper: midpoint, h = 0.01, T = 1..5,
float64 (steps = 100 T). The reference is what the paper measures against: backprop through the same
discrete solve in float64, so rel. error is each gradient's distance from backprop's.
"""
from gradcmp.config import Param
from gradcmp.ode.system import SolverOptions, solver_params
from gradcmp.problems.base import Problem, ode_instance
from gradcmp.problems.neural_ode import _system


def _data(points, hidden, seed):
    """theta (W1 ~ N(0, 1), W2 ~ N(0, 1/hidden), zero biases), the inputs and their targets, float64."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    normal = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    theta = torch.cat([normal(hidden), torch.zeros(hidden, dtype=torch.float64),
                       normal(hidden) / hidden ** 0.5, torch.zeros(1, dtype=torch.float64)])
    x = torch.linspace(-2.0, 2.0, points, dtype=torch.float64).unsqueeze(1)
    return theta, x, (x ** 3 + x).unsqueeze(0)


def build(params, dtype, device, seed):
    import torch

    theta, x0, targets = _data(params["points"], params["hidden"], seed)
    options = SolverOptions.from_params(params)
    exact = _system(x0, targets, 1, params["hidden"], params["T"], False, options)
    reference_theta = theta.clone().requires_grad_(True)
    (reference,) = torch.autograd.grad(exact.objective(reference_theta), reference_theta)
    convert = lambda tensor: tensor.to(dtype=dtype, device=device)  # noqa: E731
    system = _system(convert(x0), convert(targets), 1, params["hidden"], params["T"], False, options)
    return ode_instance(system, convert(theta), reference, {"parameters": theta.numel()})


PROBLEM = Problem(
    name="cubic-regression",
    description="McCallum & Foster's first experiment: a scalar neural ODE fitting x^3 + x; reference = backprop",
    params=(
        *solver_params(steps=100, method="midpoint"),  # h = T / steps = 0.01 at T = 1
        Param("T", 1.0, "horizon (the paper: 1..5 with steps = 100 T)", above=0),
        Param("points", 1000, "inputs evenly spaced on [-2, 2], solved together", minimum=1),
        Param("hidden", 50, "tanh units of the vector field", minimum=1),
    ),
    build=build,
    provides=frozenset({"ode", "chain"}),
    test_params={"steps": 200, "method": "rk4", "points": 8, "hidden": 4},
)
