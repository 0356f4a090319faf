"""The torch.compile backend of the compiled strategies (`--compile`): inductor, with lowerings for the
small float64 work of an ODE step.

At neural-ode's sizes (64 x 4 x 32 matrix products) a compiled RK4 step's time goes to library calls, not
to arithmetic. Measured on a 2-core AMD EPYC, float64, one thread:
- tanh: inductor's vectorized float64 tanh took 5.4 us of a 2048-element stage (20 forward RK4 steps:
  37.5 us a step with tanh, 15.8 us with relu in its place). Here tanh(x) = 1 - 2 / (exp(2|x|) + 1)
  with x's sign, and for |x| < 1/8, where that form cancels, its odd Taylor series to x^17: within
  8 ulp of torch.tanh (tests/test_compiled.py checks), ~1.7 us a stage.
- addmm(bias, x, w.t()): ATen copies the bias into the output and multiplies by a transposed view;
  here mm(x, contiguous w.t()) + bias, the bias added inside the next fused kernel and the transposed
  weight copied once per compiled call (the same copy for every step: common-subexpression
  elimination). With pattern matching off, since its post-grad pass fuses mm + bias back into addmm.
  With tanh: 37.5 -> 22.6 us per forward RK4 step.
- a.T @ b with at most 256 outputs (a parameter's gradient: a sum over the batch): an inductor sum
  (2.4 -> 1.7 us at 32 x 64 x 4, 1.7 -> 0.4 us at 4 x 64 x 32); adjoint-compiled at 1000 steps:
  91 -> 79 ms. Every small product as such a sum ran slower (151 ms), so only these.
- x @ w with an inner size of at most 4 (neural-ode's x W1^T and lambda W2): a sum of that many outer
  products, fused with the bias, tanh and its derivative into one kernel instead of an MKL call:
  adjoint-compiled 79 -> 73 ms. (The 64 x 32 x 4 products as inductor sums: 108 ms, slower.)

The C++ wrapper: the compiled graph's hundreds of kernel calls without a Python line each
(backprop-compiled at 1000 RK4 steps: 201 ms with the Python wrapper, 110 ms with this).
"""
from __future__ import annotations

# tanh's odd Taylor coefficients, x^1 to x^17: for |x| < 1/8 the x^19 term is below 2^-60 |x|
_TANH_SERIES = (1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
                -929569 / 638512875, 6404582 / 10854718875)
_SERIES_BELOW = 0.125
_SMALL = 256  # outputs of a transposed product (a parameter's gradient) summed by inductor, not MKL
_OUTER = 4  # inner sizes up to this: a product is a sum of outer products


def tanh(x):
    """float64 tanh from exp and a short series (see the module's text); other dtypes: NotImplemented,
    the default lowering."""
    import torch

    if x.dtype != torch.float64:
        return NotImplemented
    magnitude = x.abs()
    square = x * x
    series = _TANH_SERIES[-1]
    for coefficient in reversed(_TANH_SERIES[:-1]):
        series = series * square + coefficient
    far = torch.copysign(1 - 2 / (torch.exp(2 * magnitude) + 1), x)
    return torch.where(magnitude < _SERIES_BELOW, x * series, far)


def _mm(a, b):
    import torch

    if a.t().is_contiguous() and not a.is_contiguous() and b.is_contiguous() and a.shape[0] * b.shape[1] <= _SMALL:
        return (a.t()[:, :, None] * b[:, None, :]).sum(0)
    if 0 < a.shape[1] <= _OUTER:
        b = b if b.is_contiguous() else b.contiguous()
        out = a[:, 0, None] * b[0]
        for k in range(1, a.shape[1]):
            out = out + a[:, k, None] * b[k]
        return out
    if b.is_contiguous():
        return NotImplemented
    return torch.ops.aten.mm.default(a, b.contiguous())


def _addmm(bias, a, b, beta=1, alpha=1):
    import torch

    product = torch.ops.aten.mm.default(a, b if b.is_contiguous() else b.contiguous())
    return (product if alpha == 1 else alpha * product) + (bias if beta == 1 else beta * bias)


class _Lowerings(dict):
    """inductor's decomposition table with the lowerings above. Pickled (inductor's on-disk caches key on
    it) as this module's function and the hash of this file: the table's C++ functions cannot be pickled,
    which made inductor skip its caches and compile every graph afresh each run."""

    def __reduce__(self):
        import hashlib
        from pathlib import Path

        return _lowerings, (hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),)


def _lowerings(source_hash: str = "") -> _Lowerings:
    import torch
    from torch._inductor.decomposition import select_decomp_table

    aten = torch.ops.aten
    return _Lowerings({**select_decomp_table(), aten.tanh.default: tanh, aten.mm.default: _mm,
                       aten.addmm.default: _addmm})


def inductor(graph, example_inputs):
    """A torch.compile backend: inductor with the lowerings above and the C++ wrapper."""
    from torch._inductor.compile_fx import compile_fx

    return compile_fx(graph, example_inputs, config_patches={"cpp_wrapper": True, "pattern_matcher": False},
                      decompositions=_lowerings())
