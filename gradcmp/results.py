"""Plain records of what was measured, and their JSON form (the format scripts rely on)."""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gradcmp import __version__
from gradcmp.config import ConfigError


@dataclass
class Result:
    """One row: one strategy on one problem configuration. None where not measured."""

    strategy: str
    status: str  # "ok" | "skipped" | "failed"
    reason: str | None = None
    time_s: float | None = None  # median seconds per gradient
    time_iqr_s: float | None = None
    primal_time_s: float | None = None  # median seconds of one loss evaluation
    compile_s: float | None = None  # seconds spent compiling (compiled strategies only), not in time_s
    peak_bytes: int | None = None
    saved_bytes: int | None = None  # bytes autograd saved for backward (autograd strategies only)
    rel_error: float | None = None
    max_abs_error: float | None = None
    stats: dict[str, int] = field(default_factory=dict)  # counters, e.g. function evaluations

    @property
    def x_primal(self) -> float | None:
        """The gradient's cost as a multiple of one loss evaluation."""
        if self.time_s is None or not self.primal_time_s:
            return None
        return self.time_s / self.primal_time_s


@dataclass
class Run:
    """Every strategy's Result on one problem configuration, with what is needed to reproduce it."""

    problem: str
    params: dict[str, Any]
    dtype: str
    device: str
    seed: int
    threads: int
    info: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        record = {"gradcmp_version": __version__}
        record.update(asdict(self))
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Run":
        """The Run a to_json record describes; keys it does not know (bench's extras) are ignored."""
        known = {f.name for f in fields(cls)} - {"results"}
        run = cls(**{key: value for key, value in record.items() if key in known})
        result_keys = {f.name for f in fields(Result)}
        run.results = [Result(**{key: value for key, value in row.items() if key in result_keys})
                       for row in record["results"]]
        return run


def machine_info(device: str) -> dict[str, Any]:
    """CPU model, torch version and device name: what makes two runs comparable."""
    import torch

    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device_name": _cpu_model(),
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json_atomic(path: str, document: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it over `path`.

    The rename is atomic, so a reader (or a run killed mid-write) sees the old file or the new one,
    never half of one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".gradcmp-", suffix=".json.tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_runs(path: str) -> tuple[dict[str, Any], list[Run]]:
    """(the document, its Runs) from a `bench` results file or the JSON of `gradcmp run --format json`."""
    try:
        with open(path) as file:
            document = json.load(file)
        records = document["runs"] if "runs" in document else [document]
        return document, [Run.from_json(record) for record in records]
    except OSError as error:
        raise ConfigError(f"cannot read results file {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is not a gradcmp results file ({type(error).__name__}: {error})") from None


def row_key(run: Run, result: Result) -> tuple:
    """What makes two rows the same measurement: problem, knobs, strategy, dtype and device."""
    return run.problem, tuple(sorted(run.params.items())), result.strategy, run.dtype, run.device


@dataclass(frozen=True)
class Comparison:
    """One row measured in a baseline and again now; ratios are new / old (above 1: worse)."""

    run: Run
    old: Result
    new: Result

    @property
    def time_ratio(self) -> float | None:
        return _ratio(self.new.time_s, self.old.time_s)

    @property
    def memory_ratio(self) -> float | None:
        return _ratio(self.new.peak_bytes, self.old.peak_bytes)

    def regressed(self, threshold: float) -> bool:
        return any(ratio is not None and ratio > threshold for ratio in (self.time_ratio, self.memory_ratio))


def _ratio(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old <= 0:
        return None
    return new / old if math.isfinite(new / old) else None


def compare_runs(baseline: list[Run], current: list[Run]) -> tuple[list[Comparison], int, int]:
    """Rows measured (status ok) in both, in the current order; and how many rows only one side has."""
    old = {row_key(run, result): result for run in baseline for result in run.results if result.status == "ok"}
    new_keys = set()
    comparisons = []
    for run in current:
        for result in run.results:
            if result.status != "ok":
                continue
            key = row_key(run, result)
            new_keys.add(key)
            if key in old:
                comparisons.append(Comparison(run, old[key], result))
    return comparisons, len(new_keys - old.keys()), len(old.keys() - new_keys)
