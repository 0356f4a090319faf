"""The torch.compile backend of the compiled strategies (`--compile`): inductor, with three lowerings for
the small float64 work of an ODE step.

At neural-ode's sizes (64 x 4 x 32 matrix products) a compiled RK4 step's time goes to a few library
calls, not to arithmetic. Measured on a 2-core AMD EPYC, float64, one thread, 20 RK4 steps per call:
- tanh: inductor's vectorized float64 tanh took 5.4 us of a 2048-element stage (a step: 37.5 us with
  tanh, 15.8 us with relu in its place). Here tanh(x) = 1 - 2 / (exp(2|x|) + 1) with x's sign, and
  for |x| < 1/8, where that form cancels, its odd Taylor series to x^17: within 8 ulp of torch.tanh
  (tests/test_compiled.py checks), ~1.7 us a stage.
- addmm(bias, x, w.t()): ATen copies the bias into the output and multiplies by a transposed view;
  here mm(x, contiguous w.t()) + bias, the bias added inside the next fused kernel and the transposed
  weight copied once per compiled call (the same copy for every step: common-subexpression
  elimination). With pattern matching off, since its post-grad pass fuses mm + bias back into addmm.
Together: 37.5 -> 22.6 us per forward RK4 step.

The C++ wrapper: the compiled graph's hundreds of kernel calls without a Python line each
(backprop-compiled at 1000 RK4 steps: 201 ms with the Python wrapper, 110 ms with this).
"""
from __future__ import annotations

# tanh's odd Taylor coefficients, x^1 to x^17: for |x| < 1/8 the x^19 term is below 2^-60 |x|
_TANH_SERIES = (1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
                -929569 / 638512875, 6404582 / 10854718875)
_SERIES_BELOW = 0.125


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

    if b.is_contiguous():
        return NotImplemented
    return torch.ops.aten.mm.default(a, b.contiguous())


def _addmm(bias, a, b, beta=1, alpha=1):
    import torch

    product = torch.ops.aten.mm.default(a, b if b.is_contiguous() else b.contiguous())
    return (product if alpha == 1 else alpha * product) + (bias if beta == 1 else beta * bias)


def inductor(graph, example_inputs):
    """A torch.compile backend: inductor with the lowerings above and the C++ wrapper."""
    import torch
    from torch._inductor.compile_fx import compile_fx
    from torch._inductor.decomposition import select_decomp_table

    aten = torch.ops.aten
    table = {**select_decomp_table(), aten.tanh.default: tanh, aten.mm.default: _mm, aten.addmm.default: _addmm}
    return compile_fx(graph, example_inputs, config_patches={"cpp_wrapper": True, "pattern_matcher": False},
                      decompositions=table)
