"""One problem configuration, every chosen strategy: build the instance once, measure each in turn."""
from __future__ import annotations

from typing import Callable

from gradcmp.config import Budget, ConfigError, Settings, available_memory_bytes
from gradcmp.problems import PROBLEMS, Problem
from gradcmp.results import Result, Run, machine_info
from gradcmp.strategies import COMPILED, STRATEGIES, Strategy


def get_problem(name: str) -> Problem:
    if name not in PROBLEMS:
        raise ConfigError(f"unknown problem {name!r}; choose from: {', '.join(PROBLEMS)}")
    return PROBLEMS[name]


def select_strategies(problem: Problem, names: list[str] | None) -> list[tuple[Strategy, str | None]]:
    """(strategy, reason it cannot run or None) for each chosen strategy.

    No names means every registered strategy, the inapplicable ones carrying their reason.
    An explicitly named strategy that cannot run is a usage error.
    """
    for name in names or ():
        if name not in STRATEGIES:
            raise ConfigError(f"unknown strategy {name!r}; choose from: {', '.join(STRATEGIES)}")
    chosen = []
    for name in names or list(STRATEGIES):
        strategy = STRATEGIES[name]
        reason = strategy.unavailable() or strategy.applies_to(problem)
        if reason and names:
            raise ConfigError(f"strategy {name} cannot run on {problem.name}: {reason}")
        chosen.append((strategy, reason))
    return chosen


def with_compiled(chosen: list[tuple[Strategy, str | None]]) -> list[tuple[Strategy, str | None]]:
    """`chosen`, each strategy followed by its torch.compile'd form where it has one (--compile)."""
    expanded = []
    for strategy, reason in chosen:
        expanded.append((strategy, reason))
        if strategy.name in COMPILED:
            expanded.append((COMPILED[strategy.name], reason))
    return expanded


def torch_dtype_device(settings: Settings):
    """The one place that turns the user's dtype and device into torch's, checking they exist."""
    import torch

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if settings.dtype not in dtypes:
        raise ConfigError(f"unknown dtype {settings.dtype!r}; choose from: {', '.join(dtypes)}")
    device = torch.device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but this torch build sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {settings.device!r}; choose from: cpu, cuda")
    return dtypes[settings.dtype], device


def budget_for(settings: Settings, device) -> Budget:
    """The memory budget: --max-memory, else half of what the device has free right now."""
    if settings.max_memory is not None:
        max_bytes = settings.max_memory
    elif device.type == "cuda":
        import torch

        max_bytes = torch.cuda.mem_get_info(device)[0] // 2
    else:
        max_bytes = available_memory_bytes() // 2
    return Budget(max_bytes=max_bytes, max_seconds=settings.max_time)


def run_problem(problem: Problem, params: dict, chosen: list[tuple[Strategy, str | None]],
                settings: Settings, on_result: Callable[[Result], None] = lambda result: None) -> Run:
    """Measure every chosen strategy on one instance; on_result sees each row as it is finished."""
    import torch

    from gradcmp.measure import measure_strategy, time_repeats

    dtype, device = torch_dtype_device(settings)
    torch.set_num_threads(settings.threads)
    instance = problem.build(params, dtype, device, settings.seed)
    budget = budget_for(settings, device)
    run = Run(problem.name, params, settings.dtype, str(device), settings.seed, settings.threads,
              info=instance.info, machine=machine_info(str(device)))
    try:
        with torch.no_grad():
            primal_time = time_repeats(lambda: instance.loss(instance.x), settings.threads,
                                       settings.min_run_time).median
    except Exception:  # e.g. an ODE solve that gives up: each strategy meets it and reports it as failed
        primal_time = None
    for strategy, reason in with_compiled(chosen) if settings.compile else chosen:
        if reason:
            result = Result(strategy.name, "skipped", reason=reason)
        else:
            result = measure_strategy(strategy, instance, budget, settings.threads,
                                      settings.min_run_time, primal_time)
        run.results.append(result)
        on_result(result)
    return run
