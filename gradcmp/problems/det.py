"""GradBench's `det` (cmpad's det_by_minor): det(A) of an n x n matrix computed by expansion in minors,
differentiated w.r.t. A.

Expansion in minors along the first row, recursively: det(M) = sum_j (-1)^j M[0, j] det(M without row 0
and column j), down to 1 x 1 minors. It takes about e n! multiplications on purpose (GradBench: "not an
appropriate algorithm for any but the smallest matrices, but a good source of floating point operations"),
so `size` is capped at MAX_SIZE and `estimate` counts the factorial cost, which lets the budget refuse a
size before anything is built.

The loss runs the same recursion breadth first, so torch sees n vectorised steps instead of e n! scalar
ones: step r multiplies each of the n!/(n-r)! partial products of rows 0..r-1 by the entries of row r in
the columns still free, signed by their position among the free columns, and the determinant is the sum
of the n! full products. The column tables are built once per size.

A is uniform on [0, 1) as GradBench draws it, from `--seed`. Reference: the closed form
d det(A) / dA = det(A) A^-T in float64.
"""
from functools import lru_cache

from gradcmp.config import ConfigError, Param
from gradcmp.problems.base import Instance, Problem

MAX_SIZE = 11  # GradBench's largest: about 1.1 x 10^8 products, a few GB for one gradient


@lru_cache(maxsize=2)
def expansion_tables(n: int):
    """For each row r, a (n!/(n-r)!, n-r) int32 numpy array: for each partial product of rows 0..r-1,
    the free columns in increasing order, offset by n at odd positions (those terms take a minus sign:
    the loss reads them from [A[r], -A[r]])."""
    import numpy as np

    tables, free = [], np.arange(n, dtype=np.int32).reshape(1, n)  # free columns of each partial product
    for r in range(n):
        width = n - r
        signs = np.where(np.arange(width) % 2 == 1, n, 0).astype(np.int32)
        tables.append(free + signs)
        if width > 1:  # each child drops one of its parent's free columns
            keep = np.array([[k for k in range(width) if k != j] for j in range(width)])  # (width, width - 1)
            free = free[:, keep].reshape(-1, width - 1)
    return tables


def det_by_minors(A, tables):
    """det(A) by expansion in minors, breadth first (module docstring); tables: expansion_tables(n) as
    tensors on A's device."""
    import torch

    partial = None
    for r, table in enumerate(tables):
        row = A[r]
        terms = torch.cat([row, -row])[table]  # (parents, free columns), signed
        partial = terms if partial is None else partial.unsqueeze(1) * terms
        partial = partial.reshape(-1)
    return partial.sum()


def build(params, dtype, device, seed) -> Instance:
    import torch

    n = params["size"]
    if n > MAX_SIZE:
        raise ConfigError(f"size must be <= {MAX_SIZE} for det: expansion in minors takes about e n! "
                          f"products (n = {n}: {factorial_terms(n):.2g})")
    generator = torch.Generator().manual_seed(seed)
    a64 = torch.rand(n, n, generator=generator, dtype=torch.float64)
    tables = [torch.from_numpy(table).to(device) for table in expansion_tables(n)]
    determinant = torch.linalg.det(a64)
    return Instance(
        x=a64.to(dtype=dtype, device=device),
        loss=lambda a: det_by_minors(a, tables),
        reference=determinant * torch.linalg.inv(a64).T,
        info={"det(A)": f"{float(determinant):.6g}", "condition number": float(torch.linalg.cond(a64)),
              "products": f"{factorial_terms(n):,}"},
    )


def factorial_terms(n: int) -> int:
    """Products the expansion forms: sum over r of n!/(n-r)!, about e n!."""
    total, level = 0, 1
    for r in range(n):
        level *= n - r
        total += level
    return total


def estimate(params) -> tuple[float, float]:
    """The column tables (int32) and, for one differentiated loss, the signed terms and partial products
    kept for backward and their cotangents: about 5 numbers of 8 bytes per product; flops: a few per
    product for the loss and as many for its backward (the closed-form reference is n^3)."""
    n = params["size"]
    terms = factorial_terms(n)
    return 5 * terms * 8 + 16 * n * n, 4 * terms + 10 * n ** 3


PROBLEM = Problem(
    name="det",
    description="GradBench's det: det(A) by expansion in minors (about e n! products), w.r.t. the n x n "
                "matrix A; reference: det(A) A^-T",
    params=(Param("size", 7, f"n, the side of A (<= {MAX_SIZE}: the cost grows as n!)", minimum=1),),
    test_params={"size": 4},
    build=build,
    estimate=estimate,
)
