"""GradBench's `lse`: log-sum-exp of a vector, computed the stable way from its primitives,
differentiated w.r.t. the vector.

    LSE(x) = a + log sum_i exp(x_i - a),   a = max x

The max is part of the differentiated function, as GradBench asks (no builtin logsumexp): its derivative
cancels, since LSE does not depend on a. x is uniform on [0, `spread`) from `--seed`. GradBench draws
[0, 1) (spread = 1), where every softmax entry is below e / ((e - 1) n); its validator compares entries
as |a - b| / max(1, |a| + |b|) <= 1e-4 (ADBench's rule), so from n of about 16,000 on a gradient of
zeros passes it. gradcmp's relative error (a norm over all entries) fails it at every n, and a larger
spread makes the softmax peaked and exercises the max shift (without it exp overflows past x = 88 in
float32, 709 in float64).

Reference: the closed form softmax(x) in float64.
"""
from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem


def logsumexp(x):
    """a + log(sum(exp(x - a))), a = max(x): torch, the max differentiated along with the rest."""
    import torch

    top = x.max()
    return top + torch.log(torch.exp(x - top).sum())


def build(params, dtype, device, seed) -> Instance:
    import torch

    from gradcmp import engine

    n, spread = params["size"], params["spread"]
    generator = torch.Generator().manual_seed(seed)
    x64 = spread * torch.rand(n, generator=generator, dtype=torch.float64)
    x_np = x64.to(dtype).numpy()
    # The engine has no max: its twin shifts by the max of the starting x, a constant, which gives the
    # same function and gradient (LSE(x) = c + log sum exp(x - c) for every c) and is stable near x.
    shift = float(x_np.max())
    return Instance(
        x=x64.to(dtype=dtype, device=device),
        loss=logsumexp,
        numpy_loss=lambda x: engine.log(engine.exp(x - shift).sum()) + shift,
        numpy_x=x_np,
        reference=torch.softmax(x64, 0),
        info={"largest softmax entry": f"{float(torch.softmax(x64, 0).max()):.3g}"},
    )


def estimate(params) -> tuple[float, float]:
    """x and its exponentials a few times (float64, the run's dtype, numpy's copy, the reference);
    flops: a few per entry."""
    n = params["size"]
    return 8 * n * 8, 20 * n


PROBLEM = Problem(
    name="lse",
    description="GradBench's lse: log sum exp(x) with the max shift, w.r.t. the vector x; reference: softmax(x)",
    params=(
        Param("size", 10_000, "n, the length of x", minimum=1),
        Param("spread", 1.0, "x is uniform on [0, spread) (GradBench: 1)", above=0),
    ),
    test_params={"size": 7, "spread": 10.0},
    build=build,
    provides=frozenset({"numpy"}),
    estimate=estimate,
)
