"""The one cell formatter: how a time, a ratio, a size in bytes and an error read, in every output."""
from __future__ import annotations

import sys

from gradcmp.records import Result
from gradcmp.units import human_bytes, human_time

# Fewer timed blocks than this give no spread worth printing: the cell shows the count instead.
MIN_REPEATS_FOR_SPREAD = 3


def plus_minus() -> str:
    """'±' where stdout can encode it, '+-' where it cannot (PYTHONIOENCODING=ascii, a latin-less locale)."""
    try:
        "±".encode(sys.stdout.encoding or "ascii")
        return "±"
    except (UnicodeEncodeError, LookupError):
        return "+-"


def time_header() -> str:
    return f"time (median {plus_minus()} IQR)"


def time(result: Result) -> str:
    """'450 us ± 12 us'; '296 ms, n=1' when fewer than MIN_REPEATS_FOR_SPREAD blocks were timed."""
    if result.time_s is None:
        return "-"
    if result.repeats is not None and result.repeats < MIN_REPEATS_FOR_SPREAD:
        return f"{human_time(result.time_s)}, n={result.repeats}"
    return f"{human_time(result.time_s)} {plus_minus()} {human_time(result.time_iqr_s)}"


def seconds(value: float | None) -> str:
    return human_time(value)


def ratio(value: float | None) -> str:
    """A multiple: '3x', '14.2x', '4,873x'."""
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def size(nbytes: float | None) -> str:
    return human_bytes(nbytes)


def error(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"
