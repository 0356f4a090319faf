"""A small autodiff engine in numpy, written to be read: how reverse and forward mode work.

rules.py    the table: each primitive's forward function, VJPs and JVPs
ops.py      the primitives as functions and operators, dispatched to the traced type
reverse.py  Value, a tape, and backward(): reverse mode, one VJP per recorded input
forward.py  Dual, a dual number: forward mode, one JVP per primitive

    >>> import numpy as np
    >>> from gradcmp import engine
    >>> x = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> g = engine.grad(lambda x: engine.norm(engine.inv(x)), x)
    >>> y, y_dot = engine.jvp(lambda x: engine.norm(engine.inv(x)), x, np.eye(2))
    >>> bool(np.isclose(y_dot, np.sum(g * np.eye(2))))
    True

Imports numpy only.
"""
from gradcmp.engine.forward import Dual, jvp
from gradcmp.engine.ops import (add, apply, cos, div, exp, inv, log, matmul, mean, mul, neg, norm, outer,
                                reshape, sin, square, sub, sum, tanh, transpose)
from gradcmp.engine.reverse import Value, grad
from gradcmp.engine.rules import RULES, Rule

__all__ = ["Dual", "RULES", "Rule", "Value", "add", "apply", "cos", "div", "exp", "grad", "inv", "jvp",
           "log", "matmul", "mean", "mul", "neg", "norm", "outer", "reshape", "sin", "square", "sub", "sum",
           "tanh", "transpose"]
