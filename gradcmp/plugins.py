"""Plug-ins: problems and strategies that other installed packages register through entry points.

    [project.entry-points."gradcmp.problems"]
    quadratic = "my_package.problems:PROBLEM"       # a gradcmp.problems.Problem
    [project.entry-points."gradcmp.strategies"]
    forward-diff = "my_package.strategies:STRATEGY" # a gradcmp.strategies.Strategy subclass (a family)

The command line and the API (gradcmp.run, gradcmp.bench) load them (`load`). A plug-in that
fails to import, is not a Problem or Strategy, or takes a name already used is skipped and recorded
in one line, which `gradcmp list` prints; it never stops gradcmp. GRADCMP_NO_PLUGINS=1 loads none
(the test suite sets it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

KINDS = {"gradcmp.problems": "problem", "gradcmp.strategies": "strategy"}


@dataclass(frozen=True)
class PlugIn:
    """What became of one entry point: `error` is None when it was loaded."""

    kind: str
    name: str
    distribution: str
    error: str | None = None

    def line(self) -> str:
        source = f"plug-in {self.kind} {self.name} from {self.distribution}"
        return f"{source}: broken, skipped ({self.error})" if self.error else source


# Every plug-in met so far, loaded or skipped, in the order they were met.
SEEN: list[PlugIn] = []


def load() -> None:
    """Add the plug-ins of both groups to the registries, once. Called by the command line and by
    the API after both registries hold their built-ins, so a plug-in may
    import either registry while it loads."""
    from gradcmp.problems import PROBLEMS, Problem
    from gradcmp.strategies import STRATEGIES, Strategy

    if _loaded or os.environ.get("GRADCMP_NO_PLUGINS", "") not in ("", "0"):
        return
    _loaded.append(True)
    PROBLEMS.update(_load("gradcmp.problems", Problem, PROBLEMS))
    STRATEGIES.update(_load("gradcmp.strategies", Strategy, STRATEGIES))


_loaded: list[bool] = []


def _load(group: str, expected: type, taken) -> dict:
    """{name: object} of the group's plug-ins that load, are `expected` instances and do not reuse a name
    in `taken`; each one met is recorded in SEEN."""
    loaded = {}
    for point in entry_points(group=group):
        distribution = f"{point.dist.name} {point.dist.version}" if point.dist else "an unknown distribution"
        try:
            thing = point.load()
            error = None
        except Exception as exc:  # any failure of someone else's code: report it, carry on
            thing, error = None, f"importing {point.value} raised {type(exc).__name__}: {exc}"
        if isinstance(thing, expected) and expected.__name__ == "Strategy":
            thing = type(thing)  # an instance, as plug-ins registered before strategies had options: its family
        name = getattr(thing, "name", point.name)
        if error is None and not (isinstance(thing, expected) or isinstance(thing, type) and issubclass(thing, expected)):
            error = f"{point.value} is not a {KINDS[group]} object"
        elif error is None and (name in taken or name in loaded):
            error = f"the name {name} is already taken"
        SEEN.append(PlugIn(KINDS[group], name, distribution, error))
        if error is None:
            loaded[name] = thing
    return loaded
