"""The docs against the code: every registered name is documented, every documented command still parses.

Commands are the `gradcmp ...` lines (also `.venv/bin/gradcmp`, `python -m gradcmp`) in the shell code blocks
of README.md, CONTRIBUTING.md and docs/*.md: each must parse with the real command line (click's
make_context), and the problems, strategies, params and presets it names must exist in the registries.
A strategy is read as gradcmp reads it (`checkpoint(checkpoints=8)`: the name, its options and their values),
never in an old spelling that only still reads with a note, and a strategy named for a problem must apply
to it. A TOML block with a [[case]] is a preset: it must plan. A python block followed by "prints" and a
plain block must still print that.
"""
import re
import shlex
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import click
import pytest

from gradcmp.cli import main
from gradcmp.config import ConfigError, resolve_params, split_assignment
from gradcmp.presets import load_preset, parse_preset, plan, shipped_presets
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import STRATEGIES
from gradcmp.strategies.spelling import SpellingNote, parse

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = ("sh", "bash", "shell", "console", "")  # "": a plain block, which may show a command
SCRIPT = re.compile(r"(\S*/)?gradcmp")  # gradcmp, .venv/bin/gradcmp
PYTHON = re.compile(r"(\S*/)?python3?")
USER_FILE = re.compile(r".+\.py(:\w+)?")


def shell_lines(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) of the shell code blocks: continuations joined, at the first line's number."""
    lines, language, logical, start = [], None, "", None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language in SHELL_LANGUAGES:
            start = start or number
            logical += line.removesuffix("\\")
            if not line.endswith("\\"):
                lines.append((start, logical))
                logical, start = "", None
    return lines


def documented_commands(path: Path, root: Path = ROOT) -> list[tuple[str, list[str]]]:
    """(where, gradcmp's arguments) for each gradcmp command in the page's shell blocks."""
    commands = []
    for number, line in shell_lines(path.read_text()):
        if "gradcmp" not in line:  # output in a plain block need not be valid shell
            continue
        for command in _split_on_operators(shlex.split(line.removeprefix("$ "), comments=True)):
            arguments = _gradcmp_arguments(command)
            if arguments is not None:
                commands.append((f"{path.relative_to(root)}:{number}", arguments))
    return commands


REDIRECTION = re.compile(r"\d?(>>?|<)(\S*)")  # > out.json, 2>err.txt, < in


def _split_on_operators(words: list[str]) -> list[list[str]]:
    """The commands of a line, split at && || ; |, redirections (and their files) left out."""
    commands, current, skip = [], [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("&&", "||", ";", "|"):
            commands.append(current)
            current = []
        elif match := REDIRECTION.fullmatch(word):
            skip = not match.group(2)  # the file is the next word
        else:
            current.append(word)
    return [*commands, current]


def _gradcmp_arguments(words: list[str]) -> list[str] | None:
    """The arguments after `gradcmp` / `python -m gradcmp` (environment assignments skipped), else None."""
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words = words[1:]
    if words and SCRIPT.fullmatch(words[0]):
        return words[1:]
    if len(words) >= 3 and PYTHON.fullmatch(words[0]) and words[1:3] == ["-m", "gradcmp"]:
        return words[3:]
    return None


ALL_COMMANDS = [command for page in PAGES for command in documented_commands(page)]


def check_command(arguments: list[str]) -> None:
    """Raise (click.UsageError, ConfigError, AssertionError) when the command would be refused."""
    try:
        # the group takes no options of its own but --help and --version, so its arguments are the command's
        with main.make_context("gradcmp", list(arguments)) as context:
            name, command, rest = main.resolve_command(context, list(arguments))
            with command.make_context(name, rest, parent=context) as sub:
                given = sub.params
    except click.exceptions.Exit as done:  # --help, --version
        assert done.exit_code == 0
        return
    strategies = [value for spelling in given.get("strategies") or () for value in read_strategy(spelling)]
    problems = [given["problem"]] if name == "run" else list(given.get("problems") or ())
    preset = given.get("preset") or ("default" if name == "bench" and not problems else None)
    if preset and not preset.endswith(".toml"):  # the user's own file is not the docs' to check
        assert preset in shipped_presets(), f"unknown preset {preset!r}"
        problems = problems or [case.problem for case in load_preset(preset).cases]
    registered = [PROBLEMS[problem] for problem in problems if problem in PROBLEMS]
    for problem_name in problems:
        if not USER_FILE.fullmatch(problem_name):  # FILE.py:NAME: the user's file, not the docs', to check
            _check_params(problem_name, name, given)
    for value in strategies if registered else ():  # run: its problem; bench: at least one of its problems
        reasons = [value.applies_to(problem) for problem in registered]
        assert None in reasons, f"strategy {value.label} applies to none of {', '.join(problems)}: {reasons[0]}"


def read_strategy(spelling: str) -> list:
    """The strategies a documented spelling makes, read as gradcmp reads it; an unknown name or option, a
    bad value, or an old spelling that only still reads (with a note) is an AssertionError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpellingNote)
        try:
            return parse(spelling)
        except SpellingNote as note:
            raise AssertionError(f"old spelling {spelling!r} in the docs: {note}") from None
        except ConfigError as error:
            raise AssertionError(str(error)) from None


def _check_params(problem_name: str, command: str, given: dict) -> None:
    assert problem_name in PROBLEMS, f"unknown problem {problem_name!r}"
    problem = PROBLEMS[problem_name]
    assignments = [split_assignment(text) for text in given.get("params") or ()]
    if command == "bench":  # KEY=V1,V2 sweeps; --sizes sets the main param
        values = [(key, value) for key, text in assignments for value in text.split(",")]
        values += [(problem.main_param, size) for size in given.get("sizes") or ()]
    else:
        values = assignments + ([(problem.main_param, str(given["size"]))] if given.get("size") else [])
    for key, value in values:
        resolve_params(problem.params, {key: value.strip()}, problem.name)


def test_the_docs_show_commands_and_the_quick_start_is_among_them():
    assert len(ALL_COMMANDS) >= 20
    quick_start = ["run", "--problem", "inv-norm", "--strategy", "vjp"]
    assert quick_start in [arguments for where, arguments in ALL_COMMANDS if where.startswith("README.md:")]


@pytest.mark.parametrize("where, arguments", ALL_COMMANDS, ids=[where for where, _ in ALL_COMMANDS])
def test_documented_command_parses_and_names_what_exists(where, arguments):
    check_command(arguments)


@pytest.mark.parametrize("arguments, refusal", [
    (["run", "-p", "inv-norm", "--sizes", "8"], click.UsageError),
    (["run", "-p", "inv-norm", "-n", "0"], click.BadParameter),
    (["fly"], click.UsageError),
    (["run", "-p", "inv-nrom"], AssertionError),
    (["run", "-p", "inv-norm", "-s", "vjpp"], AssertionError),
    (["run", "-p", "neural-ode", "-s", "checkpoint(chekpoints=4)"], AssertionError),
    (["run", "-p", "neural-ode", "-s", "checkpoint(checkpoints=-1)"], AssertionError),
    (["run", "-p", "neural-ode", "-s", "torchdiffeq-adjoint"], AssertionError),  # reads, with a note
    (["run", "-p", "neural-ode", "-s", "backprop-compiled"], AssertionError),
    (["run", "-p", "inv-norm", "-s", "checkpoint"], AssertionError),  # an ODE strategy on a matrix problem
    (["bench", "-p", "inv-norm", "-p", "mlp", "-s", "compiled(adjoint)"], AssertionError),
    (["run", "-p", "neural-ode", "--param", "checkpoints=4"], ConfigError),  # an option of the strategy now
    (["run", "-p", "sin-wy", "--param", "q=3"], ConfigError),
    (["run", "-p", "neural-ode", "--param", "method=rk5"], ConfigError),
    (["bench", "--preset", "smok"], AssertionError),
    (["bench", "-p", "mlp", "--param", "layers=2,x"], ConfigError),
    (["bench", "--preset", "smoke", "--sizes", "8,-1"], ConfigError),
])
def test_the_command_check_refuses_what_gradcmp_refuses(arguments, refusal):
    with pytest.raises(refusal):
        check_command(arguments)


def test_documented_strategy_spellings_are_read_as_gradcmp_reads_them():
    check_command(["run", "-p", "neural-ode", "-s", "checkpoint(checkpoints=2,4,8)", "-s", "adjoint(seminorm=true)",
                   "-s", "compiled(checkpoint(checkpoints=4))", "-s", "reversible(coupling=0.9)"])
    check_command(["bench", "-p", "inv-norm", "-p", "neural-ode", "-s", "vjp", "-s", "adjoint"])


def toml_presets(path: Path, root: Path = ROOT) -> list[tuple[str, str]]:
    """(where, text) of each TOML code block of the page that holds a [[case]]: a preset."""
    found, block, start = [], None, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if block is None and line.startswith("```toml"):
            block, start = [], number
        elif block is not None and line.startswith("```"):
            if any(row.strip().startswith("[[case]]") for row in block):
                found.append((f"{path.relative_to(root)}:{start}", "\n".join(block)))
            block = None
        elif block is not None:
            block.append(line)
    return found


PRESET_BLOCKS = [block for page in PAGES for block in toml_presets(page)]


def test_the_docs_show_a_preset():
    assert PRESET_BLOCKS


@pytest.mark.parametrize("where, text", PRESET_BLOCKS, ids=[where for where, _ in PRESET_BLOCKS])
def test_documented_preset_plans(where, text):
    """Its keys, types, problems, params and strategies (new spellings only) as `gradcmp bench` checks them."""
    preset = parse_preset(tomllib.loads(text), "docs", where)
    for case in preset.cases:
        for spelling in (*(case.strategies or ()), *case.expect_failure):
            read_strategy(spelling)
    assert plan(preset)


def test_the_command_finder_reads_chains_continuations_and_prompts(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```sh\n$ A=1 gradcmp list   # comment\nmake && python -m gradcmp run \\\n"
                    "    -p mlp\n```\n```toml\ngradcmp = 1\n```\n```\ngradcmp bench\n```\n"
                    "```sh\ngradcmp run -p mlp --format json > out.json 2>err.txt && gradcmp show out.json\n```\n")
    assert documented_commands(page, tmp_path) == [
        ("page.md:3", ["list"]), ("page.md:4", ["run", "-p", "mlp"]), ("page.md:11", ["bench"]),
        ("page.md:14", ["run", "-p", "mlp", "--format", "json"]), ("page.md:14", ["show", "out.json"])]


# a python block (never running on past its own closing fence), "prints", and the plain block it prints
PYTHON_EXAMPLE = re.compile(r"^```python\n((?:(?!^```).)*?)^```\n\nprints\n\n```\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXAMPLES = [(f"{page.relative_to(ROOT)}:{page.read_text()[:match.start()].count(chr(10)) + 1}", *match.groups())
            for page in PAGES for match in PYTHON_EXAMPLE.finditer(page.read_text())]
NUMBER = re.compile(r"-?\d+\.\d*(?:e[-+]?\d+)?")


def test_the_docs_have_a_python_example_with_its_output():
    assert any(where.startswith("docs/engine.md") for where, _, _ in EXAMPLES)
    assert all(not code.lstrip().startswith("```") and "\n```" not in code for _, code, _ in EXAMPLES)


@pytest.mark.parametrize("where, code, expected", EXAMPLES, ids=[where for where, _, _ in EXAMPLES])
def test_python_example_prints_what_the_docs_say(where, code, expected):
    """Run in its own process (an example may register things); numbers agree to 1e-12, the rest exactly."""
    printed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert NUMBER.sub("#", " ".join(printed.split())) == NUMBER.sub("#", " ".join(expected.split()))
    assert [float(n) for n in NUMBER.findall(printed)] == pytest.approx(
        [float(n) for n in NUMBER.findall(expected)], rel=1e-12, abs=1e-15)


DOCS_TEXT = "\n".join(page.read_text() for page in PAGES)
NAMES = [*(("problem", name) for name in PROBLEMS), *(("strategy", name) for name in STRATEGIES),
         *(("preset", name) for name in shipped_presets())]


@pytest.mark.parametrize("kind, name", NAMES, ids=[f"{kind}-{name}" for kind, name in NAMES])
def test_every_registered_name_is_in_the_docs(kind, name):
    assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", DOCS_TEXT), \
        f"{kind} {name} is registered but the docs never mention it"


def test_readme_stays_under_10_kb():
    assert len(README.read_bytes()) < 10_000


def test_a_problem_from_the_users_file_is_parsed_but_not_looked_up():
    check_command(["run", "--problem", "examples/rosen.py:rosenbrock", "-s", "vjp"])
    with pytest.raises(AssertionError, match="unknown strategy"):
        check_command(["run", "--problem", "examples/rosen.py:rosenbrock", "-s", "vjpp"])
