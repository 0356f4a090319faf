"""One problem configuration, every chosen strategy: build the instance once, measure each in turn."""
from __future__ import annotations

from typing import Callable

from gradcmp.config import DEFAULT_MEMORY_FRACTION, Budget, Settings, available_memory_bytes, torch_dtype_device
from gradcmp.problems import Problem
from gradcmp.records import Result, Run, machine_info
from gradcmp.strategies import Strategy
from gradcmp.units import human_bytes


def budget_for(settings: Settings, device) -> Budget:
    """The memory budget: max_memory, else DEFAULT_MEMORY_FRACTION of what the device has free right now."""
    if settings.max_memory is not None:
        max_bytes = settings.max_memory
    elif device.type == "cuda":
        import torch

        max_bytes = int(torch.cuda.mem_get_info(device)[0] * DEFAULT_MEMORY_FRACTION)
    else:
        max_bytes = int(available_memory_bytes() * DEFAULT_MEMORY_FRACTION)
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
                settings: Settings, on_result: Callable[[Result], None] = lambda result: None,
                keep_gradients: bool = False) -> Run:
    """Measure every chosen strategy on one instance; on_result sees each row as it is finished.
    keep_gradients: every ok row carries its gradient, the Run the instance's reference.

    Nothing raises past here once the settings are valid: a problem that is over budget or cannot
    be built makes every row skipped or failed with the reason; a primal evaluation over the time
    budget skips every row (each strategy needs at least one).
    """
    import torch

    from gradcmp import deadline
    from gradcmp.measure import measure_strategy, thaw, time_repeats
    from gradcmp.strategies.base import Skip

    dtype, device = torch_dtype_device(settings.dtype, settings.device)
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
        if keep_gradients:
            run.reference = instance.reference
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
    try:
        for strategy, reason in chosen:
            if reason:
                result = Result(strategy.label, "skipped", reason=reason,
                                not_applicable=strategy.applies_to(problem) is not None)
            elif blocked:
                result = Result(strategy.label, *blocked)
            elif late := strategy.applies_to(problem, instance):  # a need only the built instance tells
                result = Result(strategy.label, "skipped", reason=late, not_applicable=True)
            else:
                result = measure_strategy(strategy, instance, budget, settings.threads,
                                          settings.min_run_time, primal_time, keep_gradients)
            run.results.append(result)
            on_result(result)
    finally:
        thaw()
    run.info["process RSS"] = (f"{human_bytes(rss_baseline)} at the start, "
                               f"{human_bytes(max(rss_baseline, _rss_bytes(peak=True)))} at its peak")
    return run
