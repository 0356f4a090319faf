"""Params, KEY=VALUE parsing and budgets: everything a user types, checked before any work starts.

Nothing here imports torch, so `gradcmp --help` and `gradcmp list` stay fast.
"""
from __future__ import annotations

import contextlib
import difflib
import math
import os
import re
from dataclasses import dataclass, field, make_dataclass


class ConfigError(ValueError):
    """A user-facing configuration mistake; its message is one line saying how to fix it."""


DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")


def torch_dtype_device(dtype: str, device: str):
    """The one place that turns the user's dtype and device into torch's, checking they exist."""
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose from: {', '.join(DTYPES)}")
    if device.partition(":")[0] not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose from: {', '.join(DEVICES)}")
    try:
        torch_device = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device {device!r} is not a device name such as cpu, cuda or cuda:1") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but this torch build sees no CUDA device")
    return getattr(torch, dtype), torch_device


@dataclass(frozen=True)
class Param:
    """One declared setting: a problem's param or a strategy's option. Its type is the type of its default."""

    name: str
    default: int | float | str | bool
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    above: float | None = None  # a strict lower bound: rtol > 0, T > 0
    maximum: float | None = None
    kind: type | str | None = None  # the type when the default (None) does not say it; "size": bytes
    words: str = ""  # its type and range in words, for the message when a value is off: "a positive integer"

    @property
    def type(self):
        return self.kind or type(self.default)

    def parse(self, text: str) -> int | float | str | bool:
        """Turn the user's text into a value of this param's type, or raise ConfigError."""
        kind = self.type
        if kind == "size":
            return self.check(text)
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"{self.name} must be true or false, got {text!r}")
            return lowered in ("true", "1", "yes")
        try:
            value = kind(text)
        except ValueError:
            raise ConfigError(f"{self.name} must be {_type_word(kind)}, got {text!r}") from None
        return self.check(value)

    def check(self, value):
        """Validate an already typed value (from a preset or the CLI)."""
        kind = self.type
        if kind == "size":
            if isinstance(value, str):
                try:
                    return parse_bytes(value)
                except ConfigError as error:
                    raise ConfigError(f"{self.name}: {error}") from None
            kind = int
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise ConfigError(f"{self.name} must be {self.words or _type_word(kind)}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if kind in (int, float) and not self.words:
            check_finite(self.name, value)
        for bound, broken in ((self.minimum, lambda: value < self.minimum), (self.above, lambda: not value > self.above),
                              (self.maximum, lambda: value > self.maximum)):
            if bound is not None and (broken() or not math.isfinite(value)):
                relation = ">=" if bound is self.minimum else ">" if bound is self.above else "<="
                raise ConfigError(f"{self.name} must be {self.words or f'{relation} {bound:g}'}, got {value!r}")
        if kind in (int, float):
            check_finite(self.name, value)
        return value

    def describe(self) -> str:
        """'name=default', with the choices: as the spelling writes it (true, not True)."""
        extra = f" ({'|'.join(self.choices)})" if self.choices else ""
        default = str(self.default).lower() if isinstance(self.default, bool) else self.default
        return f"{self.name}={default}{extra}"


def _type_word(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            "size": "a size such as 512MiB"}[kind]


LARGEST_INT = 2**63 - 1  # what torch and numpy take as an integer


def check_finite(name: str, value: float) -> float:
    """A number a computation can use: not inf, nan (1e400 reads as inf) or beyond a 64-bit integer."""
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > LARGEST_INT:
        raise ConfigError(f"{name} must be a finite number of at most {LARGEST_INT:.2g}, got {value!r}")
    return value


MAX_MIN_RUN_TIME = 60.0  # seconds of timed repeats per strategy: beyond this a sweep never ends
MAX_THREADS = 4096
MAX_TIME_S = 7 * 24 * 3600.0  # a week per gradient: beyond it a budget means nothing


def did_you_mean(name: str, choices) -> str:
    """' (did you mean X?)' when one of choices is close to the mistyped name, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown(kind: str, name: str, choices) -> ConfigError:
    """The one-line error for a name that is not among choices: the closest, then the whole list."""
    return ConfigError(f"unknown {kind} {name!r}{did_you_mean(name, choices)}; choose from: {', '.join(choices)}")


def split_assignment(text: str) -> tuple[str, str]:
    """Split 'KEY=VALUE' (as given to --param)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def resolve_params(declared: tuple[Param, ...], given: dict[str, object], problem: str) -> dict:
    """Defaults overlaid with the given values (text from the CLI or typed from a preset), all checked."""
    by_name = {param.name: param for param in declared}
    params = {param.name: param.default for param in declared}
    for key, value in given.items():
        if key not in by_name:
            raise ConfigError(
                f"unknown param {key!r} for problem {problem}{did_you_mean(key, by_name)}; its params are: "
                + (", ".join(by_name) or "none (your factory declares params as keyword arguments with defaults)")
            )
        param = by_name[key]
        params[key] = param.parse(value) if isinstance(value, str) else param.check(value)
    return params


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """'512MiB', '2GB', '1e9' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"expected a size such as 512MiB, 2GB or 1e9, got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not 1 <= value <= LARGEST_INT:  # 1e400 reads as inf
        raise ConfigError(f"a memory budget must be between 1 byte and 8 EiB, got {text!r}")
    return int(value)


def available_memory_bytes() -> int:
    """Memory the OS can still give this process (MemAvailable), falling back to total RAM."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


DEFAULT_MAX_TIME_S = 20.0
DEFAULT_MEMORY_FRACTION = 0.5  # of the memory free when a run starts, without max_memory


@dataclass(frozen=True)
class Budget:
    """Limits a strategy checks before it starts: estimated bytes and seconds for one gradient."""

    max_bytes: int
    max_seconds: float = DEFAULT_MAX_TIME_S


@contextlib.contextmanager
def thread_limits(threads: int):
    """torch's threads and every BLAS/OpenMP pool numpy uses (threadpoolctl) held at `threads` while the
    block runs, so --threads governs the numpy strategies' timings as well as torch's."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


# How to measure, declared once: the command line's options (gradcmp.cli), a preset's top-level keys
# (gradcmp.presets), the API's keyword arguments (gradcmp.api) and the results file's `settings` all come
# from this table. kind "size": bytes, given as a number or text such as 2GiB. A default of None is
# decided when the run starts (threads: every core; max_memory: half of what the device has free).
SETTINGS: tuple[Param, ...] = (
    Param("dtype", "float64", "floating type of the problem's data", choices=DTYPES),
    Param("device", "cpu", "where torch computes: cpu, cuda or cuda:N (checked against torch when a run starts)"),
    Param("seed", 0, "seed of the problem's random data", minimum=0, maximum=LARGEST_INT,
          words="an integer from 0 to 2^63-1"),
    Param("threads", None, "torch and BLAS threads (default: every core)", minimum=1, maximum=MAX_THREADS, kind=int,
          words=f"a positive integer of at most {MAX_THREADS}"),
    Param("max_memory", None, "skip strategies estimated to need more, e.g. 2GiB (default: half the free memory)",
          kind="size", minimum=1, words="between 1 byte and 8 EiB"),
    Param("max_time", DEFAULT_MAX_TIME_S, "skip strategies estimated to take longer per gradient (seconds)",
          above=0, maximum=MAX_TIME_S, words=f"a positive number of seconds, at most {MAX_TIME_S:g} (a week)"),
    Param("min_run_time", 0.2, "seconds of timed repeats per strategy", above=0, maximum=MAX_MIN_RUN_TIME,
          words=f"a positive number of seconds, at most {MAX_MIN_RUN_TIME:g}"),
    Param("compile", False, "also measure each strategy's compiled form, compiled(STRATEGY), where it has one"),
)
SETTING_NAMES = tuple(setting.name for setting in SETTINGS)

Settings = make_dataclass("Settings", [(setting.name, object, field(default=setting.default)) for setting in SETTINGS],
                          frozen=True)
Settings.__doc__ = "How to measure, shared by `run` and `bench`: one field per entry of SETTINGS."


def check_settings(given: dict, where: str = "") -> dict:
    """The settings in `given` (None: not given, left out) checked against SETTINGS: text parsed, typed values
    checked; ConfigError naming `where` (a file) and the setting, and the closest name for a typo."""
    declared = {setting.name: setting for setting in SETTINGS}
    checked = {}
    for key, value in given.items():
        if key not in declared:
            raise ConfigError(f"{where}unknown setting {key!r}{did_you_mean(key, declared)}; the settings are: "
                              f"{', '.join(declared)}")
        if value is None:
            continue
        try:
            checked[key] = declared[key].parse(value) if isinstance(value, str) else declared[key].check(value)
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None
    return checked


def resolve_settings(threads: int | None = None, **checked) -> "Settings":
    """Settings from checked values; threads left out: every core."""
    return Settings(threads=threads or os.cpu_count() or 1, **checked)
