"""The one spelling of a configured strategy, read: `NAME` or `NAME(OPTION=VALUE,...)`.

    checkpoint(checkpoints=8,schedule=binomial)     options, in any order
    compiled(checkpoint(checkpoints=4))             a strategy as the argument of a wrapper
    checkpoint(checkpoints=2,4,8,16)                several values: one strategy per value (a sweep of rows)

The same text on the command line (`-s '...'`, quoted for the shell), in presets, in results files and in
table labels (Strategy.label writes it). Old names (diffrax-backsolve, backprop-compiled, ...) still read,
with a note giving the new spelling.
"""
from __future__ import annotations

import itertools
import re
import warnings

from gradcmp.config import ConfigError


class SpellingNote(UserWarning):
    """An old name or param that still works, and its new spelling: the command line prints it as a note."""


# Names of earlier versions, and what they are now.
ALIASES = {
    "torchdiffeq-backprop": "torchdiffeq",
    "torchdiffeq-adjoint": "torchdiffeq(adjoint=true)",
    "diffrax-direct": "diffrax(adjoint=direct)",
    "diffrax-checkpoint": "diffrax",
    "diffrax-backsolve": "diffrax(adjoint=backsolve)",
    "backprop-compiled": "compiled(backprop)",
    "checkpoint-compiled": "compiled(checkpoint)",
    "adjoint-compiled": "compiled(adjoint)",
    "adjoint-checkpoint-compiled": "compiled(adjoint-checkpoint)",
}

# Problem params of earlier versions that are now options of strategies: param -> option.
MOVED_PARAMS = {"checkpoints": "checkpoints", "schedule": "schedule", "coupling": "coupling",
                "adjoint_rtol": "rtol", "adjoint_atol": "atol", "seminorm": "seminorm"}

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def note(text: str) -> None:
    warnings.warn(text, SpellingNote, stacklevel=3)


def parse(text: str) -> list:
    """Every strategy `text` spells (one, or one per value of a swept option), in order; ConfigError saying
    what is wrong and where."""
    from gradcmp.strategies import STRATEGIES
    from gradcmp.config import unknown

    if not isinstance(text, str):
        raise ConfigError(f"a strategy is a name such as vjp or checkpoint(checkpoints=8), got {text!r}")
    spec = text.strip()
    if spec in ALIASES:
        note(f"{spec} is now spelled {ALIASES[spec]}")
        spec = ALIASES[spec]
    match = _NAME.match(spec)
    if not match:
        raise ConfigError(f"strategy {text!r}: expected a name such as vjp or checkpoint(checkpoints=8)")
    name, rest = match.group(), spec[match.end():].strip()
    if name not in STRATEGIES:
        raise unknown("strategy", name, STRATEGIES)
    if rest.replace(" ", "") in ("", "()"):
        return [STRATEGIES[name]()]
    if not (rest.startswith("(") and rest.endswith(")")):
        raise ConfigError(f"strategy {text!r}: options go in parentheses after the name, e.g. {name}(KEY=VALUE)")
    options: dict[str, list[str]] = {}
    positional: list[list] = []
    key = None
    for part in _split(rest[1:-1], text):
        if "=" in part and (part.find("(") < 0 or part.find("=") < part.find("(")):
            key, _, value = part.partition("=")
            key = key.strip()
            if key in options:
                raise ConfigError(f"strategy {text!r}: {key} is given twice")
            options[key] = [value.strip()]
        elif key is not None:
            options[key].append(part)  # another value of the option before it: a sweep
        else:
            positional.append(parse(part))
    for key, values in options.items():
        if not all(values):
            raise ConfigError(f"strategy {text!r}: {key} has an empty value")
    if positional and not STRATEGIES[name].wraps:
        raise ConfigError(f"strategy {text!r}: {name} takes options as KEY=VALUE, not a strategy")
    keys = list(options)
    made = []
    for inner in itertools.product(*positional):
        for values in itertools.product(*(options[key] for key in keys)):
            made.append(STRATEGIES[name](*inner, **dict(zip(keys, values))))
    return list(dict.fromkeys(made))


def upgrade(run) -> list[str]:
    """Rewrite a Run read from an earlier version's results file in today's spelling, in place: old names
    (ALIASES) and the params now options (MOVED_PARAMS, taken out of run.params, put on the strategies that
    have the option), so its rows compare with today's. The changes made, as 'old -> new'."""
    from gradcmp.strategies import strategy

    moved = {MOVED_PARAMS[key]: run.params.pop(key) for key in list(run.params) if key in MOVED_PARAMS}
    changes = []
    for result in run.results:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SpellingNote)  # one note for the file, not one per row
                value = strategy(result.strategy).with_options(**moved)
        except ConfigError:
            continue  # a name this version does not know (a plug-in's): left as it is
        if value.label != result.strategy:
            changes.append(f"{result.strategy} -> {value.label}")
            result.strategy = value.label
    return changes


def _split(inside: str, text: str) -> list[str]:
    """`inside` split at its top-level commas, each part stripped."""
    parts, depth, current = [], 0, []
    for char in inside:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"strategy {text!r}: a ')' without its '('")
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth:
        raise ConfigError(f"strategy {text!r}: a '(' without its ')'")
    parts.append("".join(current).strip())
    if not all(parts):
        raise ConfigError(f"strategy {text!r}: an empty item between commas")
    return parts
