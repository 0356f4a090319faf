"""One problem configuration, every chosen strategy: build the instance once, measure each in turn."""
from __future__ import annotations

from typing import Callable

from gradcmp.config import Budget, ConfigError, Settings, available_memory_bytes
from gradcmp.problems import PROBLEMS, Problem
from gradcmp.results import Result, Run, machine_info
from gradcmp.strategies import STRATEGIES, Strategy
from gradcmp.units import human_bytes


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


def _afford_build(problem: Problem, params: dict, budget: Budget) -> None:
    """Raise Skip (memory) or OverTime (time) when the problem's own estimate of building it is over
    the budget: checked before anything is allocated."""
    from gradcmp import deadline
    from gradcmp.strategies.base import check_memory

    if problem.estimate is None:
        return
    nbytes, flops = problem.estimate(params)
    check_memory("building the problem", nbytes, budget)
    deadline.check_estimate("building the problem", flops)


def _rss_bytes(peak: bool) -> int:
    """The process's resident set now (/proc/self/statm), or its peak so far (ru_maxrss, KiB on Linux)."""
    import os
    import resource

    if not peak:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_problem(problem: Problem, params: dict, chosen: list[tuple[Strategy, str | None]],
                settings: Settings, on_result: Callable[[Result], None] = lambda result: None) -> Run:
    """Measure every chosen strategy on one instance; on_result sees each row as it is finished.

    Nothing raises past here once the settings are valid: a problem that is over budget or cannot
    be built makes every row skipped or failed with the reason; a primal evaluation over the time
    budget skips every row (each strategy needs at least one).
    """
    import torch

    from gradcmp import deadline
    from gradcmp.measure import measure_strategy, time_repeats
    from gradcmp.strategies.base import Skip

    dtype, device = torch_dtype_device(settings)
    torch.set_num_threads(settings.threads)
    budget = budget_for(settings, device)
    run = Run(problem.name, params, settings.dtype, str(device), settings.seed, settings.threads,
              machine=machine_info(str(device)))
    rss_baseline = _rss_bytes(peak=False)
    instance, blocked = None, None
    try:
        with deadline.within(budget.max_seconds, "building the problem"):
            _afford_build(problem, params, budget)
            instance = problem.build(params, dtype, device, settings.seed)
        run.info.update(instance.info)
    except (Skip, deadline.OverTime) as skip:
        blocked = ("skipped", str(skip))
    except Exception as error:  # an allocation, an overflowing seed, a solver that gave up
        blocked = ("failed", f"the problem could not be built: {deadline.describe(error)}")
    primal_time = None
    if instance is not None:
        try:
            with torch.no_grad(), deadline.within(budget.max_seconds, "one loss evaluation"):
                instance.loss(instance.x)  # the cut-off sees this call; the timed repeats cost about as much
            with torch.no_grad():
                primal_time = time_repeats(lambda: instance.loss(instance.x), settings.threads,
                                           settings.min_run_time).median
        except deadline.OverTime as skip:
            blocked = ("skipped", str(skip))
        except Exception:  # e.g. an ODE solve that gives up: each strategy meets it and reports it as failed
            pass
    for strategy, reason in chosen:
        if reason:
            result = Result(strategy.name, "skipped", reason=reason)
        elif blocked:
            result = Result(strategy.name, *blocked)
        else:
            result = measure_strategy(strategy, instance, budget, settings.threads,
                                      settings.min_run_time, primal_time)
        run.results.append(result)
        on_result(result)
    run.info["process RSS"] = (f"{human_bytes(rss_baseline)} at the start, "
                               f"{human_bytes(max(rss_baseline, _rss_bytes(peak=True)))} at its peak")
    return run
