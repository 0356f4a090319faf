"""Forward mode: dual numbers. A Dual carries a value and its tangent x_dot; every primitive maps
both at once, the tangent by the JVP rules (seed 2's forward_jvp).

Cost: about 2-3 losses per direction, and nothing is kept: memory is that of the loss alone.
One pass gives one directional derivative <grad, x_dot>, so a full gradient needs one pass
per input entry, which is why reverse mode wins for a scalar loss of many inputs.
"""
from __future__ import annotations

import numpy as np

from gradcmp.engine.ops import Traced
from gradcmp.engine.rules import RULES


class Dual(Traced):
    """A value and its tangent (same shape). Arguments that are not Duals are constants: tangent zero."""

    def __init__(self, value, tangent):
        self.value = np.asarray(value)
        self.tangent = np.asarray(tangent)

    @classmethod
    def trace(cls, name, *args):
        rule = RULES[name]
        values = tuple(arg.value if isinstance(arg, Dual) else arg for arg in args)
        y = rule.forward(*values)
        # the tangent of y is linear in the inputs' tangents: add each carried input's share
        y_dot = sum(jvp(arg.tangent, y, *values) for arg, jvp in zip(args, rule.jvp) if isinstance(arg, Dual))
        return cls(y, np.broadcast_to(y_dot, np.shape(y)))  # a share may be smaller than y (broadcasting)

    def __repr__(self) -> str:
        return f"Dual({self.value!r}, tangent={self.tangent!r})"


def jvp(f, x, x_dot):
    """(f(x), J_f(x) x_dot) in one forward pass of dual numbers, for f written with the engine's operations."""
    y = f(Dual(x, x_dot))
    if not isinstance(y, Dual):  # f does not depend on x
        return y, np.zeros_like(y)
    return y.value, y.tangent
