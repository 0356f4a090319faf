"""Every path a user names, checked before any work: one line saying what is wrong with it.

An input (a results file, a preset) is read only if it is a regular file of a sane size, never /dev/zero,
a directory or a pipe. The outputs (the results file, --save-gradients, --plot) are checked together
before anything is measured: each a name the file system takes in a directory that exists, each its own
file, never the baseline or the preset, and never an existing file of another kind than the flag writes
(WRITES). Nothing here imports anything heavy.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat

from gradcmp.config import ConfigError
from gradcmp.units import human_bytes

MiB = 2**20
RESULTS_LIMIT = 64 * MiB  # a results file of thousands of rows is a few MiB
PRESET_LIMIT = 1 * MiB


def kind(mode: int) -> str | None:
    """What a file that is not a regular one is ('a directory', 'a character device', ...); None if regular."""
    kinds = ((stat.S_ISREG, None), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))
    return next((word for test, word in kinds if test(mode)), "a special file")


def read_input(path: str, what: str, limit: int) -> bytes:
    """The bytes of `path`, or ConfigError saying in one line why it cannot be `what` (a results file, a
    preset file): it cannot be read (missing, no permission), is not a regular file, or is over `limit`."""

    def regular(mode: int) -> None:
        if kind(mode):
            raise ConfigError(f"{path} is {kind(mode)}, not a {what}")

    try:
        regular(os.stat(path).st_mode)  # before opening: opening a device or a pipe can block or act
        # O_NONBLOCK: a pipe put there since the stat cannot block the open, and fstat then refuses it
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as file:
            regular(os.fstat(file.fileno()).st_mode)
            size = os.fstat(file.fileno()).st_size
            data = file.read(limit + 1) if size <= limit else b""
    except ConfigError:
        raise
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror}") from None
    except ValueError as error:  # an embedded NUL byte
        raise ConfigError(f"cannot read {what} {path}: {error}") from None
    if size > limit or len(data) > limit:  # a file can grow while it is read
        raise ConfigError(f"{path} is {human_bytes(max(size, len(data)))}, over the {human_bytes(limit)} "
                          f"a {what} may be")
    return data


# What each output writes: the one kind of existing file it may replace (an empty file aside). A file of
# any other kind -- your notes, a CSV, an image named .npz -- is refused, never overwritten.
WRITES = {"--output": "a gradcmp results file", "--save-gradients": "a numpy .npz archive",
          "--plot": "a PNG or SVG image"}


def check_outputs(outputs: dict[str, str | None], protected: dict[str, str | None] | None = None) -> None:
    """ConfigError unless every output asked for ({flag: path}, a flag of WRITES; None: not asked for) can
    be written: a file name (not '', not ending in /) that the file system takes (`lock_path` shortens the
    sidecar to fit), in a directory that exists and is writable; new, empty, or a regular writable file of the
    kind WRITES names; each its own file, and none of `protected` ({what: path}: the baseline, the preset).
    --save-gradients must end in .npz: numpy would add .npz to any other name and write elsewhere."""
    chosen: dict[str, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        _check_name(flag, path)
        others = {**(protected or {}), **{f"{earlier} file": other for earlier, other in chosen.items()}}
        clash = next((what for what, other in others.items() if other and _same(path, other)), None)
        if clash:
            raise ConfigError(f"{flag} {path} is the {clash}; writing there would destroy it")
        chosen[flag] = path
        _check_existing(flag, path)


def _check_name(flag: str, path: str) -> None:
    if not path or path.endswith(os.sep):
        raise ConfigError(f"{flag} {path!r} names no file; give a file name")
    if flag == "--save-gradients" and not path.endswith(".npz"):
        raise ConfigError(f"{flag} {path} must end in .npz (numpy would write {path}.npz instead)")
    try:
        directory, name = os.path.split(os.path.abspath(path))
    except FileNotFoundError:  # os.getcwd() of a deleted directory
        raise ConfigError(f"{flag} {path}: the working directory no longer exists; cd to one that does") from None
    if not os.path.isdir(directory):
        raise ConfigError(f"{flag} {path}: directory {directory} "
                          + ("is not a directory" if os.path.exists(directory) else "does not exist"))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: directory {directory} is not writable")
    if len(os.fsencode(name)) > name_max(directory):
        raise ConfigError(f"{flag} {path}: the name is {len(os.fsencode(name))} bytes, over the "
                          f"{name_max(directory)} a file name may have there")


def _check_existing(flag: str, path: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:  # a path too long, a loop of links
        raise ConfigError(f"{flag} {path}: {error.strerror}") from None
    if kind(info.st_mode):  # /dev/full, a pipe such as >(cat): opening it would block or write nowhere
        raise ConfigError(f"{flag} {path} is {kind(info.st_mode)}; give the name of a regular file")
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{flag} {path} is read-only; refusing to overwrite it")
    if info.st_size and not _holds(flag, path):
        raise ConfigError(f"{flag} {path} exists and is not {WRITES[flag]}; refusing to overwrite it")


def _holds(flag: str, path: str) -> bool:
    """Whether the existing file at `path` is of the kind `flag` writes (WRITES): a JSON object gradcmp
    wrote (bench's file and `run --format json` both carry gradcmp_version), a zip archive (numpy.savez),
    a PNG or an SVG image."""
    if flag == "--output":
        try:
            document = json.loads(read_input(path, "results file", RESULTS_LIMIT))
        except ValueError:  # ConfigError included
            return False
        return isinstance(document, dict) and "gradcmp_version" in document
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
    except OSError:
        return False
    if flag == "--save-gradients":
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))  # a zip archive, as numpy.savez writes
    return head.startswith(b"\x89PNG") or b"<svg" in head


def _same(first: str, second: str) -> bool:
    """Whether two paths name one file: the same real path, or (both existing) the same inode."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return False


def name_max(directory: str) -> int:
    """The longest file name (bytes) the file system of `directory` takes."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def lock_path(path: str) -> str:
    """The lock sidecar `.NAME.lock` beside `path`; where that name would be too long for the file system,
    `.PREFIX-HASH.lock` (the start of NAME and a hash of all of it)."""
    directory, name = os.path.split(os.path.abspath(path))
    sidecar = f".{name}.lock"
    if len(os.fsencode(sidecar)) > name_max(directory):
        digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
        sidecar = f".{os.fsencode(name)[:64].decode(errors='ignore')}-{digest}.lock"
    return os.path.join(directory, sidecar)
