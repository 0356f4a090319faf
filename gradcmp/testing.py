"""An assertion for a test suite: the same gradient by several strategies must agree.

    from gradcmp.testing import assert_gradients_agree
    assert_gradients_agree(lambda x: my_op(x).sum(), x)              # whole gradients
    assert_gradients_agree(my_op, x, directions=4)                   # 4 random v^T J u, cost flat in x.numel()
"""
from __future__ import annotations

from typing import Callable, Sequence


def default_rtol(dtype, finite_differences: bool) -> float:
    """sqrt(eps) between derivative code (1.5e-8 in float64, 3.5e-4 in float32); eps^(1/3) when finite
    differences are in the pair (6.1e-6, 4.9e-3): their step is eps^(1/3), their error about its square
    times the curvature, plus rounding of the loss over the step."""
    import torch

    eps = torch.finfo(dtype).eps
    return eps ** (1 / 3) if finite_differences else eps ** 0.5


def _scalar(function, x, generator):
    """`function` itself when it returns a scalar; else x -> sum(v * function(x)) for a fixed random v,
    so the comparison is of v^T J."""
    import torch

    with torch.no_grad():
        output = function(x)
    if output.numel() == 1:
        return lambda x: function(x).reshape(())
    v = torch.randn(output.shape, generator=generator, dtype=torch.float64).to(output.dtype).to(output.device)
    return lambda x: (v * function(x)).sum()


def _jvp_along(loss, x, u):
    """d loss(x + t u) / dt at 0 by forward mode (dual numbers: autograd.Functions with a jvp work)."""
    import torch.autograd.forward_ad as forward_ad

    with forward_ad.dual_level():
        return forward_ad.unpack_dual(loss(forward_ad.make_dual(x, u))).tangent


def _finite_diff_along(loss, x, u):
    """Central difference along the unit direction u, step eps^(1/3) max(1, |x|_inf)."""
    import torch

    step = torch.finfo(x.dtype).eps ** (1 / 3) * max(1.0, x.abs().max().item())
    with torch.no_grad():
        return (loss(x + step * u) - loss(x - step * u)) / (2 * step)


# Strategies with a cheaper directional form than the whole gradient: k directions cost k, not x.numel().
DIRECTIONAL = {"jvp": _jvp_along, "finite-diff": _finite_diff_along}


def _values(name, instance, directions):
    """The strategy's whole gradient, or its derivatives along each of `directions` (rows of a matrix)."""
    import torch

    from gradcmp.strategies import strategy

    if directions is not None and name in DIRECTIONAL:
        x = instance.x.detach()
        return torch.stack([DIRECTIONAL[name](instance.loss, x, u.view_as(x)).reshape(()) for u in directions])
    gradient = strategy(name).gradient(instance).reshape(-1)
    return gradient if directions is None else directions @ gradient


def assert_gradients_agree(loss: Callable, x, strategies: Sequence[str] = ("vjp", "jvp", "finite-diff"),
                           rtol: float | None = None, atol: float | None = None, directions: int | None = None,
                           seed: int = 0) -> None:
    """Compute d loss / d x with each strategy and assert they all agree with the first one.

    loss        a function of the tensor x; a non-scalar output y is contracted with a fixed random
                v (seeded), so v^T J is compared
    strategies  names from `gradcmp list` that work on a plain function: vjp, jvp, finite-diff, jacobian
    rtol, atol  a pair agrees when ||a - b|| <= atol + rtol ||b|| (norms over all entries). Defaults
                from x's dtype: sqrt(eps) between derivative code (1.5e-8 float64, 3.5e-4 float32),
                eps^(1/3) when finite-diff is in the pair (6.1e-6 float64, 4.9e-3 float32); atol 0
    directions  k: compare k random unit directional derivatives grad . u (v^T J u) instead of whole
                gradients: jvp and finite-diff then cost k evaluations, not x.numel() (gradcheck's
                fast mode idea)
    seed        of the random v and u

    Raises AssertionError whose message is the comparison table when a pair disagrees or a strategy
    fails (its row says why).
    """
    import torch

    from gradcmp.config import ConfigError
    from gradcmp.problems.base import Instance
    from gradcmp.strategies import strategy

    strategies = [strategies] if isinstance(strategies, str) else list(strategies)
    if len(strategies) < 2:
        raise ValueError(f"give at least two strategies to compare, got {strategies!r}")
    if directions is not None and (isinstance(directions, bool) or not isinstance(directions, int) or directions < 1):
        raise ValueError(f"directions must be a positive number of random directions (or None), got {directions!r}")
    for name in strategies:
        try:
            needs = strategy(name).requirements()
        except ConfigError as error:
            raise ValueError(str(error)) from None
        if needs - {"chain"}:
            raise ValueError(f"strategy {name!r} does not work on a plain function; use vjp, jvp, finite-diff "
                             "or jacobian")
    generator = torch.Generator().manual_seed(seed)
    x = x.detach()
    scalar = _scalar(loss, x, generator)
    instance = Instance(x=x, loss=scalar, reference=None, chain=(scalar,))
    units = None
    if directions is not None:
        units = torch.randn(directions, x.numel(), generator=generator, dtype=torch.float64)
        units = (units / units.norm(dim=1, keepdim=True)).to(dtype=x.dtype, device=x.device)
    first, *others = strategies
    rows, failed = [], []
    try:
        baseline = _values(first, instance, units)
    except Exception as error:
        raise AssertionError(f"{first} failed: {type(error).__name__}: {error}") from error
    rows.append((first, "-", "-", "-", "baseline"))
    for name in others:
        tolerance = rtol if rtol is not None else default_rtol(x.dtype, "finite-diff" in (first, name))
        try:
            value = _values(name, instance, units)
        except Exception as error:
            rows.append((name, "-", "-", "-", f"FAILED: {type(error).__name__}: {error}".splitlines()[0]))
            failed.append(name)
            continue
        difference = (value - baseline).norm().item()
        relative = difference / (baseline.norm().item() or 1.0)
        agrees = difference <= (atol or 0.0) + tolerance * baseline.norm().item()
        rows.append((name, f"{relative:.1e}", f"{(value - baseline).abs().max().item():.1e}", f"{tolerance:.1e}",
                     "yes" if agrees else "NO"))
        if not agrees:
            failed.append(name)
    if failed:
        compared = f"{directions} random directional derivatives" if directions else "whole gradients"
        dtype = str(x.dtype).removeprefix("torch.")
        header = (f"gradients disagree ({', '.join(failed)}): {compared} at x of {x.numel()} entries, {dtype}, "
                  f"against {first}")
        raise AssertionError("\n".join([header, _table(rows)]))


def _table(rows) -> str:
    """Plain text columns (pytest prints the message as is)."""
    headers = ("strategy", "rel. diff", "max abs diff", "rtol", "agrees")
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in (headers, *rows))
