"""Reverse mode: a Value records each primitive applied to it on a tape; backward() replays the tape
from the loss to the inputs, one VJP per recorded input (seed 1's `some_loss.reverse()`).

Cost: one forward pass that keeps every intermediate array alive, then one VJP per recorded input,
each about as dear as the primitive itself, so about 2-3 losses in all, whatever the number of inputs.
Memory: every intermediate of the forward pass, held until the Values are dropped.
"""
from __future__ import annotations

import numpy as np

from gradcmp.engine.ops import Traced
from gradcmp.engine.rules import RULES


class Value(Traced):
    """An array on the tape: its value, the primitive that made it and that primitive's arguments.

    A Value made by the user is a leaf (primitive None): after loss.backward(), its `grad` holds
    d loss / d value. Arguments that are not Values (arrays, numbers, shapes) are constants.
    """

    def __init__(self, value, primitive: str | None = None, inputs: tuple = ()):
        self.value = np.asarray(value)
        self.primitive = primitive
        self.inputs = inputs
        self.grad = None

    @classmethod
    def trace(cls, name, *args):
        values = tuple(arg.value if isinstance(arg, Value) else arg for arg in args)
        return cls(RULES[name].forward(*values), name, args)

    def __repr__(self) -> str:
        return f"Value({self.value!r}, primitive={self.primitive!r})"

    def backward(self, y_bar=None) -> None:
        """Set `.grad` of every leaf this Value depends on to y_bar^T d self / d leaf.

        y_bar defaults to 1 for a scalar. Walks the tape in reverse topological order, so a node's
        cotangent is complete (every consumer has added its share) before it is pulled back to its
        inputs. Each intermediate's cotangent is released once pulled back, as torch does.
        """
        if y_bar is None:
            if self.value.size != 1:
                raise ValueError(f"backward() needs y_bar for a non-scalar of shape {self.shape}")
            y_bar = np.ones_like(self.value)
        order = topological_order(self)
        for node in order:
            node.grad = None
        self.grad = np.asarray(y_bar)
        for node in reversed(order):
            if node.primitive is None:
                continue
            values = tuple(arg.value if isinstance(arg, Value) else arg for arg in node.inputs)
            for arg, vjp in zip(node.inputs, RULES[node.primitive].vjp):
                if isinstance(arg, Value):
                    x_bar = vjp(node.grad, node.value, *values)
                    arg.grad = x_bar if arg.grad is None else arg.grad + x_bar
            node.grad = None


def topological_order(root: Value) -> list[Value]:
    """Every Value root depends on (root included), each after all of its inputs.

    Iterative depth-first search, so deep tapes do not hit Python's recursion limit.
    """
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.inputs if isinstance(arg, Value) and arg not in seen)
    return order


def grad(loss, x):
    """d loss(x) / d x for a scalar-valued `loss` written with the engine's operations; an array like x."""
    leaf = Value(x)
    y = loss(leaf)
    if isinstance(y, Value):
        y.backward()
    if leaf.grad is None:  # the loss does not depend on x
        return np.zeros_like(leaf.value)
    # a VJP may hand back a read-only broadcast view (that of sum): the caller gets an array it owns
    return leaf.grad if leaf.grad.flags.writeable else leaf.grad.copy()
