"""SIGINT and SIGTERM as an exception, so `run` and `bench` end with 130 and 143 and leave valid files.

Installed before torch is imported (an interrupt then ends the process cleanly instead of leaving a
module half-imported); the first signal raises Interrupted and is kept in `pending`, later ones are
ignored so the clean-up it starts (marking the results file `interrupted`, removing temporary files) is
not itself interrupted. Code that swallows the exception cannot swallow the exit: the command's end
raises `pending` again.
Nothing here imports anything heavy.
"""
from __future__ import annotations

import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `status` is the exit status the shell convention gives it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.status = 128 + signum
        self.reported = False  # whether a command already said what the interruption left behind


pending: Interrupted | None = None


def _handler(signum, frame):
    global pending
    if pending is None:
        pending = Interrupted(signum)
        raise pending


def install() -> dict:
    """Route SIGINT and SIGTERM to Interrupted; the handlers replaced, for `restore`."""
    return {signum: signal.signal(signum, _handler) for signum in SIGNALS}


def restore(previous: dict) -> None:
    for signum, action in previous.items():
        signal.signal(signum, action)
