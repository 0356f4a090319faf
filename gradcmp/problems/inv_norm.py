"""z = ||X^-1||_F (seed 2): a chain X -> Y = X^-1 -> z whose first Jacobian has n^4 entries."""
from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem

SHIFT = 3.0


def build(params, dtype, device, seed) -> Instance:
    """X = 3 I + G / sqrt(n), G standard normal drawn from `seed`.

    ||G / sqrt(n)||_2 is about 2, so the singular values of X lie in about [1, 5] and its
    condition number stays below about 5 at every size: the inverse is well defined and the
    float32 figures are not drowned by ill-conditioning.
    """
    import torch

    from gradcmp import engine

    n = params["size"]
    generator = torch.Generator().manual_seed(seed)
    x64 = SHIFT * torch.eye(n, dtype=torch.float64) + torch.randn(
        n, n, generator=generator, dtype=torch.float64) / n ** 0.5
    y = torch.linalg.inv(x64)
    z = torch.linalg.matrix_norm(y)
    return Instance(
        x=x64.to(dtype=dtype, device=device),
        loss=lambda x: torch.linalg.matrix_norm(torch.linalg.inv(x)),
        chain=(torch.linalg.inv, torch.linalg.matrix_norm),
        numpy_loss=lambda x: engine.norm(engine.inv(x)),
        numpy_x=x64.to(dtype).numpy(),
        reference=-(y.T @ y @ y.T) / z,  # dz/dX = -(Y^T Y Y^T) / z, Y = X^-1
        info={"condition number": float(torch.linalg.cond(x64))},
    )


def estimate(params) -> tuple[float, float]:
    """About ten float64 n x n matrices (X, its inverse, the reference's products, the copies each
    dtype and numpy need) and 20 n^3 flops (inverse, the singular values for the condition number,
    the reference's products)."""
    n = params["size"]
    return 10 * n * n * 8, 20 * n ** 3


PROBLEM = Problem(
    name="inv-norm",
    description="z = ||X^-1||_F for an n x n well-conditioned X",
    params=(Param("size", 64, "n, the side of the matrix X", minimum=1),),
    test_params={"size": 5},
    build=build,
    provides=frozenset({"chain", "numpy"}),
    estimate=estimate,
)
