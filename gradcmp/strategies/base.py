"""What a gradient strategy is: a way to compute d loss / d x for a problem instance."""
from __future__ import annotations

import abc

from gradcmp.config import Budget
from gradcmp.problems.base import CAPABILITIES, Instance, Problem
from gradcmp.units import human_bytes, human_time


class Skip(Exception):
    """Raised before any real work when a strategy would exceed a budget; the message says why."""


class Strategy(abc.ABC):
    """A gradient method. Subclasses set the class attributes and implement `gradient`.

    requires   capabilities the problem must provide (see problems.base.CAPABILITIES)
    autograd   True when the strategy records an autograd graph, so its saved-for-backward
               bytes are measured (saved-tensor hooks cannot run under torch.func transforms)
    numpy_memory  True when the strategy allocates with numpy rather than torch: torch's memory
               accounting does not see numpy, so its peak is measured with tracemalloc instead
    declared      problem declared that only this strategy reads (checkpoint's slot count): the memory
               frontier tells its settings apart by them
    """

    name: str
    description: str
    requires: frozenset[str] = frozenset()
    autograd: bool = False
    numpy_memory: bool = False
    declared: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        """Why the strategy cannot run on this installation (a missing optional package), or None."""
        return None

    def applies_to(self, problem: Problem) -> str | None:
        """None when the strategy can differentiate `problem`, else the reason in words."""
        missing = sorted(self.requires - problem.provides)
        if missing:
            return f"needs {' and '.join(CAPABILITIES[m] for m in missing)}"
        return None

    def own_measurements(self, instance: Instance) -> dict:
        """What the strategy measures itself, replacing measure's figures: compile_s (seconds spent
        compiling, never part of time_s), peak_bytes (a framework torch's profiler cannot see, as its
        compiler reports it). Called after the first gradient; empty for eager torch strategies."""
        return {}

    def check_budget(self, instance: Instance, budget: Budget) -> None:
        """Raise Skip, stating the estimate, when one gradient would exceed the budget (checks beyond
        estimated_bytes, which measure checks against the memory budget itself)."""

    def estimated_bytes(self, instance: Instance) -> float | None:
        """Bytes one gradient allocates beyond the instance, estimated before running it; None when
        the strategy has no estimate (what it keeps depends on the loss, which only a run shows)."""
        return None

    @abc.abstractmethod
    def gradient(self, instance: Instance):
        """d instance.loss / d instance.x, a tensor shaped like instance.x."""


def check_memory(what: str, estimate: float, budget: Budget) -> None:
    """Raise Skip when `what` would need more than the memory budget."""
    if estimate > budget.max_bytes:
        raise Skip(f"{what} would need about {human_bytes(estimate)}, over the memory budget "
                   f"of {human_bytes(budget.max_bytes)} (--max-memory to change)")


def check_time(what: str, estimate: float, budget: Budget) -> None:
    """Raise Skip when `what` would take longer than the time budget."""
    if estimate > budget.max_seconds:
        raise Skip(f"{what} would take about {human_time(estimate)}, over the time budget "
                   f"of {human_time(budget.max_seconds)} (--max-time to change)")
