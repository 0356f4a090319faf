"""`compiled(STRATEGY)`: an eager ODE strategy with its solver steps torch.compile'd in chunks.

A wrapper around a configured strategy, spelled with it: `compiled(adjoint)`,
`compiled(checkpoint(checkpoints=16))`. `--compile` adds the compiled form after every chosen strategy
that has one. The forms (gradcmp.strategies.compiled_sweep and the modules it names) compute the same
gradient as their eager strategy, to rounding; compile time is measured apart (compile_s), never in the
time. Fixed-step, single-state methods only (dopri5's step control reads values; reversible_heun
carries a second state), and the checkpointed forms take the uniform schedule.
"""
from __future__ import annotations

import time
from types import MappingProxyType

from gradcmp.config import ConfigError
from gradcmp.strategies.base import Strategy
from gradcmp.strategies.compiled_adjoint import CompiledAdjoint
from gradcmp.strategies.compiled_adjoint_checkpoint import CompiledAdjointCheckpoint
from gradcmp.strategies.compiled_backprop import CompiledBackprop
from gradcmp.strategies.compiled_checkpoint import CompiledCheckpoint

# The eager strategies that have a compiled form, and the form.
FORMS = {"backprop": CompiledBackprop, "checkpoint": CompiledCheckpoint, "adjoint": CompiledAdjoint,
         "adjoint-checkpoint": CompiledAdjointCheckpoint}


def compilable(strategy: Strategy) -> str | None:
    """None when `strategy` has a compiled form, else why not."""
    if strategy.name not in FORMS:
        return f"{strategy.label} has no compiled form (those of {', '.join(FORMS)} do)"
    if strategy.config.get("schedule", "uniform") != "uniform":
        return f"the compiled form of {strategy.name} takes the uniform schedule, not {strategy.config['schedule']}"
    return None


class Compiled(Strategy):
    """The strategy in parentheses as a sweep of torch.compile'd chunks of solver steps."""

    name = "compiled"
    description = (f"the ODE strategy in parentheses ({', '.join(FORMS)}) as a sweep of torch.compile'd "
                   "chunks of steps; compile time apart (--compile adds them)")

    wraps = True

    def __init__(self, strategy: Strategy | str | None = None, **values):
        from gradcmp.strategies import strategy as configured

        if values:
            raise ConfigError(f"compiled takes no options ({', '.join(values)}); give them to the strategy "
                              "inside, e.g. compiled(checkpoint(checkpoints=8))")
        if strategy is None:
            raise ConfigError(f"compiled takes the strategy to compile, e.g. compiled(adjoint); one of "
                              f"{', '.join(FORMS)}")
        inner = configured(strategy) if isinstance(strategy, str) else strategy
        if not isinstance(inner, Strategy):
            raise ConfigError(f"compiled takes a strategy, got {strategy!r}")
        reason = compilable(inner)
        if reason:
            raise ConfigError(f"compiled({inner.label}): {reason}")
        object.__setattr__(self, "config", MappingProxyType({}))
        object.__setattr__(self, "inner", inner)

    @property
    def label(self) -> str:
        return f"compiled({self.inner.label})"

    def replace(self, **values) -> Strategy:
        return Compiled(self.inner.replace(**values))

    @property
    def unwrapped(self) -> Strategy:
        return self.inner

    def declares(self, option: str) -> bool:
        return self.inner.declares(option)

    @classmethod
    def example(cls) -> Strategy:
        from gradcmp.strategies import strategy

        return cls(strategy(next(iter(FORMS))))

    def requirements(self):
        return self.inner.requirements() | {"fixed-step", "single-state", "explicit-method"}

    def system(self, instance):
        return self.inner.system(instance)

    def _sweeper(self, instance):
        """This instance's compiled form, compiled on first use (two sweeps: the first compiles); kept in
        the instance's scratch with its compile seconds."""
        if self.label not in instance.scratch:
            sweeper = FORMS[self.inner.name](self.system(instance))
            theta = instance.x.detach()
            start = time.perf_counter()
            sweeper.sweep(theta)
            first = time.perf_counter() - start
            start = time.perf_counter()
            sweeper.sweep(theta)
            instance.scratch[self.label] = (sweeper, max(0.0, first - (time.perf_counter() - start)))
        return instance.scratch[self.label]

    def own_measurements(self, instance) -> dict:
        return {"compile_s": self._sweeper(instance)[1]}

    def gradient(self, instance):
        theta_bar, steps = self._sweeper(instance)[0].sweep(instance.x.detach())
        instance.counters["steps_accepted"] += steps
        return theta_bar


STRATEGY = Compiled
