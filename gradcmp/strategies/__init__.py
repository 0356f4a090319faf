"""The strategy registry: one line per strategy. A new strategy is one module plus one line here."""
from gradcmp.config import ConfigError, unknown
from gradcmp.problems.base import Problem
from gradcmp.strategies.adjoint import STRATEGY as ADJOINT
from gradcmp.strategies.adjoint_checkpoint import STRATEGY as ADJOINT_CHECKPOINT
from gradcmp.strategies.backprop import STRATEGY as BACKPROP
from gradcmp.strategies.base import Skip, Strategy
from gradcmp.strategies.checkpoint import STRATEGY as CHECKPOINT
from gradcmp.strategies.compiled_adjoint import STRATEGY as COMPILED_ADJOINT
from gradcmp.strategies.compiled_adjoint_checkpoint import STRATEGY as COMPILED_ADJOINT_CHECKPOINT
from gradcmp.strategies.compiled_backprop import STRATEGY as COMPILED_BACKPROP
from gradcmp.strategies.compiled_checkpoint import STRATEGY as COMPILED_CHECKPOINT
from gradcmp.strategies.diffrax_backsolve import STRATEGY as DIFFRAX_BACKSOLVE
from gradcmp.strategies.diffrax_checkpoint import STRATEGY as DIFFRAX_CHECKPOINT
from gradcmp.strategies.diffrax_direct import STRATEGY as DIFFRAX_DIRECT
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
    DIFFRAX_DIRECT,
    DIFFRAX_CHECKPOINT,
    DIFFRAX_BACKSOLVE,
)}



def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name`; ConfigError listing the names when there is none."""
    if name not in STRATEGIES:
        raise unknown("strategy", name, STRATEGIES)
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


# Compiled forms, measured right after the strategy they compile when `--compile` is given.
COMPILED: dict[str, Strategy] = {"backprop": COMPILED_BACKPROP, "checkpoint": COMPILED_CHECKPOINT,
                                  "adjoint": COMPILED_ADJOINT, "adjoint-checkpoint": COMPILED_ADJOINT_CHECKPOINT}


def with_compiled(chosen: list[tuple[Strategy, str | None]]) -> list[tuple[Strategy, str | None]]:
    """`chosen`, each strategy followed by its torch.compile'd form where it has one (--compile)."""
    expanded = []
    for strategy, reason in chosen:
        expanded.append((strategy, reason))
        if strategy.name in COMPILED:
            expanded.append((COMPILED[strategy.name], reason))
    return expanded


__all__ = ["COMPILED", "Skip", "Strategy", "STRATEGIES", "get_strategy", "select_strategies", "with_compiled"]
