"""The strategy registry: one line per strategy family. A new strategy is one module plus one line here.

A family is a class; a strategy is one of its configured values (gradcmp.strategies.base.Strategy),
made by `strategy("checkpoint(checkpoints=8)")` or `strategy("checkpoint", checkpoints=8)`.
"""
from __future__ import annotations

from gradcmp.config import ConfigError
from gradcmp.problems.base import Problem
from gradcmp.strategies.adjoint import STRATEGY as ADJOINT
from gradcmp.strategies.adjoint_checkpoint import STRATEGY as ADJOINT_CHECKPOINT
from gradcmp.strategies.backprop import STRATEGY as BACKPROP
from gradcmp.strategies.base import NEEDS, Skip, Strategy
from gradcmp.strategies.checkpoint import STRATEGY as CHECKPOINT
from gradcmp.strategies.compiled import STRATEGY as COMPILED
from gradcmp.strategies.compiled import compilable
from gradcmp.strategies.diffrax_peers import STRATEGY as DIFFRAX
from gradcmp.strategies.finite_diff import STRATEGY as FINITE_DIFF
from gradcmp.strategies.jacobian import STRATEGY as JACOBIAN
from gradcmp.strategies.jvp import STRATEGY as JVP
from gradcmp.strategies.numpy_jvp import STRATEGY as NUMPY_JVP
from gradcmp.strategies.numpy_vjp import STRATEGY as NUMPY_VJP
from gradcmp.strategies.peers import STRATEGY as TORCHDIFFEQ
from gradcmp.strategies.reversible import STRATEGY as REVERSIBLE
from gradcmp.strategies.spelling import parse
from gradcmp.strategies.vjp import STRATEGY as VJP

STRATEGIES: dict[str, type[Strategy]] = {family.name: family for family in (
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
    COMPILED,
    TORCHDIFFEQ,
    DIFFRAX,
)}

# The configurations a run measures when no strategy is named, beyond each family's default value: the
# peers' other entry points, so the default table keeps every method the peers have.
VARIANTS = ("torchdiffeq(adjoint=true)", "diffrax(adjoint=direct)", "diffrax(adjoint=backsolve)")


def strategy(spec: str | Strategy, **options) -> Strategy:
    """One configured strategy: from its spelling ("checkpoint(checkpoints=8)") or a value, with `options`
    set on top. ConfigError on an unknown name or option, a bad value, or a spelling of several."""
    if isinstance(spec, Strategy):
        return spec.replace(**options) if options else spec
    made = parse(spec)
    if len(made) != 1:
        raise ConfigError(f"strategy {spec!r} spells {len(made)} strategies; give one value per option here")
    return made[0].replace(**options) if options else made[0]


def configurations(compile: bool = False) -> list[Strategy]:
    """Every family's default value and the VARIANTS, in registry order; the wrappers (compiled) only
    through `compile`: each compilable strategy followed by its compiled form."""
    values = [family() for family in STRATEGIES.values() if not family.wraps]
    for variant in VARIANTS:
        values.extend(parse(variant))
    values.sort(key=lambda value: list(STRATEGIES).index(value.name))  # a variant beside its family
    return with_compiled(values) if compile else values


def representative(family: type[Strategy]) -> Strategy:
    """A value of `family` to ask what the family needs (Strategy.example)."""
    return family.example()


def with_compiled(values: list[Strategy]) -> list[Strategy]:
    """`values`, each followed by its compiled form where it has one (what --compile adds)."""
    expanded = []
    for value in values:
        expanded.append(value)
        if compilable(value) is None:
            expanded.append(COMPILED(value))
    return list(dict.fromkeys(expanded))


def select_strategies(problem: Problem, chosen: list | None, compile: bool = False
                      ) -> list[tuple[Strategy, str | None]]:
    """(strategy, reason it cannot run or None) for each chosen strategy (spellings or values; one spelling
    may stand for several), in order, duplicates once; with `compile`, each followed by its compiled form.

    None means every configuration, those that cannot run on the problem kept with their reason.
    An explicitly chosen strategy the problem can never provide for (an ODE strategy on inv-norm) is a
    ConfigError; one whose need only the built instance can tell (a fixed-step method) is checked then.
    """
    if chosen is None:
        values = configurations(compile)
    else:
        values = []
        for item in chosen:
            values.extend(parse(item) if isinstance(item, str) else [strategy(item)])
        values = with_compiled(values) if compile else list(dict.fromkeys(values))
    selected = []
    for value in values:
        reason = value.unavailable() or value.applies_to(problem)
        if reason and chosen is not None:
            raise ConfigError(f"strategy {value.label} cannot run on {problem.name}: {reason}")
        selected.append((value, reason))
    return selected


__all__ = ["NEEDS", "Skip", "Strategy", "STRATEGIES", "configurations", "representative", "select_strategies",
           "strategy", "with_compiled"]
