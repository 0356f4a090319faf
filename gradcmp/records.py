"""Plain records of what was measured and their schema: the JSON a results file holds (the format scripts
rely on), every field declared once on its record. Nothing here reads or writes files (gradcmp.storage) or
compares runs (gradcmp.gate)."""
from __future__ import annotations

import copy
import json
import math
import os
import platform
from dataclasses import dataclass, field, fields
from typing import Any

from gradcmp.config import ConfigError
from gradcmp.version import VERSION


@dataclass
class Result:
    """One row: one strategy on one problem configuration. None where not measured."""

    strategy: str
    status: str  # "ok" | "skipped" | "failed"
    reason: str | None = None
    time_s: float | None = None  # median seconds per gradient
    time_iqr_s: float | None = None
    repeats: int | None = None  # timed blocks the median and IQR come from (an IQR of fewer than 3 says little)
    primal_time_s: float | None = None  # median seconds of one loss evaluation
    compile_s: float | None = None  # seconds spent compiling (compiled strategies only), not in time_s
    peak_bytes: int | None = None
    estimated_bytes: float | None = None  # the strategy's own estimate before running (None: it has none)
    saved_bytes: int | None = None  # bytes autograd saved for backward (autograd strategies only)
    rel_error: float | None = None
    max_abs_error: float | None = None
    stats: dict[str, int] = field(default_factory=dict)  # counters, e.g. function evaluations
    notes: list[str] = field(default_factory=list)  # measurements that failed, unreliable figures
    not_applicable: bool = False  # skipped because the strategy cannot apply to this problem at all
    # the gradient itself (a tensor), kept on ok rows when asked for (compare(keep_gradients=True)); not in JSON
    gradient: Any = field(default=None, repr=False, compare=False, metadata={"json": False})

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
    # the float64 reference gradient, kept with the rows' gradients; not in JSON
    reference: Any = field(default=None, repr=False, compare=False, metadata={"json": False})

    def to_json(self) -> dict[str, Any]:
        """The record, strict JSON: a row's inf or nan becomes null, its field named in the row's `non_finite`."""
        record = {"gradcmp_version": VERSION, **_json_fields(self)}
        record["results"] = [_json_fields(result) for result in self.results]
        for row in record["results"]:
            bad = [key for key, value in row.items() if isinstance(value, float) and not math.isfinite(value)]
            if bad:
                row.update({key: None for key in bad}, non_finite=bad)
        return strict(record)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Run":
        """The Run a to_json record describes; keys it does not know (bench's extras) are ignored."""
        known = {f.name for f in fields(cls) if f.metadata.get("json", True)} - {"results"}
        run = cls(**{key: value for key, value in record.items() if key in known})
        result_keys = {f.name for f in fields(Result) if f.metadata.get("json", True)}
        run.results = [Result(**{key: value for key, value in row.items() if key in result_keys})
                       for row in record["results"]]
        return run

    def gradient_arrays(self) -> dict[str, Any]:
        """The kept gradients as numpy arrays (on the CPU, in the run's dtype), keyed by strategy,
        and the reference under "reference"; empty without keep_gradients."""
        arrays = {result.strategy: result.gradient.detach().cpu().numpy()
                  for result in self.results if result.gradient is not None}
        if self.reference is not None:
            arrays["reference"] = self.reference.detach().cpu().numpy()
        return arrays


@dataclass(frozen=True)
class CaseInfo:
    """What a results file keeps of the case a Run belongs to: its number in the preset, the param it
    sweeps, its tolerance and the strategies expected to fail (the gate)."""

    number: int
    sweep: str | None = None
    tolerance: float | None = None
    expect_failure: tuple[str, ...] = ()

    def over_tolerance(self, result) -> bool:
        return self.tolerance is not None and result.rel_error is not None and not result.rel_error <= self.tolerance

    def gate_problem(self, result) -> str | None:
        """Why `result` fails the CI gate, or None: it failed, or its rel. error is over the tolerance.
        A strategy in expect_failure fails the gate the other way round: when it passes."""
        if result.status == "failed":
            problem = f"failed ({result.reason})"
        elif self.over_tolerance(result):
            problem = f"rel. error {result.rel_error:.1e} over tolerance {self.tolerance:.0e}"
        else:
            problem = None
        if result.strategy in self.expect_failure:
            return None if problem or result.status == "skipped" else "expected to fail, but passed"
        return problem


@dataclass
class Entry:
    """A Run and its case: one problem configuration of a sweep (partial while it is being measured)."""

    case: CaseInfo
    run: Run

    def to_json(self) -> dict:
        record = self.run.to_json()
        record.update(case=self.case.number, sweep=self.case.sweep, tolerance=self.case.tolerance,
                      expect_failure=list(self.case.expect_failure))
        return record

    @classmethod
    def from_json(cls, record: dict) -> "Entry":
        return cls(CaseInfo(record.get("case", 1), record.get("sweep"), record.get("tolerance"),
                            tuple(record.get("expect_failure", ()))), Run.from_json(record))


def _json_fields(record) -> dict[str, Any]:
    """A dataclass's fields that belong in its JSON, copied (so later changes to it do not show)."""
    return {f.name: copy.deepcopy(getattr(record, f.name)) for f in fields(record)
            if f.metadata.get("json", True) and f.name != "results"}


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


def strict(value: Any) -> Any:
    """`value` with every inf and nan float replaced by None: strict JSON parsers reject both."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def dumps(document: Any) -> str:
    """Strict JSON (no Infinity or NaN), indented as the results file is."""
    return json.dumps(strict(document), indent=2, allow_nan=False)


_NUMBER = (int, float)
# field -> the types it may hold (None: null allowed); a record missing a required field is no results file
RUN_FIELDS = {"problem": (str,), "params": (dict,), "dtype": (str,), "device": (str,), "seed": (int,),
              "threads": (int,), "info": (dict, None), "machine": (dict, None), "results": (list,)}
RUN_REQUIRED = ("problem", "params", "dtype", "device", "seed", "threads", "results")
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}


def _kinds(annotation: str) -> tuple:
    """The JSON types a field declared `annotation` may hold: 'float | None' -> (int, float, None); a container
    or bool may be null in a file too (an older writer left it out)."""
    kinds = []
    for part in annotation.split("|"):
        name = part.strip().split("[")[0]
        kinds.extend((int, float) if name == "float" else (None,) if name == "None" else (_TYPES[name],))
    return tuple(kinds) + ((None,) if kinds[0] in (dict, list, bool) else ())


# Each JSON field of a row and the types it may hold: from Result's declaration, so they cannot drift apart.
RESULT_FIELDS = {f.name: _kinds(f.type) for f in fields(Result) if f.metadata.get("json", True)}
STATUSES = ("ok", "skipped", "failed")
_WORDS = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list",
          bool: "true or false", None: "null"}


def _check(where: str, value: Any, kinds: tuple) -> None:
    if value is None and None in kinds:
        return
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, tuple(k for k in kinds if k)):
        words = [_WORDS[kind] for kind in kinds if not (kind is int and float in kinds)]
        raise ConfigError(f"{where} must be {' or '.join(words)}, got {json.dumps(value)[:40]}")


def _check_record(where: str, record: Any) -> None:
    _check(where, record, (dict,))
    for key in RUN_REQUIRED:
        if key not in record:
            raise ConfigError(f"{where} has no {key!r}")
    for key, kinds in RUN_FIELDS.items():
        if key in record:
            _check(f"{where}.{key}", record[key], kinds)
    for key, value in record["params"].items():
        _check(f"{where}.params.{key}", value, (str, *_NUMBER, bool))
    for number, row in enumerate(record["results"]):
        at = f"{where}.results[{number}]"
        _check(at, row, (dict,))
        if "strategy" not in row or "status" not in row:
            raise ConfigError(f"{at} needs a strategy and a status")
        for key, kinds in RESULT_FIELDS.items():
            if key in row:
                _check(f"{at}.{key}", row[key], kinds)
        if row["status"] not in STATUSES:
            raise ConfigError(f"{at}.status must be one of {', '.join(STATUSES)}, got {row['status']!r}")


def runs_of(document: Any) -> list[Run]:
    """The Runs a results document holds (a bench file's `runs`, or one run's JSON), every shape checked
    first: ConfigError saying the first thing wrong."""
    _check("the file", document, (dict,))
    _check("machine", document.get("machine"), (dict, None))
    if "runs" in document:
        _check("runs", document["runs"], (list,))
        for number, record in enumerate(document["runs"]):
            _check_record(f"runs[{number}]", record)
        return [Run.from_json(record) for record in document["runs"]]
    _check_record("run", document)
    return [Run.from_json(document)]
