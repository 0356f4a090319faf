"""GradBench's `llsq` (cmpad's llsq_obj): a linear least squares objective, differentiated w.r.t. the
polynomial's m coefficients.

    y(x) = 1/2 sum_{i=0}^{n-1} (s_i - x_0 - x_1 t_i - ... - x_{m-1} t_i^{m-1})^2
    t_i  = -1 + 2 i / (n - 1),   s_i = sign(t_i)

so y = 1/2 ||s - V x||^2 with V the n x m Vandermonde matrix V[i, j] = t_i^j (built once). x is uniform
on [0, 1) as GradBench draws it, from `--seed`; t and s are fixed. Reference: the closed form
dy/dx = -V^T (s - V x) in float64.
"""
from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem


def data(n: int, m: int):
    """(V, s) in float64: t_i = -1 + i * 2 / (n - 1) as GradBench computes it, V[i, j] = t_i^j."""
    import torch

    t = -1 + torch.arange(n, dtype=torch.float64) * 2 / (n - 1)
    return torch.vander(t, m, increasing=True), torch.sign(t)


def build(params, dtype, device, seed) -> Instance:
    import torch

    from gradcmp import engine

    n, m = params["n"], params["m"]
    generator = torch.Generator().manual_seed(seed)
    x64 = torch.rand(m, generator=generator, dtype=torch.float64)
    V64, s64 = data(n, m)
    V, s = V64.to(dtype=dtype, device=device), s64.to(dtype=dtype, device=device)
    V_np, s_np = V64.to(dtype).numpy(), s64.to(dtype).numpy()

    def residual(x):
        return s - V @ x

    def half_square(r):
        # "/ 2", not "0.5 *": torch.func.jvp gives a float64 tangent for a Python float times a 0-dim
        # float32 tensor, and an int does not promote
        return r.square().sum() / 2

    return Instance(
        x=x64.to(dtype=dtype, device=device),
        loss=lambda x: half_square(residual(x)),
        chain=(residual, half_square),
        numpy_loss=lambda x: 0.5 * engine.square(s_np - V_np @ x).sum(),
        numpy_x=x64.to(dtype).numpy(),
        reference=-(V64.T @ (s64 - V64 @ x64)),
        info={"V": f"{n} x {m}"},
    )


def estimate(params) -> tuple[float, float]:
    """V three times (float64, the run's dtype, numpy's copy) and a few n- and m-vectors; flops: the
    products V x and V^T r of the loss and the reference."""
    n, m = params["n"], params["m"]
    return (3 * n * m + 6 * n + 4 * m) * 8, 4 * n * m


PROBLEM = Problem(
    name="llsq",
    description="GradBench's llsq: 1/2 sum_i (sign(t_i) - sum_j x_j t_i^j)^2 over n points, w.r.t. the m "
                "coefficients x; reference: -V^T (s - V x)",
    params=(
        Param("n", 1024, "points t_i evenly spaced on [-1, 1]", minimum=2),
        Param("m", 128, "coefficients x (the polynomial's degree + 1)", minimum=1),
    ),
    test_params={"n": 9, "m": 4},  # odd n: the middle point t = 0 has sign 0
    build=build,
    provides=frozenset({"chain", "numpy"}),
    estimate=estimate,
)
