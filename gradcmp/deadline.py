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
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

from gradcmp.units import human_time

# Seconds a piece of work runs before its extrapolated total may stop it: long enough that
# start-up costs do not dominate the extrapolation, short enough that a hopeless run ends soon.
PROBE_SECONDS = 1.0


class OverTime(Exception):
    """A piece of work was stopped (or not started) because it would exceed the time budget."""


def over_time(what: str, estimate: float, seconds: float, at_least: bool = False) -> OverTime:
    about = "more than" if at_least else "about"
    return OverTime(f"{what} would take {about} {human_time(estimate)}, over the time budget "
                    f"of {human_time(seconds)} (--max-time to change)")


@dataclass
class Limit:
    """One piece of work's time limit, and the pace of the loop running in it."""

    what: str  # names the work in the message
    seconds: float
    start: float = field(default_factory=lambda: time.perf_counter())
    loop_start: float = 0.0  # when the current loop reported 0 (or went back)
    loop_first: float = 0.0  # the fraction it reported then
    last: float = 0.0  # the last fraction reported

    def __post_init__(self):
        self.loop_start = self.start

    def check(self, fraction: float) -> None:
        """OverTime when this limit has passed, or will at the loop's pace (see the module `check`)."""
        now = time.perf_counter()
        if fraction <= 0 or fraction < self.last:
            self.loop_start, self.loop_first = now, fraction
        self.last = fraction
        elapsed, loop_elapsed, loop_done = now - self.start, now - self.loop_start, fraction - self.loop_first
        total = elapsed + loop_elapsed / loop_done * (1 - fraction) if loop_done > 0 else None
        if elapsed > self.seconds:  # the estimate when this loop's pace says more, else what has been spent
            raise over_time(self.what, total, self.seconds) if total is not None and total > elapsed else \
                over_time(self.what, elapsed, self.seconds, at_least=True)
        if loop_elapsed > PROBE_SECONDS and total is not None and total > self.seconds:
            raise over_time(self.what, total, self.seconds)


# The innermost limit of this thread of work (None outside any `within`): a context variable, so what runs
# inside a limit sees it without every function on the way passing it on.
_current: ContextVar[Limit | None] = ContextVar("gradcmp_time_limit", default=None)


@contextlib.contextmanager
def within(seconds: float, what: str):
    """Limit the work inside the block to `seconds`; `what` names it in the message."""
    token = _current.set(Limit(what, seconds))
    try:
        yield
    finally:
        _current.reset(token)


def check(fraction: float) -> None:
    """Raise OverTime when the innermost limit has passed, or will: `fraction` (0..1] is the share
    of the caller's loop done so far. A loop reports 0 when it starts (as does a fraction below
    the last one seen): its own pace from there is what is extrapolated."""
    limit = _current.get()
    if limit is not None:
        limit.check(fraction)


def check_estimate(what: str, flops: float) -> None:
    """Raise OverTime, before starting, when `flops` floating-point operations would exceed the
    innermost limit at this machine's measured rate (see flop_rate)."""
    limit = _current.get()
    if limit is not None and flops / flop_rate() > limit.seconds:
        raise over_time(what, flops / flop_rate(), limit.seconds)


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
