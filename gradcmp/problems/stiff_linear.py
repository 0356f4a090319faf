"""dx/dt = A x with A dissipative and stiff: the problem where the backsolve adjoint goes wrong."""
from gradcmp.config import Param
from gradcmp.ode.system import solver_params
from gradcmp.problems.base import Problem
from gradcmp.problems.linear_ode import estimate, linear_instance


def _data(n, batch, stiffness, seed):
    """A = Q diag(-1 ... -stiffness) Q^T (Q a random rotation: symmetric, eigenvalues evenly spread),
    X0 and Y ~ N(0, 1), float64."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    normal = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    rotation, _ = torch.linalg.qr(normal(n, n))
    eigenvalues = -torch.linspace(1.0, stiffness, n, dtype=torch.float64)
    return (rotation * eigenvalues) @ rotation.T, normal(batch, n), normal(batch, n)


def build(params, dtype, device, seed):
    """linear-ode's instance (exact reference gradient) on stiff data. Solving x backwards from x_T
    multiplies any error in it by up to exp(stiffness T): the info line states that factor, as text
    worked out through its log10, since beyond stiffness T = 709 it is no float."""
    import math

    data = _data(params["n"], params["batch"], params["stiffness"], seed)
    instance = linear_instance(*data, params, dtype, device)
    exponent = params["stiffness"] * params["T"] / math.log(10)
    instance.info["backward growth"] = f"{10 ** (exponent % 1):.3g}e+{math.floor(exponent):02d}"
    return instance


PROBLEM = Problem(
    name="stiff-linear",
    description="dx/dt = A x, eigenvalues of A from -1 to -stiffness: x solved backwards blows up",
    params=(
        *solver_params(steps=200, method="rk4"),  # rk4 step x fastest rate = 0.25
        Param("n", 8, "state dimension (A is n x n)", minimum=1),
        Param("batch", 4, "initial states solved together", minimum=1),
        Param("T", 1.0, "horizon", above=0),
        Param("stiffness", 50.0, "the fastest decay rate: A's eigenvalues run from -1 to -stiffness", minimum=1),
    ),
    test_params={"steps": 200, "n": 3, "batch": 2, "stiffness": 5.0},  # mild: the backsolve adjoint meets the reference too
    build=build,
    provides=frozenset({"ode", "chain"}),
    estimate=estimate,
)
