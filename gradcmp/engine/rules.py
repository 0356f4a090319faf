"""The rules table: every primitive once, with its forward function, its VJPs and its JVPs.

This table is the whole of the calculus the engine knows. Reverse mode (reverse.py) and forward
mode (forward.py) are two loops over it; neither forms a Jacobian, because no rule does.

A rule holds one VJP and one JVP per differentiable input (seed 4's vjp_x and vjp_w):

    vjp[i](y_bar, y, *inputs) -> x_bar_i   the cotangent of input i: y_bar^T (dy/dx_i), shaped like x_i
    jvp[i](x_dot_i, y, *inputs) -> y_dot   input i's share of the tangent of y: (dy/dx_i) x_dot_i

y is the forward output, passed in so rules can reuse it (tanh, exp, inv, norm) rather than
recompute it. Inputs after the differentiable ones are static arguments (a shape, an index).
The forward mode adds the JVPs of every input that carries a tangent; the reverse mode calls the
VJP of every input that is on the tape. Each VJP is the transpose of its JVP: for any u, v,
<u, jvp[i](v)> = <vjp[i](u), v>, which tests/test_engine.py checks for every rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Rule:
    forward: Callable
    vjp: tuple[Callable, ...]
    jvp: tuple[Callable, ...]


def unbroadcast(x_bar, x):
    """Sum x_bar over the axes numpy broadcasting added to x or stretched from 1, so it is shaped like x.

    Broadcasting copies x along those axes, so its VJP adds the copies' cotangents back up.
    """
    shape = np.shape(x)
    leading = np.ndim(x_bar) - len(shape)
    if leading:
        x_bar = np.sum(x_bar, axis=tuple(range(leading)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and np.shape(x_bar)[axis] != 1)
    if stretched:
        x_bar = np.sum(x_bar, axis=stretched, keepdims=True)
    return x_bar


def _as_matrices(a, b, y_bar):
    """a, b and y_bar as 2-D arrays (a vector left of @ is a row, right of @ a column)."""
    a2 = a if np.ndim(a) == 2 else np.reshape(a, (1, -1))
    b2 = b if np.ndim(b) == 2 else np.reshape(b, (-1, 1))
    return a2, b2, np.reshape(y_bar, (a2.shape[0], b2.shape[1]))


def _matmul_vjp_a(y_bar, y, a, b):
    a2, b2, y_bar2 = _as_matrices(a, b, y_bar)
    return np.reshape(y_bar2 @ b2.T, np.shape(a))


def _matmul_vjp_b(y_bar, y, a, b):
    a2, b2, y_bar2 = _as_matrices(a, b, y_bar)
    return np.reshape(a2.T @ y_bar2, np.shape(b))


def _getitem_vjp(y_bar, y, a, index):
    x_bar = np.zeros(np.shape(a), dtype=np.result_type(y_bar))
    x_bar[index] = y_bar  # basic indexing picks each entry at most once, so no entry is added twice
    return x_bar


RULES: dict[str, Rule] = {
    # elementwise, with numpy broadcasting: the VJPs sum the cotangent back to each input's shape
    "add": Rule(np.add,
                vjp=(lambda y_bar, y, a, b: unbroadcast(y_bar, a),
                     lambda y_bar, y, a, b: unbroadcast(y_bar, b)),
                jvp=(lambda a_dot, y, a, b: a_dot,
                     lambda b_dot, y, a, b: b_dot)),
    "sub": Rule(np.subtract,
                vjp=(lambda y_bar, y, a, b: unbroadcast(y_bar, a),
                     lambda y_bar, y, a, b: unbroadcast(-y_bar, b)),
                jvp=(lambda a_dot, y, a, b: a_dot,
                     lambda b_dot, y, a, b: -b_dot)),
    "mul": Rule(np.multiply,
                vjp=(lambda y_bar, y, a, b: unbroadcast(y_bar * b, a),
                     lambda y_bar, y, a, b: unbroadcast(y_bar * a, b)),
                jvp=(lambda a_dot, y, a, b: a_dot * b,
                     lambda b_dot, y, a, b: a * b_dot)),
    "div": Rule(np.divide,
                vjp=(lambda y_bar, y, a, b: unbroadcast(y_bar / b, a),
                     lambda y_bar, y, a, b: unbroadcast(-y_bar * y / b, b)),
                jvp=(lambda a_dot, y, a, b: a_dot / b,
                     lambda b_dot, y, a, b: -y * b_dot / b)),
    "neg": Rule(np.negative,
                vjp=(lambda y_bar, y, a: -y_bar,),
                jvp=(lambda a_dot, y, a: -a_dot,)),
    "square": Rule(np.square,
                   vjp=(lambda y_bar, y, a: 2 * a * y_bar,),
                   jvp=(lambda a_dot, y, a: 2 * a * a_dot,)),
    "sin": Rule(np.sin,
                vjp=(lambda y_bar, y, a: y_bar * np.cos(a),),
                jvp=(lambda a_dot, y, a: a_dot * np.cos(a),)),
    "cos": Rule(np.cos,
                vjp=(lambda y_bar, y, a: -y_bar * np.sin(a),),
                jvp=(lambda a_dot, y, a: -a_dot * np.sin(a),)),
    "tanh": Rule(np.tanh,
                 vjp=(lambda y_bar, y, a: y_bar * (1 - y * y),),
                 jvp=(lambda a_dot, y, a: a_dot * (1 - y * y),)),
    "exp": Rule(np.exp,
                vjp=(lambda y_bar, y, a: y_bar * y,),
                jvp=(lambda a_dot, y, a: a_dot * y,)),
    "log": Rule(np.log,
                vjp=(lambda y_bar, y, a: y_bar / a,),
                jvp=(lambda a_dot, y, a: a_dot / a,)),
    # reductions over all entries: the VJP spreads the scalar cotangent back over the input
    "sum": Rule(np.sum,
                vjp=(lambda y_bar, y, a: np.broadcast_to(y_bar, np.shape(a)),),
                jvp=(lambda a_dot, y, a: np.sum(a_dot),)),
    "mean": Rule(np.mean,
                 vjp=(lambda y_bar, y, a: np.broadcast_to(y_bar / np.size(a), np.shape(a)),),
                 jvp=(lambda a_dot, y, a: np.mean(a_dot),)),
    # z = ||A||_F: dz = <A, dA> / z (seed 2's Norm)
    "norm": Rule(np.linalg.norm,
                 vjp=(lambda y_bar, y, a: y_bar * a / y,),
                 jvp=(lambda a_dot, y, a: np.sum(a * a_dot) / y,)),
    # linear algebra on vectors and matrices (1-D or 2-D)
    "matmul": Rule(np.matmul,
                   vjp=(_matmul_vjp_a, _matmul_vjp_b),
                   jvp=(lambda a_dot, y, a, b: a_dot @ b,
                        lambda b_dot, y, a, b: a @ b_dot)),
    "outer": Rule(np.outer,
                  vjp=(lambda y_bar, y, a, b: y_bar @ b,
                       lambda y_bar, y, a, b: y_bar.T @ a),
                  jvp=(lambda a_dot, y, a, b: np.outer(a_dot, b),
                       lambda b_dot, y, a, b: np.outer(a, b_dot))),
    "transpose": Rule(np.transpose,
                      vjp=(lambda y_bar, y, a: np.transpose(y_bar),),
                      jvp=(lambda a_dot, y, a: np.transpose(a_dot),)),
    # Y = A^-1: dY = -Y dA Y, so A_bar = -Y^T Y_bar Y^T (seed 2's Inverse)
    "inv": Rule(np.linalg.inv,
                vjp=(lambda y_bar, y, a: -(y.T @ y_bar @ y.T),),
                jvp=(lambda a_dot, y, a: -(y @ a_dot @ y),)),
    # structural: the second input is static (a shape, an index) and has no derivative
    "reshape": Rule(np.reshape,
                    vjp=(lambda y_bar, y, a, shape: np.reshape(y_bar, np.shape(a)),),
                    jvp=(lambda a_dot, y, a, shape: np.reshape(a_dot, shape),)),
    "getitem": Rule(lambda a, index: a[index],
                    vjp=(_getitem_vjp,),
                    jvp=(lambda a_dot, y, a, index: a_dot[index],)),
}
