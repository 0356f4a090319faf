"""A time cut-off that long loops consult, so no piece of work runs far past --max-time.

`within(seconds, what)` opens a limit for a piece of work (building a problem, one loss evaluation,
one strategy's gradient); loops that can run long (every ODE solver step) call `check(fraction)`
with the share of their own work done. Past PROBE_SECONDS, a loop whose extrapolated total
(elapsed / fraction) exceeds the limit stops at once with that estimate; any loop stops once the
limit itself has passed. Outside any `within`, check does nothing: the library's own calls
(tests, scripts) are never cut.

The estimate extrapolates the current loop only, so for work made of many loops (finite
differences: one solve per input) it is a lower bound, and the limit itself is the backstop.
"""
from __future__ import annotations

import contextlib
import time
from functools import lru_cache

from gradcmp.units import human_time

# Seconds a piece of work runs before its extrapolated total may stop it: long enough that
# start-up costs do not dominate the extrapolation, short enough that a hopeless run ends soon.
PROBE_SECONDS = 1.0

_limits: list[list] = []  # [start, seconds, what, loop start, loop's first fraction, last fraction], innermost last


class OverTime(Exception):
    """A piece of work was stopped (or not started) because it would exceed the time budget."""


def over_time(what: str, estimate: float, seconds: float, at_least: bool = False) -> OverTime:
    about = "more than" if at_least else "about"
    return OverTime(f"{what} would take {about} {human_time(estimate)}, over the time budget "
                    f"of {human_time(seconds)} (--max-time to change)")


@contextlib.contextmanager
def within(seconds: float, what: str):
    """Limit the work inside the block to `seconds`; `what` names it in the message."""
    now = time.perf_counter()
    _limits.append([now, seconds, what, now, 0.0, 0.0])
    try:
        yield
    finally:
        _limits.pop()


def check(fraction: float) -> None:
    """Raise OverTime when the innermost limit has passed, or will: `fraction` (0..1] is the share
    of the caller's loop done so far. A loop reports 0 when it starts (as does a fraction below
    the last one seen): its own pace from there is what is extrapolated."""
    if not _limits:
        return
    limit = _limits[-1]
    start, seconds, what = limit[:3]
    now = time.perf_counter()
    if fraction <= 0 or fraction < limit[5]:
        limit[3], limit[4] = now, fraction
    limit[5] = fraction
    elapsed, loop_elapsed, loop_done = now - start, now - limit[3], fraction - limit[4]
    total = elapsed + loop_elapsed / loop_done * (1 - fraction) if loop_done > 0 else None
    if elapsed > seconds:  # the estimate when this loop's pace says more, else what has been spent
        raise over_time(what, total, seconds) if total is not None and total > elapsed else \
            over_time(what, elapsed, seconds, at_least=True)
    if loop_elapsed > PROBE_SECONDS and total is not None and total > seconds:
        raise over_time(what, total, seconds)


def check_estimate(what: str, flops: float) -> None:
    """Raise OverTime, before starting, when `flops` floating-point operations would exceed the
    innermost limit at this machine's measured rate (see flop_rate)."""
    if _limits:
        seconds = flops / flop_rate()
        if seconds > _limits[-1][1]:
            raise over_time(what, seconds, _limits[-1][1])


@lru_cache(maxsize=1)
def flop_rate() -> float:
    """Floating-point operations per second of a float64 256 x 256 matrix product here, the best of
    five: an optimistic rate, so estimates made with it err towards running, not skipping."""
    import torch

    a = torch.rand(256, 256, dtype=torch.float64)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 256 ** 3 / max(best, 1e-9)


def describe(error: BaseException) -> str:
    """An exception in one line for a row's reason or an info line: the first line of its message,
    never the exception's class name (the user did not write the class)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "stopped by an error without a message"


def attempt(fn, what: str, info: dict):
    """fn() under the enclosing limit; None when it fails or runs over, with info[what] saying why.
    For results the run can do without (a reference gradient): the rows are measured regardless."""
    try:
        return fn()
    except Exception as error:  # over time, a solver that gave up, an allocation
        info[what] = f"not computed: {describe(error)}"
        return None
