"""loss = sum(v * sin(W y)) (seed 1): differentiated with respect to the weight matrix W."""
from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem


def build(params, dtype, device, seed) -> Instance:
    """W (m x n) = G / sqrt(n), y and v standard normal, all drawn from `seed`."""
    import torch

    from gradcmp import engine

    n = params["size"]
    m = params["m"] or n
    generator = torch.Generator().manual_seed(seed)
    w64 = torch.randn(m, n, generator=generator, dtype=torch.float64) / n ** 0.5
    y64 = torch.randn(n, generator=generator, dtype=torch.float64)
    v64 = torch.randn(m, generator=generator, dtype=torch.float64)
    y, v = y64.to(dtype=dtype, device=device), v64.to(dtype=dtype, device=device)
    y_np, v_np = y64.to(dtype).numpy(), v64.to(dtype).numpy()
    return Instance(
        x=w64.to(dtype=dtype, device=device),
        loss=lambda w: (v * torch.sin(w @ y)).sum(),
        chain=(lambda w: w @ y, torch.sin, lambda s: (v * s).sum()),
        numpy_loss=lambda w: (v_np * engine.sin(w @ y_np)).sum(),
        numpy_x=w64.to(dtype).numpy(),
        reference=torch.outer(v64 * torch.cos(w64 @ y64), y64),  # VJP of sin(Wy) w.r.t. W, seed 1
        info={"W": f"{m} x {n}"},
    )


def estimate(params) -> tuple[float, float]:
    """W three times (float64, the run's dtype, numpy's copy) and the reference's outer product,
    a few vectors; flops: the products W y of the loss and the reference."""
    n = params["size"]
    m = params["m"] or n
    return (4 * m * n + 8 * (m + n)) * 8, 4 * m * n


PROBLEM = Problem(
    name="sin-wy",
    description="loss = sum(v * sin(W y)), differentiated w.r.t. the m x n matrix W",
    params=(
        Param("size", 64, "n, the length of y (columns of W)", minimum=1),
        Param("m", 0, "rows of W (0: same as size)", minimum=0),
    ),
    test_params={"size": 6, "m": 4},  # a non-square W, so a transposed index cannot pass
    build=build,
    provides=frozenset({"chain", "numpy"}),
    estimate=estimate,
)
