"""Measuring one strategy on one instance: error, time, peak memory, saved-for-backward bytes.

Each quantity comes from its own run, so profiling never pollutes a timing:
  1. a plain call (under saved-tensor hooks when the strategy uses autograd): gradient, error, counters;
  2. a memory call: CUDA allocator peak statistics, or on the CPU the peak of the running sum of
     the torch profiler's allocation events (torch's own allocations, not process RSS); for a
     strategy computing with numpy, the peak tracemalloc sees (numpy reports its buffers there);
  3. timed repeats with torch.utils.benchmark.Timer (warm-up, block sizing, CUDA synchronisation).
Every run starts clean: garbage collected and, on CUDA, the caching allocator emptied.
"""
from __future__ import annotations

import contextlib
import gc
import os
import time
from dataclasses import dataclass

import torch

from gradcmp.config import Budget
from gradcmp.problems.base import Instance
from gradcmp.results import Result
from gradcmp.strategies.base import Skip, Strategy


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clean(device: torch.device) -> None:
    """Free what earlier measurements left behind, so the order of strategies does not matter.

    What survives the collection (torch's and the lazily imported modules' objects, the instance)
    is frozen out of the collector's view, so the next collection only scans what was made since:
    microseconds instead of 0.1-0.2 s per call with torch loaded.
    """
    gc.collect()
    gc.freeze()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def warm_time(fn, device: torch.device) -> float:
    """Seconds for one warm call of fn: the faster of two calls, so first-call costs (torch.func
    set-up, lazy initialisation) and a passing stall of a shared machine do not inflate it.
    Used by strategies to estimate their cost before a budget check."""
    seconds = []
    for _ in range(2):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return min(seconds)


@dataclass(frozen=True)
class Timing:
    median: float
    iqr: float
    times: tuple[float, ...]  # seconds per call, one entry per timed block


def time_repeats(fn, threads: int, min_run_time: float) -> Timing:
    """Median and IQR of fn's time per call, from torch.utils.benchmark's blocked autorange."""
    from torch.utils.benchmark import Timer

    measurement = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(
        min_run_time=min_run_time)
    return Timing(measurement.median, measurement.iqr, tuple(measurement.times))


@contextlib.contextmanager
def _stderr_silenced():
    """The profiler's C++ side prints start/stop lines on fd 2; keep them off the user's terminal."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(fn, device: torch.device, numpy: bool = False) -> int:
    """Peak bytes torch allocated during one call of fn, above what was live before it.

    numpy=True counts what Python's allocators hand out instead, through tracemalloc: numpy
    reports its array buffers there (torch does not), and the Python objects fn makes count too.
    """
    clean(device)
    if numpy:
        return _traced_peak_bytes(fn)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - baseline
    from torch.profiler import ProfilerActivity, profile

    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    allocations = sorted((event.start_ns(), event.nbytes())
                         for event in prof.profiler.kineto_results.events() if event.name() == "[memory]")
    running = peak = 0
    for _, nbytes in allocations:
        running += nbytes
        peak = max(peak, running)
    return peak


def _traced_peak_bytes(fn) -> int:
    """Peak of tracemalloc's traced memory during one call of fn, above what was traced before it."""
    import tracemalloc

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        if not was_tracing:
            tracemalloc.stop()


def call_with_saved_bytes(fn):
    """Call fn under saved-tensor hooks; return (its result, bytes of distinct storages autograd saved)."""
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return result, sum(storages.values())


def gradient_errors(gradient, reference) -> tuple[float, float]:
    """(||g - g_ref|| / ||g_ref||, max |g - g_ref|), in float64 on the CPU."""
    difference = gradient.detach().to("cpu", torch.float64).reshape(reference.shape) - reference
    return float(difference.norm() / reference.norm()), float(difference.abs().max())


def measure_strategy(strategy: Strategy, instance: Instance, budget: Budget, threads: int,
                     min_run_time: float, primal_time: float) -> Result:
    """One Result row: skipped (over budget), failed (exception or non-finite gradient) or ok."""
    device = instance.x.device
    row = Result(strategy.name, "ok", primal_time_s=primal_time)

    def unmeasured(status: str, reason: str) -> Result:
        return Result(strategy.name, status, reason=reason, primal_time_s=primal_time, stats=row.stats)

    try:
        strategy.check_budget(instance, budget)  # inside: an estimate may itself fail (an ODE solve)
        clean(device)
        instance.counters.clear()
        call = lambda: strategy.gradient(instance)  # noqa: E731
        if strategy.autograd:
            gradient, row.saved_bytes = call_with_saved_bytes(call)
        else:
            gradient = call()
        row.stats = dict(instance.counters)
        if not bool(torch.isfinite(gradient).all()):
            return unmeasured("failed", "the gradient has NaN or Inf entries")
        if instance.reference is not None:
            row.rel_error, row.max_abs_error = gradient_errors(gradient, instance.reference)
        del gradient
        row.peak_bytes = peak_bytes(call, device, numpy=strategy.numpy_memory)
        for name, value in strategy.own_measurements(instance).items():
            setattr(row, name, value)
        clean(device)
        timing = time_repeats(call, threads, min_run_time)
        row.time_s, row.time_iqr_s = timing.median, timing.iqr
    except Skip as skip:
        return unmeasured("skipped", str(skip))
    except Exception as error:  # a solver that diverged, an out-of-memory, ...: reported, not raised
        lines = str(error).strip().splitlines()
        return unmeasured("failed", f"{type(error).__name__}: {lines[0] if lines else 'no message'}")
    return row
