"""The primitives as functions and operators, for plain arrays, tape Values and Duals alike.

A loss written with these (`norm(inv(x))`, `(v * sin(w @ y)).sum()`) is one function that runs
on numpy arrays, records a tape when given a reverse.Value, and carries tangents when given a
forward.Dual: `apply` hands each call to the traced type among its arguments, which looks the
primitive up in rules.RULES.
"""
from __future__ import annotations

import abc

from gradcmp.engine.rules import RULES


class Traced(abc.ABC):
    """What reverse.Value and forward.Dual share: an array `value`, numpy-like operators, and
    `trace(name, *args)`, the way the subclass evaluates a primitive (record it, or push a tangent).
    """

    value: object

    @classmethod
    @abc.abstractmethod
    def trace(cls, name: str, *args):
        """Evaluate primitive `name` on args, at least one of them of this type."""

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def T(self):
        return apply("transpose", self)

    def __add__(self, other): return apply("add", self, other)
    def __radd__(self, other): return apply("add", other, self)
    def __sub__(self, other): return apply("sub", self, other)
    def __rsub__(self, other): return apply("sub", other, self)
    def __mul__(self, other): return apply("mul", self, other)
    def __rmul__(self, other): return apply("mul", other, self)
    def __truediv__(self, other): return apply("div", self, other)
    def __rtruediv__(self, other): return apply("div", other, self)
    def __matmul__(self, other): return apply("matmul", self, other)
    def __rmatmul__(self, other): return apply("matmul", other, self)
    def __neg__(self): return apply("neg", self)
    def __getitem__(self, index): return apply("getitem", self, index)

    def sum(self): return apply("sum", self)
    def mean(self): return apply("mean", self)
    def reshape(self, *shape): return apply("reshape", self, shape[0] if len(shape) == 1 else shape)

    # numpy would otherwise treat a Traced on the right of an array as an object to broadcast over
    __array_ufunc__ = None


def apply(name: str, *args):
    """Evaluate primitive `name` on args: plain numpy when nothing is traced, else by the traced type."""
    kinds = {type(arg) for arg in args if isinstance(arg, Traced)}
    if not kinds:
        return RULES[name].forward(*args)
    if len(kinds) > 1:
        raise TypeError(f"{name} got both {' and '.join(sorted(kind.__name__ for kind in kinds))}; "
                        "the engine does not nest reverse and forward mode")
    return kinds.pop().trace(name, *args)


def add(a, b): return apply("add", a, b)
def sub(a, b): return apply("sub", a, b)
def mul(a, b): return apply("mul", a, b)
def div(a, b): return apply("div", a, b)
def neg(a): return apply("neg", a)
def square(a): return apply("square", a)
def sin(a): return apply("sin", a)
def cos(a): return apply("cos", a)
def tanh(a): return apply("tanh", a)
def exp(a): return apply("exp", a)
def log(a): return apply("log", a)
def sum(a): return apply("sum", a)  # noqa: A001 - the engine's name for the primitive
def mean(a): return apply("mean", a)
def norm(a): return apply("norm", a)
def matmul(a, b): return apply("matmul", a, b)
def outer(a, b): return apply("outer", a, b)
def transpose(a): return apply("transpose", a)
def inv(a): return apply("inv", a)
def reshape(a, shape): return apply("reshape", a, shape)
