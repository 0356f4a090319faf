"""What a problem is, and the instance it builds: the thing every strategy differentiates."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from gradcmp.config import Knob

# Capabilities a problem can offer and a strategy can require, in words for the user.
CAPABILITIES = {
    "chain": "a chain of intermediate maps (x -> y -> ... -> loss)",
    "numpy": "a numpy twin of the loss, written with the numpy engine (gradcmp.engine)",
    "ode": "an ODE solved inside the loss (Instance.ode: vector field, initial state, times, solver)",
}


@dataclass(frozen=True)
class Problem:
    """A differentiable scalar loss, described by data so `gradcmp list` needs no torch.

    `build(params, dtype, device, seed)` returns an Instance; it imports torch itself.
    The first knob is the main one, the one `--size` sets.
    `estimate(params) -> (bytes, flops)` roughly bounds what build allocates and computes, so a
    run can refuse a size before allocating anything; None: the problem gives no estimate.
    """

    name: str
    description: str
    knobs: tuple[Knob, ...]
    build: Callable[..., "Instance"]
    provides: frozenset[str] = frozenset()
    estimate: Callable[[dict], tuple[float, float]] | None = None

    @property
    def main_knob(self) -> str:
        return self.knobs[0].name


@dataclass
class Instance:
    """One concrete problem: everything a strategy needs, and the truth to compare against.

    x          the tensor being differentiated (the loss's only argument)
    loss       x -> scalar tensor
    reference  the exact gradient in float64 (None where no formula or trusted solve exists)
    chain      maps whose composition is `loss` (x -> y -> ... -> scalar), for the Jacobian strategy
    numpy_loss the same loss written with gradcmp.engine's operations, on the same data as numpy
               arrays of the run's dtype (problems that provide "numpy")
    numpy_x    x as a numpy array of the run's dtype, from the same float64 tensor as x
    info       facts `run` reports about the instance (condition number, ...)
    counters   event counts a strategy's calls add to (function evaluations, ...); measure resets them
    ode        the ODE system the loss solves (gradcmp.ode.system.OdeSystem), for ODE strategies
    branches_on_values  True when the loss takes Python branches on tensor values (an adaptive
               ODE solver's step control): torch.func.vmap cannot trace it, dual numbers can
    """

    x: Any
    loss: Callable[[Any], Any]
    reference: Any | None
    chain: tuple[Callable[[Any], Any], ...] = ()
    numpy_loss: Callable[[Any], Any] | None = None
    numpy_x: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)
    ode: Any | None = None
    branches_on_values: bool = False
