"""SIGINT, SIGTERM and SIGHUP as an exception, so `run` and `bench` end with 130, 143 and 129 and leave
valid files (a closed terminal's SIGHUP used to kill a bench with its file `running` and its lock left).

`python -m gradcmp` and the `gradcmp` command install the keeping form first, before any import: a
signal while gradcmp starts is kept in `pending` and raised as the command begins, so it ends as cleanly
as one later (no half-import's traceback). Each command installs the raising form: the first signal
raises Interrupted and is kept in `pending`, later ones are ignored so the clean-up it starts (marking
the results file `interrupted`, removing temporary files) is not itself interrupted. Code that swallows
the exception cannot swallow the exit: the command's end raises `pending` again. Once the command is
over, `ignore` holds them off for good: Python's finalization puts the default action back on every
signal with a Python handler, and a second Ctrl-C arriving while torch is torn down then killed the
process by the signal (status -2) instead of letting it exit 130.
Nothing here imports anything heavy.
"""
from __future__ import annotations

import contextlib
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived; `status` is the exit status the shell convention gives it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.status = 128 + signum
        self.reported = False  # whether a command already said what the interruption left behind


pending: Interrupted | None = None


def _keep(signum, frame):
    global pending
    if pending is None:
        pending = Interrupted(signum)


def _handler(signum, frame):
    if pending is None:  # the first signal; later ones are ignored
        _keep(signum, frame)
        _raise_pending()


def _raise_pending(*_) -> None:
    """Raise `pending`, or, while a module is being imported, again 50 ms later (SIGALRM): raised inside
    torch's import, where C++ runs Python, the exception aborts the process (SIGABRT) instead of unwinding."""
    if any(getattr(getattr(module, "__spec__", None), "_initializing", False) for module in list(sys.modules.values())):
        signal.signal(signal.SIGALRM, _raise_pending)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        return
    raise pending


def install(raising: bool = True) -> dict:
    """Route SIGNALS to Interrupted (raising: False, only keep it in `pending`, for a command to raise as
    it starts); the handlers replaced, for `restore`."""
    return {signum: signal.signal(signum, _handler if raising else _keep) for signum in SIGNALS}


def restore(previous: dict) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)  # no retry of _raise_pending once the command is over
    for signum, action in previous.items():
        signal.signal(signum, action)


def ignore() -> None:
    """Ignore SIGNALS from now on, for a process whose command is over and that only exits: its exit
    status is decided. (Python's finalization leaves an ignored signal ignored.)"""
    restore({signum: signal.SIG_IGN for signum in SIGNALS})


def say(text: str) -> None:
    """One line on stderr about an interruption; none where stderr is gone (SIGHUP: the terminal closed),
    so the exit status stays the signal's."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(text, file=sys.stderr, flush=True)
