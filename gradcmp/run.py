"""One problem configuration, every chosen strategy: build the instance once, measure each in turn."""
from __future__ import annotations

from typing import Callable

from gradcmp.config import Budget, Settings, available_memory_bytes, torch_dtype_device
from gradcmp.problems import Problem
from gradcmp.results import Result, Run, machine_info
from gradcmp.strategies import Strategy


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
                settings: Settings, on_result: Callable[[Result], None] = lambda result: None,
                keep_gradients: bool = False) -> Run:
    """Measure every chosen strategy on one instance; on_result sees each row as it is finished.
    keep_gradients: every ok row carries its gradient, the Run the instance's reference."""
    import torch

    from gradcmp.measure import measure_strategy, time_repeats

    dtype, device = torch_dtype_device(settings.dtype, settings.device)
    torch.set_num_threads(settings.threads)
    instance = problem.build(params, dtype, device, settings.seed)
    budget = budget_for(settings, device)
    run = Run(problem.name, params, settings.dtype, str(device), settings.seed, settings.threads,
              info=instance.info, machine=machine_info(str(device)),
              reference=instance.reference if keep_gradients else None)
    try:
        with torch.no_grad():
            primal_time = time_repeats(lambda: instance.loss(instance.x), settings.threads,
                                       settings.min_run_time).median
    except Exception:  # e.g. an ODE solve that gives up: each strategy meets it and reports it as failed
        primal_time = None
    for strategy, reason in chosen:
        if reason:
            result = Result(strategy.name, "skipped", reason=reason)
        else:
            result = measure_strategy(strategy, instance, budget, settings.threads,
                                      settings.min_run_time, primal_time, keep_gradients)
        run.results.append(result)
        on_result(result)
    return run
