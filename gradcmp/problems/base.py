"""What a problem is, and the instance it builds: the thing every strategy differentiates."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from gradcmp.config import ConfigError, Param

# Capabilities a problem can offer and a strategy can require: what the strategy "needs", in words
# for the user (Instance documents the fields behind each).
CAPABILITIES = {
    "chain": "a problem written as a chain of maps (x -> y -> ... -> loss)",
    "numpy": "a problem with a numpy twin of its loss",
    "ode": "an ODE problem",
}


@dataclass(frozen=True)
class Problem:
    """A differentiable scalar loss, described by data so `gradcmp list` needs no torch.

    `build(params, dtype, device, seed)` returns an Instance; it imports torch itself.
    The first param is the main one, the one `--size` sets.
    `estimate(params) -> (bytes, flops)` roughly bounds what build allocates and computes, so a
    run can refuse a size before allocating anything; None: the problem gives no estimate.
    """

    name: str
    description: str
    params: tuple[Param, ...]
    build: Callable[..., "Instance"]
    provides: frozenset[str] = frozenset()
    estimate: Callable[[dict], tuple[float, float]] | None = None
    # A small configuration (partial: defaults fill the rest) on which every applicable strategy
    # meets the float64 reference to 1e-8 in well under a second: the tests run each strategy on it.
    test_params: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def main_param(self) -> str:
        if not self.params:  # a user's factory that declares no keyword arguments
            raise ConfigError(f"{self.name} declares no params, so there is no size to set")
        return self.params[0].name


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
    scratch    what a strategy keeps for this instance between its calls (a compiled function), keyed
               by the strategy's label: strategies themselves keep nothing
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
    scratch: dict = field(default_factory=dict, repr=False)


def ode_instance(system, theta, reference, info: dict) -> Instance:
    """The Instance of an ODE problem (system: gradcmp.ode.system.OdeSystem): theta differentiated,
    J = system.objective, vector-field calls counted in instance.counters, and the chain
    theta -> trajectory -> J for the Jacobian strategy."""
    counters = Counter()
    return Instance(
        x=theta,
        loss=lambda theta: system.objective(theta, counters),
        reference=reference,
        chain=(lambda theta: system.trajectory(theta, counters), system.loss_of_trajectory),
        info=info,
        counters=counters,
        ode=system,
        branches_on_values=system.options.adaptive,
    )
