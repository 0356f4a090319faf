"""What a sweep's numbers say: each strategy's growth law, and which strategy to use.

Everything here reads measured Results; nothing measures and nothing prints.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from gradcmp.records import Result, Run

# Rel. errors within this factor of each other count as equally accurate: closer than that, the
# difference is noise, not a property of the strategy.
ACCURACY_TIE = 10.0
# Rel. errors below about 100 ulp are rounding, whichever strategy made them.
ROUNDING = {"float64": 100 * 2.0 ** -52, "float32": 100 * 2.0 ** -23}
MIN_SIZES_FOR_FIT = 3


def fit_power_law(sizes: list[float], values: list[float]) -> tuple[float, float]:
    """(exponent, scale) of value ~ scale * size^exponent, least squares on log-log axes.

    Exact on an exact power law; needs two distinct sizes and positive values.
    """
    xs = [math.log(size) for size in sizes]
    ys = [math.log(value) for value in values]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    exponent = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread
    return exponent, math.exp(mean_y - exponent * mean_x)


@dataclass(frozen=True)
class ScalingLaw:
    """How one strategy's cost grows along a sweep: time ~ param^time_exponent, and so on.

    time_exponent is None where too few values were left to fit (`left_out` says which were not usable).
    """

    problem: str
    param: str
    strategy: str
    sizes: tuple[float, ...]
    time_exponent: float | None
    memory_exponent: float | None  # None where a peak was not positive (nothing to fit)
    x_primal_exponent: float | None  # the gradient's cost relative to one loss evaluation
    left_out: tuple[float, ...] = ()  # values of the param at or below 0: a log-log fit cannot use them

    def describe(self) -> str:
        def law(exponent):
            return f"{self.param}^{exponent:.1f}"

        left_out = (f"{self.param}={', '.join(f'{value:g}' for value in self.left_out)} left out (a log-log "
                    "fit needs values above 0)") if self.left_out else ""
        if self.time_exponent is None:
            return (f"{self.strategy}: no growth law: {left_out}, leaving {len(self.sizes)} values, fewer than "
                    f"the {MIN_SIZES_FOR_FIT} a fit needs")
        parts = [f"time ~ {law(self.time_exponent)}"]
        if self.x_primal_exponent is not None:
            parts[0] += f" ({law(self.x_primal_exponent)} x primal)"
        parts.append("memory ~ " + (law(self.memory_exponent) if self.memory_exponent is not None else "-"))
        fitted = f"fit on {self.param}={self.sizes[0]:g}..{self.sizes[-1]:g}" + (f"; {left_out}" if left_out else "")
        return f"{self.strategy}: {', '.join(parts)}  [{fitted}]"

    def to_json(self) -> dict:
        return asdict(self)


def _exponent(sizes: list[float], values: list[float | None]) -> float | None:
    """The fitted exponent, or None where a value is missing or not positive (no log to take)."""
    if not all(value is not None and value > 0 for value in values):
        return None
    return fit_power_law(sizes, values)[0]


def scaling_laws(problem: str, param: str, runs: list[Run]) -> list[ScalingLaw]:
    """One law per strategy with ok rows at MIN_SIZES_FOR_FIT or more distinct values of `param`;
    none when the param is not a number (a sweep of methods has no growth law). Values at or below 0
    are left out of the log-log fit (the law says so, or that too few values were left to fit)."""
    if not all(isinstance(run.params[param], (int, float)) and not isinstance(run.params[param], bool)
               for run in runs):
        return []
    rows: dict[str, dict[float, Result]] = {}
    for run in runs:
        for result in run.results:
            if result.status == "ok" and result.time_s is not None and result.time_s > 0:
                rows.setdefault(result.strategy, {})[float(run.params[param])] = result  # a repeated value: the last
    laws = []
    for strategy, measured in rows.items():
        if len(measured) < MIN_SIZES_FOR_FIT:
            continue
        left_out = tuple(sorted(size for size in measured if size <= 0))
        sizes = sorted(size for size in measured if size > 0)
        if len(sizes) < MIN_SIZES_FOR_FIT:
            laws.append(ScalingLaw(problem, param, strategy, tuple(sizes), None, None, None, left_out))
            continue
        # the larger half of the sizes (at least MIN_SIZES_FOR_FIT): at the small ones fixed per-call
        # overheads dominate and would flatten the growth law a user extrapolates from
        sizes = sizes[-max(MIN_SIZES_FOR_FIT, -(-len(sizes) // 2)):]
        results = [measured[size] for size in sizes]
        laws.append(ScalingLaw(problem, param, strategy, tuple(sizes),
                               _exponent(sizes, [result.time_s for result in results]),
                               _exponent(sizes, [result.peak_bytes for result in results]),
                               _exponent(sizes, [result.x_primal for result in results]), left_out))
    return laws


def _times(ratio: float) -> str:
    if ratio < 1.1:  # two significant digits would round 1.04 to "1x"
        return f"{ratio:.2f}x"
    return f"{ratio:.2g}x" if ratio < 10 else f"{ratio:,.0f}x"


def tied(first: Result, second: Result) -> bool:
    """Whether two median times lie within their spread (the sum of their IQRs): neither is faster."""
    return abs(second.time_s - first.time_s) <= (first.time_iqr_s or 0) + (second.time_iqr_s or 0)


def _faster(fastest: Result, other: Result) -> str:
    if tied(fastest, other):
        return f"as fast as {other.strategy}"
    return f"{_times(other.time_s / fastest.time_s)} faster than {other.strategy}"


def _its_time(other: Result, fastest: Result) -> str:
    return "about the same time" if tied(fastest, other) else f"{_times(other.time_s / fastest.time_s)} its time"


def _share(ratio: float) -> str:
    percent = 100 * ratio
    return f"{percent:.2g}%" if percent < 10 else f"{percent:.0f}%"


@dataclass(frozen=True)
class Recommendation:
    """Which strategy to use on one problem configuration, and why, from its measured rows."""

    problem: str
    params: dict
    fastest: str | None
    leanest: str | None
    most_accurate: str | None
    lines: tuple[str, ...]

    def to_json(self) -> dict:
        return asdict(self)


def recommend(runs: list[Run], param: str | None = None) -> Recommendation:
    """Read the largest configuration where two or more strategies finished (else the last one);
    with a sweep, say where the winner changes and from where only some strategies finish.

    fastest: lowest median time; leanest: lowest peak memory; most accurate: lowest rel. error.
    The lines compare them by their measured ratios, never by a fixed rule.
    """
    def finished(run):
        return [result for result in run.results if result.status == "ok" and result.time_s is not None]

    run = next((run for run in reversed(runs) if len(finished(run)) > 1), runs[-1])
    ok = finished(run)
    # the swept param, else the main one (the first): the table's title above gives all the others
    shown = param or next(iter(run.params), None)
    where = f"at {shown}={run.params[shown]}" if shown else f"on {run.problem}"  # a problem may have no params
    if not ok:
        return Recommendation(run.problem, run.params, None, None, None,
                              (f"no strategy finished {where}; see the reasons above",))
    by_time = sorted(ok, key=lambda result: result.time_s)
    fastest = by_time[0]
    with_memory = sorted((result for result in ok if result.peak_bytes is not None),
                         key=lambda result: result.peak_bytes)
    leanest = with_memory[0] if with_memory else None
    with_error = sorted((result for result in ok if result.rel_error is not None),
                        key=lambda result: result.rel_error)
    accurate = with_error[0] if with_error else None

    lines = [_speed_line(where, by_time, with_memory)]
    if accurate is not None:
        lines.append(_accuracy_line(fastest, accurate, with_error, ROUNDING[run.dtype]))
    if param and len(runs) > 1:
        crossover = _crossover(runs, param)
        if crossover:
            lines.append(crossover)
        if run is not runs[-1] and finished(runs[-1]):
            beyond = runs[runs.index(run) + 1].params[param]
            lines.append(f"from {param}={beyond} on, only {', '.join(r.strategy for r in finished(runs[-1]))} "
                         "finished (the others over budget or failed)")
    return Recommendation(run.problem, run.params, fastest.strategy, leanest and leanest.strategy,
                          accurate and accurate.strategy, tuple(lines))


def _speed_line(where: str, by_time: list[Result], with_memory: list[Result]) -> str:
    fastest = by_time[0]
    leanest = with_memory[0] if with_memory else None
    if len(by_time) == 1:
        return f"{where}, only {fastest.strategy} finished"
    faster = _faster(fastest, by_time[1])
    if leanest is None or leanest.peak_bytes == fastest.peak_bytes:  # a tie goes to the faster
        others = [result for result in with_memory if result is not fastest and result.peak_bytes]
        leaner = (f" and needs {_share(fastest.peak_bytes / others[0].peak_bytes)} of {others[0].strategy}'s "
                  "memory") if others and fastest.peak_bytes is not None else ""
        return f"{where}, use {fastest.strategy}: fastest and leanest, {faster}{leaner}"
    memory_share = _share(leanest.peak_bytes / fastest.peak_bytes) if fastest.peak_bytes else "less"
    return (f"{where}, use {fastest.strategy} for speed ({faster}); {leanest.strategy} is leanest, "
            f"needing {memory_share} of {fastest.strategy}'s memory at {_its_time(leanest, fastest)}")


def _accuracy_line(fastest: Result, accurate: Result, with_error: list[Result], rounding: float) -> str:
    worst = with_error[-1]
    best_error = max(accurate.rel_error, rounding)
    if worst.rel_error == 0:
        return "all match the reference exactly (rel. error 0)"
    if worst.rel_error <= ACCURACY_TIE * best_error:
        return f"all agree with the reference to a rel. error of {worst.rel_error:.0e} or better"
    if fastest.rel_error is not None and fastest.rel_error <= ACCURACY_TIE * best_error:
        return (f"{fastest.strategy} is also among the most accurate (rel. error {fastest.rel_error:.1e}); "
                f"{worst.strategy} is the least ({worst.rel_error:.1e})")
    return (f"{accurate.strategy} is the most accurate (rel. error {accurate.rel_error:.1e}, "
            f"{_times(fastest.rel_error / best_error)} closer than {fastest.strategy}) at "
            f"{_its_time(accurate, fastest)}")


def _crossover(runs: list[Run], param: str) -> str | None:
    """'jvp is fastest at size 4..32, vjp at 64..512' when the fastest strategy changes along the sweep."""
    spans: list[list] = []  # [strategy, first value, last value]
    for run in runs:
        ok = [result for result in run.results if result.status == "ok" and result.time_s is not None]
        if not ok:
            continue
        winner = min(ok, key=lambda result: result.time_s).strategy
        value = run.params[param]
        if spans and spans[-1][0] == winner:
            spans[-1][2] = value
        else:
            spans.append([winner, value, value])
    if len(spans) < 2:
        return None
    return "fastest along the sweep: " + ", ".join(
        f"{strategy} at {param}={first}" + (f"..{last}" if last != first else "") for strategy, first, last in spans)
