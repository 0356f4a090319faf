"""Measuring one strategy on one instance: error, time, peak memory, saved-for-backward bytes.

Each quantity comes from its own run, so tracking never pollutes a timing:
  1. a plain call under the time limit (gradcmp.deadline): gradient, error, counters;
  2. a memory call: on the CPU the peak of LiveBytes, a dispatch-mode running sum of the storages
     torch's operators create and free (memory O(live tensors), not O(operations)), with the bytes
     autograd saved for backward among them; CUDA allocator peak statistics on a GPU; for a
     strategy computing with numpy, the peak tracemalloc sees (numpy reports its buffers there);
  3. timed repeats with torch.utils.benchmark.Timer (warm-up, block sizing, CUDA synchronisation).
Every run starts clean: garbage collected and, on CUDA, the caching allocator emptied. A failure
in 2 or 3 leaves the row ok with a note; see docs/measuring.md for what the tracker sees and misses.
"""
from __future__ import annotations

import contextlib
import gc
import math
import weakref
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from gradcmp import deadline
from gradcmp.config import Budget
from gradcmp.ode.base import MethodUnsupported
from gradcmp.probes import call_with_saved_bytes, synchronize  # noqa: F401 -- re-exported for callers
from gradcmp.problems.base import Instance
from gradcmp.results import Result
from gradcmp.strategies.base import Skip, Strategy, check_memory


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


def _tensors(value):
    """The tensors in an operator's arguments or results (tensors, lists and tuples of them, dicts):
    a plain walk, several times cheaper per call than torch's general pytree flattening."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _storage(value) -> tuple:
    """(storage, data pointer, bytes) of a tensor's storage; (None, None, 0) for anything else, and
    for tensors without memory of their own (forward AD's zero tangents have no valid storage)."""
    if isinstance(value, torch.Tensor):
        try:
            storage = value.untyped_storage()
            return storage, storage.data_ptr(), storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
    return None, None, 0


class LiveBytes(TorchDispatchMode):
    """A running sum of the bytes of the tensor storages created while it is active, and its peak.

    Every operator call passes through __torch_dispatch__: an output whose storage is new (not one
    of the call's inputs' storages, not already counted) adds its bytes, and a finalizer on that
    storage takes them off when torch frees it. It holds one entry per live counted storage, so
    tracking costs memory in proportion to the tensors alive at once, never to the number of
    operations. `saved` is the same accounting restricted to storages autograd saved for backward
    (see track_saved), so saved_peak <= peak always holds.
    """

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.saved_live = self.saved_peak = 0
        self._storages: dict[int, list] = {}  # data_ptr -> [nbytes, finalizer, saved?]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {_storage(arg)[1] for arg in _tensors((args, kwargs))}
        for tensor in _tensors(out):
            self._count(*_storage(tensor), inputs)
        return out

    def _count(self, storage, key, nbytes, inputs) -> None:
        if nbytes == 0 or key in inputs or key in self._storages:
            return
        finalizer = weakref.finalize(storage, self._free, key)
        finalizer.atexit = False
        self._storages[key] = [nbytes, finalizer, False]
        self.live += nbytes
        self.peak = max(self.peak, self.live)

    def _free(self, key: int) -> None:
        nbytes, _, saved = self._storages.pop(key)
        self.live -= nbytes
        if saved:
            self.saved_live -= nbytes

    def track_saved(self, tensor) -> None:
        """A saved-tensor pack hook: count the tensor's storage as saved if this call created it."""
        entry = self._storages.get(_storage(tensor)[1])
        if entry is not None and not entry[2]:
            entry[2] = True
            self.saved_live += entry[0]
            self.saved_peak = max(self.saved_peak, self.saved_live)

    def __exit__(self, *exc):
        for _, finalizer, _ in self._storages.values():
            finalizer.detach()  # what outlives the call (the gradient) no longer needs watching
        self._storages.clear()
        return super().__exit__(*exc)


def memory_of(fn, device: torch.device, numpy: bool = False, saved: bool = False
              ) -> tuple[int, int | None]:
    """(peak bytes allocated during one call of fn above what was live before it, peak bytes
    autograd held saved for backward or None when `saved` is False).

    On the CPU the peak comes from LiveBytes (tensors torch's operators create: not the scratch
    space an operator allocates and frees inside itself); on CUDA from the allocator's statistics.
    numpy=True counts what Python's allocators hand out instead, through tracemalloc: numpy
    reports its array buffers there (torch does not), and the Python objects fn makes count too.
    """
    clean(device)
    if numpy:
        return _traced_peak_bytes(fn), None
    tracker = LiveBytes()
    hooks = (torch.autograd.graph.saved_tensors_hooks(lambda t: (tracker.track_saved(t), t)[1], lambda t: t)
             if saved else contextlib.nullcontext())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        with hooks, tracker:
            fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - baseline, tracker.saved_peak if saved else None
    with hooks, tracker:
        fn()
    return tracker.peak, tracker.saved_peak if saved else None


def peak_bytes(fn, device: torch.device, numpy: bool = False) -> int:
    """Peak bytes allocated during one call of fn, above what was live before it (see memory_of)."""
    return memory_of(fn, device, numpy)[0]


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


def gradient_errors(gradient, reference) -> tuple[float, float]:
    """(||g - g_ref|| / ||g_ref||, max |g - g_ref|), in float64 on the CPU.

    Each norm is taken of the vector divided by its largest entry and multiplied back in the ratio,
    so a finite gradient whose plain norm would overflow (entries near 1e156) still gets a finite
    relative error."""
    difference = gradient.detach().to("cpu", torch.float64).reshape(reference.shape) - reference
    largest = float(difference.abs().max())
    scale = float(reference.abs().max())
    if largest == 0:
        return 0.0, 0.0
    if scale == 0:
        return math.inf, largest
    ratio = largest / scale * float((difference / largest).norm() / (reference / scale).norm())
    return ratio, largest


def measure_strategy(strategy: Strategy, instance: Instance, budget: Budget, threads: int,
                     min_run_time: float, primal_time: float | None, keep_gradient: bool = False) -> Result:
    """One Result row: skipped (over budget), failed (exception or non-finite gradient) or ok.
    keep_gradient: an ok row carries the gradient of its first call in `gradient`.

    Once the gradient is computed the row is ok: a later measurement that fails (the memory pass,
    the timed repeats) leaves its figure None and a note saying which one and why.
    """
    device = instance.x.device
    row = Result(strategy.name, "ok", primal_time_s=primal_time)

    def unmeasured(status: str, reason: str) -> Result:
        return Result(strategy.name, status, reason=reason, primal_time_s=primal_time, stats=row.stats,
                      estimated_bytes=row.estimated_bytes)

    call = lambda: strategy.gradient(instance)  # noqa: E731
    try:
        with deadline.within(budget.max_seconds, f"{strategy.name}'s gradient"):
            strategy.check_budget(instance, budget)  # inside: an estimate may itself fail (an ODE solve)
            row.estimated_bytes = strategy.estimated_bytes(instance)
            if row.estimated_bytes is not None:
                check_memory(f"{strategy.name}'s working memory", row.estimated_bytes, budget)
            clean(device)
            instance.counters.clear()
            gradient = call()
        row.stats = dict(instance.counters)
        if not bool(torch.isfinite(gradient).all()):
            return unmeasured("failed", "the gradient has NaN or Inf entries")
        if instance.reference is not None:
            row.rel_error, row.max_abs_error = gradient_errors(gradient, instance.reference)
            if not row.rel_error <= 1:
                row.notes.append(f"relative error {row.rel_error:.3g} > 1: this gradient is unreliable")
        if keep_gradient:
            row.gradient = gradient.detach()
        del gradient
    except (Skip, deadline.OverTime, MethodUnsupported) as skip:
        return unmeasured("skipped", str(skip))
    except Exception as error:  # a solver that diverged, an out-of-memory, ...: reported, not raised
        return unmeasured("failed", deadline.describe(error))
    try:
        row.peak_bytes, row.saved_bytes = memory_of(call, device, numpy=strategy.numpy_memory,
                                                    saved=strategy.autograd)
    except Exception as error:
        row.notes.append(f"peak memory not measured: {deadline.describe(error)}")
    try:
        for name, value in strategy.own_measurements(instance).items():  # e.g. a compiler's figures
            setattr(row, name, value)
    except Exception as error:
        row.notes.append(f"compile time and memory not measured: {deadline.describe(error)}")
    try:
        clean(device)
        timing = time_repeats(call, threads, min_run_time)
        row.time_s, row.time_iqr_s, row.repeats = timing.median, timing.iqr, len(timing.times)
    except Exception as error:
        row.notes.append(f"time not measured: {deadline.describe(error)}")
    return row
