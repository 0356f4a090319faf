"""Results files on disk: written atomically, one live writer at a time (a lock), read back checked, and the
fallback name when the file asked for cannot be written. The records and their schema are gradcmp.records."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import tempfile
from typing import Any

from gradcmp import paths
from gradcmp.config import ConfigError
from gradcmp.records import Run, dumps, runs_of


RESULTS_MODE = 0o644


def write_json_atomic(path: str, document: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it over `path` (mode 0644).

    The rename is atomic, so a reader (or a run killed mid-write) sees the old file or the new one,
    never half of one; the temporary file is removed on every way out.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".gradcmp-", suffix=".json.tmp")
    try:
        os.fchmod(handle, RESULTS_MODE)
        with os.fdopen(handle, "w") as file:
            file.write(dumps(document) + "\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def default_output(name: str) -> str:
    """results-NAME-<local time to the microsecond>-<pid>.json: two runs never pick the same name."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return f"results-{name}-{stamp}-{os.getpid()}.json"


def check_output(path: str, protected: dict[str, str | None], others: dict[str, str | None] | None = None) -> None:
    """ConfigError unless `path` can take a results file and `others` ({flag: path}: --save-gradients,
    --plot) can be written beside it, none of them one of `protected` ({what: path}, e.g. the baseline,
    the preset): gradcmp.paths.check_outputs, which states the rules."""
    paths.check_outputs({"--output": path, **(others or {})}, protected)


@contextlib.contextmanager
def output_lock(path: str):
    """Hold an exclusive lock on `path`'s sidecar `.NAME.lock` while the block runs, so two live runs
    never write one results file; ConfigError naming the process that holds it."""
    lock_path = paths.lock_path(path)
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, RESULTS_MODE)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 32).decode(errors="replace").strip() or "unknown"
            raise ConfigError(f"--output {path} is being written by another gradcmp run (pid {holder}); "
                              "wait for it or choose another file") from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # tidied away meanwhile, or the directory made read-only
                os.unlink(lock_path)
    finally:
        os.close(handle)


def _not_json(constant: str):
    raise ValueError(f"{constant} is not strict JSON")


def load_runs(path: str) -> tuple[dict[str, Any], list[Run]]:
    """(the document, its Runs) from a `bench` results file or the JSON of `gradcmp run --format json`.

    Every shape is checked before use: a file that is not one of these is one ConfigError naming the
    file and the first thing wrong in it.
    """
    data = paths.read_input(path, "results file", paths.RESULTS_LIMIT)
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_not_json)
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, or nested beyond reason
        raise ConfigError(f"{path} is not a gradcmp results file: not JSON ({str(error)[:80]})") from None
    try:
        runs = runs_of(document)
    except ConfigError as error:
        raise ConfigError(f"{path} is not a gradcmp results file: {error}") from None
    from gradcmp.strategies.spelling import note, upgrade

    renamed = sorted({change for run in runs for change in upgrade(run)})
    if renamed:
        note(f"{path} was written by an earlier gradcmp; its rows read as today's spelling: {'; '.join(renamed)}")
    return document, runs
