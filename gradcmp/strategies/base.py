"""What a gradient strategy is: a configured, immutable value that computes d loss / d x for a problem instance.

A strategy family is a class (registered once in gradcmp.strategies); a strategy is one of its values,
its options set at construction and checked there: `Checkpoint(checkpoints=8, schedule="binomial")`,
spelled `checkpoint(checkpoints=8,schedule=binomial)` on the command line, in presets, results files
and table labels alike (gradcmp.strategies.spelling). What a strategy needs from a problem is data
(`needs`, names in NEEDS), checked before any work: a row that does not apply is skipped with the reason.
"""
from __future__ import annotations

import abc
import importlib.util
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable, ClassVar

from gradcmp.config import Budget, ConfigError, Param, did_you_mean
from gradcmp.problems.base import CAPABILITIES, Instance, Problem
from gradcmp.units import human_bytes, human_time


class Skip(Exception):
    """Raised before any real work when a strategy would exceed a budget; the message says why."""


@dataclass(frozen=True)
class Need:
    """Something a strategy can need. `reason(problem, instance)` says why it is missing, or None when it is
    met; with instance None (before the problem is built) a need that only the instance can tell passes.
    `install`: a package to install rather than a property of the problem."""

    words: str
    reason: Callable[[Problem, Instance | None], str | None]
    install: bool = False


def _capability(name: str) -> Need:
    words = CAPABILITIES[name]
    return Need(words, lambda problem, instance: None if name in problem.provides else f"needs {words}")


def _solver(instance):
    from gradcmp.ode import SOLVERS

    return SOLVERS[instance.ode.options.method]


def _fixed_step(problem, instance):
    if instance is not None and _solver(instance).adaptive:
        return (f"needs a fixed-step solver; method {instance.ode.options.method} chooses its steps while "
                "solving (--param method=rk4)")
    return None


def _single_state(problem, instance):
    if instance is not None and not hasattr(_solver(instance), "step"):
        return (f"restarts a solve from x alone; method {instance.ode.options.method} carries a second state "
                "from step to step")
    return None


def _jax_twin(problem, instance):
    if instance is not None and instance.ode.jax is None:
        return "needs a JAX twin of the ODE (its vector field and loss in jax.numpy), which this problem has not"
    return None


def _methods(who: str, *methods: str) -> Callable:
    """The reason check of a need for one of `methods` (those `who` has)."""
    def reason(problem, instance):
        if instance is not None and instance.ode.options.method not in methods:
            return f"needs a method {who} has ({', '.join(methods)}), not {instance.ode.options.method}"
        return None
    return reason


def _explicit(problem, instance):
    if instance is not None and _solver(instance).implicit:
        return (f"solves x backwards, which the implicit method {instance.ode.options.method} cannot do on a "
                "stiff system (an interpolating adjoint would take x from the forward pass; backprop and "
                "checkpoint differentiate through it)")
    return None


def _even_steps(problem, instance):
    from gradcmp.ode.fixed_step import fixed_grid

    if instance is None or instance.ode.options.adaptive:
        return None
    sizes = [dt for _, dt, _ in fixed_grid(instance.ode.times, instance.ode.options.steps)]
    if max(sizes) - min(sizes) > 1e-12 * max(sizes):
        return ("needs one step size over the whole grid (its backward solve takes one); this grid's "
                "observation intervals have different steps")
    return None


def _jax_device(problem, instance):
    if instance is None or instance.x.device.type == "cpu":
        return None
    import jax

    if jax.default_backend() == "cpu":
        return f"this JAX installation has no {instance.x.device.type} backend"
    return None


def _installed(*modules: str, extra: str, packages: str) -> Need:
    def reason(problem, instance):
        missing = [name for name in modules if importlib.util.find_spec(name) is None]
        if not missing:
            return None
        return (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed; "
                f"pip install -e '.[{extra}]' (or pip install {packages})")
    return Need(f"{', '.join(modules)} installed (extra: {extra})", reason, install=True)


# Everything a strategy can need, by name: a strategy lists the names (Strategy.needs).
NEEDS: dict[str, Need] = {
    **{name: _capability(name) for name in CAPABILITIES},
    "fixed-step": Need("a fixed-step ODE solver (the method is a problem param)", _fixed_step),
    "single-state": Need("an ODE solver that carries only x from step to step", _single_state),
    "jax-twin": Need("a JAX twin of the ODE", _jax_twin),
    "jax-device": Need("a JAX backend for the run's device", _jax_device),
    "even-steps": Need("one step size over the whole fixed-step grid", _even_steps),
    "explicit-method": Need("an explicit ODE method (x is solved backwards)", _explicit),
    "torchdiffeq-method": Need("a method torchdiffeq has", _methods("torchdiffeq", "euler", "midpoint", "rk4", "dopri5")),
    "diffrax-method": Need("a method gradcmp maps to diffrax's",
                           _methods("the diffrax peer", "euler", "midpoint", "rk4", "dopri5", "tsit5",
                                    "reversible_heun")),
    "torchdiffeq": _installed("torchdiffeq", extra="peers", packages="torchdiffeq"),
    "jax": _installed("jax", "diffrax", "equinox", extra="jax", packages="jax jaxlib diffrax equinox"),
}


class Strategy(abc.ABC):
    """A gradient method with its options. Subclasses set the class attributes and implement `gradient`.

    name       the family's registered name
    options    the options a value carries (gradcmp.config.Param: type, default, range, help)
    needs      names in NEEDS the problem must meet (`requirements` may add some by option)
    autograd   True when the strategy records an autograd graph, so its saved-for-backward
               bytes are measured (saved-tensor hooks cannot run under torch.func transforms)
    numpy_memory  True when the strategy allocates with numpy rather than torch: torch's memory
               accounting does not see numpy, so its peak is measured with tracemalloc instead
    solver_options  {option: gradcmp.ode.system.SolverOptions field} the ODE strategies hand to the solve
    wraps      True for a wrapper around another strategy, spelled WRAPPER(STRATEGY)

    A value is immutable and compares by its label; it keeps nothing between calls (what one instance
    needs to keep, a compiled function, lives in that instance's `scratch`).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[tuple[Param, ...]] = ()
    needs: ClassVar[frozenset[str]] = frozenset()
    autograd: ClassVar[bool] = False
    numpy_memory: ClassVar[bool] = False
    solver_options: ClassVar[dict[str, str]] = {}
    wraps: ClassVar[bool] = False  # takes another strategy as its argument (compiled)

    def __init__(self, **values):
        declared = {option.name: option for option in self.options}
        config = {option.name: option.default for option in self.options}
        for key, value in values.items():
            if key not in declared:
                raise ConfigError(f"unknown option {key!r} for strategy {self.name}{did_you_mean(key, declared)}; "
                                  f"its options are: {', '.join(declared) or 'none'}")
            option = declared[key]
            try:
                config[key] = option.parse(value) if isinstance(value, str) else option.check(value)
            except ConfigError as error:
                raise ConfigError(f"{self.name}: {error}") from None
        object.__setattr__(self, "config", MappingProxyType(config))
        self.check_config()

    def check_config(self) -> None:
        """Raise ConfigError for a combination of options that cannot work together."""

    def __setattr__(self, name, value):
        raise AttributeError(f"a strategy is an immutable value; make another: {self.name}(...) or .replace(...)")

    def replace(self, **values) -> "Strategy":
        """This strategy with some options changed."""
        return type(self)(**{**self.config, **values})

    @property
    def unwrapped(self) -> "Strategy":
        """The strategy itself, or for a wrapper the strategy it wraps."""
        return self

    def declares(self, option: str) -> bool:
        """Whether `option` is one of this strategy's options (a wrapper's: of the strategy it wraps)."""
        return option in self.config

    def with_options(self, **options) -> "Strategy":
        """This strategy with those of `options` it declares set; the others are not its business."""
        return self.replace(**{key: value for key, value in options.items() if self.declares(key)})

    @classmethod
    def example(cls) -> "Strategy":
        """A value of the family, to ask what the family needs (`gradcmp list`): its default."""
        return cls()

    @property
    def label(self) -> str:
        """The one spelling: 'checkpoint', or 'checkpoint(checkpoints=8,schedule=binomial)' (options not at
        their default, in declared order)."""
        changed = [f"{option.name}={_text(self.config[option.name])}" for option in self.options
                   if self.config[option.name] != option.default]
        return f"{self.name}({','.join(changed)})" if changed else self.name

    def __repr__(self) -> str:
        return f"gradcmp.strategy({self.label!r})"

    def __str__(self) -> str:
        return self.label

    def __eq__(self, other) -> bool:
        return isinstance(other, Strategy) and self.label == other.label

    def __hash__(self) -> int:
        return hash(self.label)

    def requirements(self) -> frozenset[str]:
        """The names in NEEDS this value needs (the family's, plus what its options add)."""
        return self.needs

    def applies_to(self, problem: Problem, instance: Instance | None = None) -> str | None:
        """None when the strategy can differentiate `problem` (and, once built, `instance`), else the reason
        in words. Installation aside (see `unavailable`)."""
        for name in sorted(self.requirements()):
            if not NEEDS[name].install:
                reason = NEEDS[name].reason(problem, instance)
                if reason:
                    return reason
        return None

    def unavailable(self) -> str | None:
        """Why the strategy cannot run on this installation (a missing optional package), or None."""
        for name in sorted(self.requirements()):
            if NEEDS[name].install:
                reason = NEEDS[name].reason(None, None)
                if reason:
                    return reason
        return None

    def system(self, instance: Instance):
        """The instance's ODE system with this strategy's solver options in its SolverOptions."""
        if not self.solver_options:
            return instance.ode
        given = {field: self.config[option] for option, field in self.solver_options.items()}
        return replace(instance.ode, options=replace(instance.ode.options, **given))

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


def _text(value) -> str:
    """An option's value as the spelling writes it: true/false, 1e-08, binomial."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


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
