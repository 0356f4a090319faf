"""Presets: a benchmark sweep written in TOML, checked whole before anything runs.

Reading a file (`load_preset`) checks its structure: known keys, right types. Planning it (`plan`)
checks it against the registries (problems, strategies, params) and expands each case's sweep into
Jobs, the problem configurations `run_problem` measures. Every error names the file and the key.
Nothing here imports torch.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcmp.config import SETTING_NAMES, ConfigError, check_settings, did_you_mean, resolve_params
from gradcmp.paths import PRESET_LIMIT, read_input

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"

_NUMBER = (int, float)
# Top-level keys: a description, the settings (gradcmp.config.SETTINGS, checked as the options are), the cases.
TOP_KEYS = ("description", *SETTING_NAMES, "case")
CASE_KEYS = ("problem", "strategies", "sizes", "params", "tolerance", "expect_failure")


@dataclass(frozen=True)
class Case:
    """One [[case]] table: a problem, its strategies (None: every applicable one), the param values.

    params maps a param to its values; at most one param has more than one value (the sweep).
    sizes are values of the problem's main param (resolved in `plan`, where the problem is known).
    """

    problem: str
    strategies: tuple[str, ...] | None = None
    sizes: tuple[Any, ...] = ()
    params: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    tolerance: float | None = None
    expect_failure: tuple[str, ...] = ()  # strategies this case shows failing (e.g. backsolve on a stiff ODE)


@dataclass(frozen=True)
class Preset:
    name: str
    source: str  # the file it came from, or "command line"
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # only the settings the file sets
    cases: tuple[Case, ...] = ()


@dataclass
class Job:
    """One problem configuration of a sweep: everything `run_problem` needs, and its case's gate."""

    case: int  # position of its case in the preset, from 1
    problem: Any  # gradcmp.problems.Problem
    params: dict[str, Any]
    strategies: list  # (Strategy, reason it cannot run or None), as from select_strategies
    sweep: str | None  # the param this case sweeps, None when it runs one configuration
    tolerance: float | None
    expect_failure: tuple[str, ...] = ()

    @property
    def info(self):
        """What the records keep of the job's case (gradcmp.records.CaseInfo)."""
        from gradcmp.records import CaseInfo

        return CaseInfo(self.case, self.sweep, self.tolerance, tuple(self.expect_failure))


def shipped_presets() -> list[str]:
    return sorted(path.stem for path in PRESET_DIR.glob("*.toml"))


def preset_path(name_or_path: str) -> Path:
    """A shipped preset's name (presets/NAME.toml) or a path to the user's own file."""
    path = Path(name_or_path)
    if path.suffix.lower() == ".toml" or "/" in name_or_path:  # ./mine is a path too
        return path  # load_preset says what is wrong with it, if anything
    shipped = PRESET_DIR / f"{name_or_path}.toml"
    if name_or_path not in shipped_presets():  # a name, never a lookup of whatever was typed
        raise ConfigError(f"unknown preset {name_or_path!r}{did_you_mean(name_or_path, shipped_presets())}; "
                          f"shipped presets: {', '.join(shipped_presets())}"
                          " (or give the path of a .toml file)")
    return shipped


def load_preset(name_or_path: str) -> Preset:
    """Read and structurally check a preset (keys and types); the registries are checked by `plan`."""
    path = preset_path(name_or_path)
    try:
        data = tomllib.loads(read_input(str(path), "preset file", PRESET_LIMIT).decode("utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text, which TOML must be") from None
    return parse_preset(data, path.stem, str(path))


def _type_name(kinds: tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    if float in kinds:  # an integer is a number: say "a number" once
        kinds = tuple(kind for kind in kinds if kind is not int)
    return " or ".join(words[kind] for kind in kinds)


def _check_type(source: str, key: str, value, kinds: tuple[type, ...]):
    # bool is an int to Python, never to a preset's reader
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise ConfigError(f"{source}: {key} must be {_type_name(kinds)}, got {value!r}")
    return value


def _check_keys(source: str, where: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{source}: {where}{key}: unknown key; allowed keys: {', '.join(allowed)}")


def parse_preset(data: dict, name: str, source: str) -> Preset:
    """A Preset from a parsed TOML table; ConfigError naming `source` and the key on any mistake."""
    _check_keys(source, "", data, TOP_KEYS)
    description = _check_type(source, "description", data.get("description", ""), (str,))
    settings = check_settings({key: data[key] for key in SETTING_NAMES if key in data}, f"{source}: ")
    cases = _check_type(source, "case", data.get("case", []), (list,))
    if not cases:
        raise ConfigError(f"{source}: case: a preset needs at least one [[case]] table")
    return Preset(name, source, description, settings,
                  tuple(_case(source, f"case[{number}]", table) for number, table in enumerate(cases, 1)))


def _case(source: str, where: str, table) -> Case:
    _check_type(source, where, table, (dict,))
    _check_keys(source, f"{where}.", table, CASE_KEYS)
    if "problem" not in table:
        raise ConfigError(f"{source}: {where}.problem: missing; every case names its problem")
    problem = _check_type(source, f"{where}.problem", table["problem"], (str,))
    strategies = None
    if "strategies" in table:
        listed = _check_type(source, f"{where}.strategies", table["strategies"], (list,))
        if not listed:
            raise ConfigError(f"{source}: {where}.strategies: empty; leave the key out to run every "
                              "applicable strategy")
        strategies = tuple(_check_type(source, f"{where}.strategies[{i}]", name, (str,))
                           for i, name in enumerate(listed))
    sizes = tuple(_check_type(source, f"{where}.sizes", table.get("sizes", []), (list,)))
    params = {}
    for key, value in _check_type(source, f"{where}.params", table.get("params", {}), (dict,)).items():
        values = tuple(value) if isinstance(value, list) else (value,)
        if not values:
            raise ConfigError(f"{source}: {where}.params.{key}: an empty list")
        params[key] = values
    tolerance = table.get("tolerance")
    if tolerance is not None:
        _check_type(source, f"{where}.tolerance", tolerance, _NUMBER)
        if not 0 < tolerance < float("inf"):
            raise ConfigError(f"{source}: {where}.tolerance must be positive, got {tolerance!r}")
        tolerance = float(tolerance)
    expected = _check_type(source, f"{where}.expect_failure", table.get("expect_failure", []), (list,))
    expect_failure = tuple(_check_type(source, f"{where}.expect_failure[{i}]", name, (str,))
                           for i, name in enumerate(expected))
    return Case(problem, strategies, sizes, params, tolerance, expect_failure)


def command_line_preset(problems: list[str]) -> Preset:
    """The sweep `gradcmp bench --problem P ...` runs without a preset: one case per problem."""
    return Preset("command-line", "command line", cases=tuple(Case(problem) for problem in problems))


def plan(preset: Preset, problems: list[str] | None = None, strategies: list[str] | None = None,
         sizes: list[str] | None = None, params: dict[str, list[str]] | None = None,
         compile: bool = False, keep_inapplicable: bool = False) -> list[Job]:
    """Every Job of the preset, checked against the registries before anything runs.

    problems    keep only the cases of these problems (each must have one)
    strategies  replace every case's strategies with these spellings (each case keeps those that apply)
    sizes       replace the main param's values in every case (text, as typed by the user)
    params      replace these params' values in every case (text)
    compile     each strategy with a compiled form is followed by it (--compile)
    keep_inapplicable  strategies that cannot apply stay as skipped rows with the reason (`run`), rather
                than being left out (`bench`)
    """
    from gradcmp.problems import get_problem
    from gradcmp.strategies.spelling import parse

    for spec in strategies or ():
        try:
            parse(spec)
        except ConfigError as error:
            raise ConfigError(f"--strategy: {error}") from None
    for name in problems or ():
        try:
            get_problem(name)
        except ConfigError as error:
            raise ConfigError(f"--problem: {error}") from None
    cases = list(enumerate(preset.cases, 1))
    for number, case in cases:  # the whole file is checked, even the cases left out below
        _case_jobs(preset.source, number, case, None, None, {}, compile, keep_inapplicable)
    if problems:
        for name in problems:
            if not any(case.problem == name for _, case in cases):
                raise ConfigError(f"--problem: preset {preset.name} has no case for problem {name}")
        cases = [(number, case) for number, case in cases if case.problem in problems]
    jobs = []
    for number, case in cases:
        jobs.extend(_case_jobs(preset.source, number, case, strategies, sizes, params or {}, compile,
                               keep_inapplicable))
    if not jobs:
        raise ConfigError(f"--strategy: none of {', '.join(strategies or ())} applies to any case of "
                          f"preset {preset.name}")
    return jobs


def _options_from_params(values: dict, chosen: list, problem) -> list:
    """Moves the old params of `values` (MOVED_PARAMS, popped from it) onto the chosen strategies that have
    the option, a note saying the new spelling; several values make a row each."""
    from gradcmp.strategies.spelling import MOVED_PARAMS, note

    declared = {param.name for param in problem.params}
    moved = {key: values.pop(key) for key in list(values) if key in MOVED_PARAMS and key not in declared}
    for key, (given, _, _) in moved.items():
        note(f"param {key} is now an option of the strategies that read it: -s 'STRATEGY({MOVED_PARAMS[key]}="
             f"{','.join(str(value).lower() if isinstance(value, bool) else str(value) for value in given)})'")
    for key, (given, label, _) in moved.items():
        expanded = []
        for value, reason in chosen:
            if not value.declares(MOVED_PARAMS[key]):
                expanded.append((value, reason))
                continue
            for item in given:
                option = {MOVED_PARAMS[key]: item}
                try:
                    value.unwrapped.with_options(**option)  # the value must read, wrapped or not
                except ConfigError as error:
                    raise ConfigError(f"{label}: {error}" if label else str(error)) from None
                try:
                    expanded.append((value.with_options(**option), reason))
                except ConfigError:  # a wrapper that does not take the new value (compiled of binomial): no row
                    continue
        chosen = list({value: reason for value, reason in expanded}.items())
    return chosen


def _case_jobs(source, number, case, replaced, sizes, overrides, compile, keep_inapplicable) -> list[Job]:
    from gradcmp.problems import get_problem
    from gradcmp.strategies import select_strategies
    from gradcmp.strategies.spelling import parse

    where = f"{source}: case[{number}]"
    at = (lambda key: "") if source == "command line" else (lambda key: f"{where}.{key}: ")  # run: a case of one
    try:
        problem = get_problem(case.problem) if isinstance(case.problem, str) else case.problem
    except ConfigError as error:
        raise ConfigError(f"{at('problem')}{error}") from None
    try:
        chosen = select_strategies(problem, list(case.strategies) if case.strategies else None, compile)
    except ConfigError as error:
        raise ConfigError(f"{at('strategies')}{error}") from None
    if replaced:  # --strategy: these instead, where they apply
        chosen = []
        for spec in replaced:
            try:
                chosen.extend(select_strategies(problem, [spec], compile))
            except ConfigError:
                continue  # it does not apply to this case's problem
    expect_failure = []
    for name in case.expect_failure:
        try:
            expect_failure.extend(value.label for value in parse(name))
        except ConfigError as error:
            raise ConfigError(f"{where}.expect_failure: {error}") from None
    # inapplicable strategies are no measurement: drop them; unavailable ones stay as skipped rows
    if not keep_inapplicable:
        chosen = [(value, reason) for value, reason in chosen if value.applies_to(problem) is None]

    # param -> (values, where they came from, whether typed by TOML rather than text from the CLI)
    values: dict[str, tuple[tuple, str, bool]] = {}
    for key, given in case.params.items():
        values[key] = (given, f"{where}.params.{key}" if at(key) else "", True)
    if case.sizes:
        if problem.main_param in case.params:
            raise ConfigError(f"{where}.sizes: sets {problem.main_param}, which params sets too; keep one")
        values[problem.main_param] = (case.sizes, f"{where}.sizes", True)
    for key, given in overrides.items():
        values[key] = (tuple(given), f"--param {key}", False)
    if sizes:
        if problem.main_param in overrides:
            raise ConfigError(f"--sizes and --param {problem.main_param}= both set {problem.main_param}; give one")
        values[problem.main_param] = (tuple(sizes), "--sizes", False)
    chosen = _options_from_params(values, chosen, problem)

    declared = {param.name: param for param in problem.params}
    checked = {}
    for key, (given, label, typed) in values.items():
        try:
            for value in given:
                if typed and key in declared:
                    declared[key].check(value)  # a preset's values are typed: "16" is no integer
            checked[key] = [resolve_params(problem.params, {key: value}, problem.name)[key] for value in given]
        except ConfigError as error:
            raise ConfigError(f"{label}: {error}" if label else str(error)) from None
    swept = [key for key, given in checked.items() if len(given) > 1]
    if len(swept) > 1:
        raise ConfigError(f"{where}: sweeps {' and '.join(swept)}; a case sweeps at most one param "
                          "(split it into several cases)")
    sweep = swept[0] if swept else None
    if not chosen:
        return []
    fixed = {key: given[0] for key, given in checked.items()}
    jobs = []
    for value in checked[sweep] if sweep else [None]:
        given = dict(fixed, **({sweep: value} if sweep else {}))
        jobs.append(Job(number, problem, resolve_params(problem.params, given, problem.name), chosen, sweep,
                        case.tolerance, tuple(expect_failure)))
    return jobs
