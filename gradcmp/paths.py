"""Every path a user names, checked before any work: one line saying what is wrong with it.

An input (a results file, a preset) is read only if it is a regular file of a sane size, never /dev/zero,
a directory or a pipe. Nothing here imports anything heavy.
"""
from __future__ import annotations

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
