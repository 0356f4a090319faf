"""Plain records of what was measured, and their JSON form (the format scripts rely on)."""
from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from gradcmp import __version__


@dataclass
class Result:
    """One row: one strategy on one problem configuration. None where not measured."""

    strategy: str
    status: str  # "ok" | "skipped" | "failed"
    reason: str | None = None
    time_s: float | None = None  # median seconds per gradient
    time_iqr_s: float | None = None
    primal_time_s: float | None = None  # median seconds of one loss evaluation
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
