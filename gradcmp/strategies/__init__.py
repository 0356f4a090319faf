"""The strategy registry: one line per strategy. A new strategy is one module plus one line here."""
from gradcmp.config import ConfigError
from gradcmp.problems.base import Problem
from gradcmp.strategies.adjoint import STRATEGY as ADJOINT
from gradcmp.strategies.adjoint_checkpoint import STRATEGY as ADJOINT_CHECKPOINT
from gradcmp.strategies.backprop import STRATEGY as BACKPROP
from gradcmp.strategies.base import Skip, Strategy
from gradcmp.strategies.checkpoint import STRATEGY as CHECKPOINT
from gradcmp.strategies.finite_diff import STRATEGY as FINITE_DIFF
from gradcmp.strategies.jacobian import STRATEGY as JACOBIAN
from gradcmp.strategies.jvp import STRATEGY as JVP
from gradcmp.strategies.reversible import STRATEGY as REVERSIBLE
from gradcmp.strategies.numpy_jvp import STRATEGY as NUMPY_JVP
from gradcmp.strategies.numpy_vjp import STRATEGY as NUMPY_VJP
from gradcmp.strategies.peer_adjoint import STRATEGY as TORCHDIFFEQ_ADJOINT
from gradcmp.strategies.peer_backprop import STRATEGY as TORCHDIFFEQ_BACKPROP
from gradcmp.strategies.vjp import STRATEGY as VJP

STRATEGIES: dict[str, Strategy] = {strategy.name: strategy for strategy in (
    JACOBIAN,
    VJP,
    JVP,
    FINITE_DIFF,
    NUMPY_VJP,
    NUMPY_JVP,
    BACKPROP,
    CHECKPOINT,
    ADJOINT,
    ADJOINT_CHECKPOINT,
    REVERSIBLE,
    TORCHDIFFEQ_BACKPROP,
    TORCHDIFFEQ_ADJOINT,
)}



def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name`; ConfigError listing the names when there is none."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose from: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def select_strategies(problem: Problem, chosen: list | None) -> list[tuple[Strategy, str | None]]:
    """(strategy, reason it cannot run or None) for each chosen strategy (a name or a Strategy).

    None means every registered strategy, the inapplicable ones carrying their reason.
    An explicitly chosen strategy that cannot run is a ConfigError.
    """
    strategies = [get_strategy(item) if isinstance(item, str) else item for item in chosen or ()]
    selected = []
    for strategy in strategies or STRATEGIES.values():
        reason = strategy.unavailable() or strategy.applies_to(problem)
        if reason and strategies:
            raise ConfigError(f"strategy {strategy.name} cannot run on {problem.name}: {reason}")
        selected.append((strategy, reason))
    return selected


__all__ = ["Skip", "Strategy", "STRATEGIES", "get_strategy", "select_strategies"]
