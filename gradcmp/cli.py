"""The command line: parse, validate (usage errors exit 2), call the library, render.

torch is imported only inside commands that compute, so --help and list start fast.
"""
from __future__ import annotations

import errno
import os
import sys

import click

from gradcmp.version import VERSION
from gradcmp import interrupt
from gradcmp.config import LARGEST_INT, SETTINGS, ConfigError, check_settings, parse_bytes, split_assignment


def _usage(error: ConfigError, param: str | None = None) -> click.UsageError:
    return click.BadParameter(str(error), param_hint=param) if param else click.UsageError(str(error))


def _console(stderr: bool = False):
    """A terminal gets its own width (as does output when COLUMNS says a usable one); piped output gets room
    for the whole table (gradcmp.terminal.width)."""
    from rich.console import Console

    from gradcmp.terminal import width

    return Console(stderr=stderr, width=width(sys.stderr if stderr else sys.stdout))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Commands(click.Group):
    """Every command under the same endings: SIGINT/SIGTERM/SIGHUP exit 130/143/129 with one line; a reader that
    went away (`| head`) ends quietly; stdout that cannot be written (a full disk) is one line, exit 1."""

    def invoke(self, ctx):
        previous = interrupt.install()
        try:
            try:
                if interrupt.pending is not None:  # it arrived while gradcmp started: no work begins
                    raise interrupt.pending
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
                if interrupt.pending is not None:  # even where a library swallowed the exception
                    raise interrupt.pending
        except interrupt.Interrupted as stop:
            if not stop.reported:
                interrupt.say(f"interrupted by {stop.name}")
            ctx.exit(stop.status)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(1)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
                raise
            _silence_stdout()
            click.echo(f"cannot write the output: {error.strerror}", err=True)
            ctx.exit(1)
        finally:
            interrupt.restore(previous)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="gradcmp")
def main():
    """Compute the same gradient with several strategies and compare time, memory and error."""
    from gradcmp.plugins import load

    _notes_to_stderr()
    load()


def _notes_to_stderr() -> None:
    """An old spelling that still works (gradcmp.strategies.spelling.SpellingNote) is one line on stderr,
    `note: ...`, once per text; other warnings as Python shows them."""
    import warnings

    from gradcmp.strategies.spelling import SpellingNote

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SpellingNote):
            click.echo(f"note: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.filterwarnings("once", category=SpellingNote)


@main.command("list")
@click.argument("problem", required=False)
def list_command(problem):
    """Problems (with params), strategies, and which strategy applies to which problem; with PROBLEM,
    that problem's params (help, default, range) and the strategies that apply to it."""
    from gradcmp.problems import PROBLEMS, get_problem
    from gradcmp.report.table import list_tables
    from gradcmp.strategies import STRATEGIES

    if problem is None:
        from gradcmp.plugins import SEEN

        console = _console()
        console.print(list_tables(PROBLEMS, STRATEGIES))
        for plugin in SEEN:
            console.print(plugin.line(), style="red" if plugin.error else None, highlight=False, markup=False)
        return
    from gradcmp.report.sheet import problem_sheet

    try:
        chosen = get_problem(problem)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="PROBLEM") from None
    _console().print(problem_sheet(chosen, STRATEGIES))


def _positive_int(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    if value is not None and value > LARGEST_INT:
        raise click.BadParameter(f"must be at most 2^63-1, got {value}")
    return value


def _memory(ctx, param, value):
    try:
        return None if value is None else parse_bytes(value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


def _positive_float(ctx, param, value):
    if value is not None and not 0 < value < float("inf"):
        raise click.BadParameter(f"must be a positive finite number, got {value}")
    return value


def _ratio(ctx, param, value):
    if value is not None and not 0 < value < float("inf"):
        raise click.BadParameter(f"must be a ratio above 0 such as 1.5 (new / old), got {value}")
    return value


def _setting_option(setting):
    """The command-line option of one entry of gradcmp.config.SETTINGS, checked as the API and presets check it."""
    flag = "--" + setting.name.replace("_", "-")

    def check(ctx, param, value):
        try:
            return None if value is None else check_settings({setting.name: value})[setting.name]
        except ConfigError as error:
            raise click.BadParameter(str(error).replace(setting.name, flag, 1)) from None

    default = "" if setting.default is None else f" [default: {str(setting.default).lower()}]"
    if setting.type is bool:
        return click.option(flag, is_flag=True, default=None, help=setting.help[0].upper() + setting.help[1:] + ".")
    kind = {int: int, float: float}.get(setting.type, click.Choice(setting.choices) if setting.choices else str)
    metavar = "SIZE" if setting.type == "size" else None
    return click.option(flag, type=kind, callback=check, metavar=metavar,
                        help=setting.help[0].upper() + setting.help[1:] + "." + default)


def settings_options(command):
    """The options that say how to measure, one per gradcmp.config.SETTINGS entry, shared by `run` and
    `bench`. Each defaults to None ("not given"), so `bench` can tell an option from its preset's value."""
    for setting in reversed(SETTINGS):
        command = _setting_option(setting)(command)
    return command


def _format_option(command):
    from gradcmp.report import FORMATS

    return click.option("--format", "output_format", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="What to print on stdout.")(command)


def _save_gradients_option(command):
    return click.option("--save-gradients", metavar="FILE.npz",
                        help="Also write every gradient computed and the reference, as numpy arrays "
                             "keyed by strategy and `reference`.")(command)


def _write_gradients(path: str, arrays: dict) -> None:
    import numpy

    try:
        numpy.savez(path, **arrays)
    except OSError as error:
        raise click.BadParameter(f"cannot write {path}: {error.strerror}", param_hint="--save-gradients") from None


STRATEGY_HELP = ("Strategy, as NAME or 'NAME(OPTION=VALUE,...)', e.g. 'checkpoint(checkpoints=8,schedule=binomial)'; "
                 "several values of an option make a row each; repeat for several. See `gradcmp list`.")


@main.command("run")
@click.option("--problem", "-p", required=True,
              help="Problem name (see `gradcmp list`), or your own FILE.py:NAME or package.module:NAME "
                   "(imported only then; see docs/extending.md).")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help=STRATEGY_HELP + " Default: every strategy (those that do not apply named under the table).")
@click.option("--size", "-n", type=int, callback=_positive_int,
              help="The problem's main param (matrix side, ODE steps, ...: see `gradcmp list PROBLEM`).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set any param of the problem; repeatable.")
@settings_options
@_format_option
@_save_gradients_option
@click.option("--tolerance", type=float, callback=_positive_float, metavar="REL",
              help="Exit 1 when an ok row's relative error exceeds REL (e.g. 1e-6).")
def run_command(problem, strategies, size, params, output_format, save_gradients, tolerance, **settings):
    """Compute one problem's gradient with each strategy; print time, memory and error."""
    from gradcmp.api import one_job
    from gradcmp.gate import rows_over_tolerance
    from gradcmp.paths import check_outputs
    from gradcmp.problems import get_problem

    try:
        chosen_problem = get_problem(problem)
    except ConfigError as error:
        raise _usage(error, "--problem") from None
    try:
        given = dict(split_assignment(text) for text in params)
    except ConfigError as error:
        raise _usage(error, "--param") from None
    try:
        if size is not None:
            if chosen_problem.main_param in given:
                raise ConfigError(f"--size and --param {chosen_problem.main_param}= both set "
                                  f"{chosen_problem.main_param}; give one")
            given[chosen_problem.main_param] = str(size)
        check_outputs({"--save-gradients": save_gradients})
        sweep = one_job(chosen_problem, list(strategies) or None, given, sys.argv,
                        keep_gradients=bool(save_gradients), **settings)
    except ConfigError as error:
        raise _usage(error) from None
    run = sweep.entries[0].run
    if save_gradients:
        _write_gradients(save_gradients, run.gradient_arrays())
    _print(sweep, output_format)
    over = rows_over_tolerance(run, tolerance)
    if over:
        click.echo(f"over the tolerance {tolerance:g}: {', '.join(over)}", err=True)
    sys.exit(1 if over or any(result.status == "failed" for result in run.results) else 0)


def _print(sweep, output_format: str) -> None:
    """The sweep in the chosen format on stdout (gradcmp.report.export)."""
    from gradcmp.report import export

    if output_format == "table":
        console = _console()
        console.print(export(sweep, output_format, console.width))
    else:
        text = export(sweep, output_format)
        click.echo(text, nl=not text.endswith("\n"))


def _sweep_params(params: tuple[str, ...]) -> dict[str, list[str]]:
    """--param KEY=VALUE[,VALUE...] -> {KEY: [VALUE, ...]}; several values sweep the param."""
    swept = {}
    for text in params:
        key, value = split_assignment(text)
        swept[key] = [part.strip() for part in value.split(",")]
    return swept


def _sizes(ctx, param, value):
    if value is None:
        return None
    sizes = [part.strip() for part in value.split(",")]
    if not all(sizes):
        raise click.BadParameter(f"expected comma-separated values such as 16,32,64, got {value!r}")
    return sizes


def _view_options(command):
    """How a sweep is shown, live (`bench`) or saved (`show`)."""
    for option in reversed((
        _format_option,
        click.option("--plot", metavar="FILE.png|FILE.svg",
                     help="Log-log time and memory against size, a line per strategy; with --front or "
                          "--memory-budget, time against memory with the Pareto front marked (needs matplotlib)."),
        click.option("--front", is_flag=True, help="Print each configuration's time-memory Pareto front."),
        click.option("--memory-budget", callback=_memory, metavar="SIZE",
                     help="With the front, name the fastest gradient within tolerance that fits in SIZE (e.g. 16MiB)."),
    )):
        command = option(command)
    return command


def _show(sweep, output_format) -> None:
    """What `bench` prints after measuring and `show` prints of a file: the comparison with the baseline, the
    tables, the front, the plot's path, and last the verdict that sets the exit status (gradcmp.report.shown)."""
    from gradcmp.report import shown

    out, err = _console(), _console(stderr=True)
    human = out if output_format == "table" else err
    before, after = shown(sweep, human.width)
    if before is not None:
        human.print(before, highlight=False)
    _print(sweep, output_format)
    human.print(after, highlight=False)


@main.command("bench")
@click.option("--preset", metavar="NAME|PATH",
              help="A shipped preset (smoke, default, scaling, ...) or your own .toml file. "
                   "Default: `default`, or none when --problem is given.")
@click.option("--problem", "-p", "problems", multiple=True,
              help="Only this problem's cases (with --preset), or a case per problem: a name, or your own "
                   "FILE.py:NAME or package.module:NAME (imported only then); repeatable.")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help=STRATEGY_HELP + " Replaces the preset's (each case keeps those that apply). "
                   "Default: the preset's, or every applicable one.")
@click.option("--sizes", callback=_sizes, metavar="N,N,...",
              help="Values of each problem's main param, e.g. 16,32,64 (replaces the preset's).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE[,VALUE...]",
              help="Set a param in every case; several values sweep it. Repeatable.")
@settings_options
@click.option("--output", "-o", metavar="FILE.json",
              help="Results file, rewritten after every row; never another run's, the baseline or the preset. "
                   "Default: results-<preset>-<time>-<pid>.json")
@click.option("--baseline", metavar="OLD.json", help="Compare row by row with an earlier results file.")
@click.option("--fail-on-regression", type=float, callback=_ratio, metavar="RATIO",
              help="Exit 1 when a time or memory ratio against --baseline exceeds RATIO (e.g. 1.5).")
@_save_gradients_option
@_view_options
def bench_command(preset, problems, strategies, sizes, params, output, baseline, fail_on_regression,
                  save_gradients, output_format, plot, front, memory_budget, **settings):
    """Run a preset or a sweep; save every row as it finishes; fit growth laws; recommend; gate CI.

    Exit status: 0 all rows within tolerance, 1 a row failed, exceeded its tolerance or regressed,
    2 bad input (nothing ran), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the file keeps the finished rows).
    """
    from gradcmp.api import bench
    from gradcmp.storage import default_output

    if fail_on_regression is not None and not baseline:
        raise _usage(ConfigError("--fail-on-regression compares with a baseline: give --baseline OLD.json too"))
    cases = [{"problem": problem} for problem in problems] if problems and not preset else None
    path = default_output("command-line" if cases else os.path.splitext(os.path.basename(preset or "default"))[0]) \
        if output is None else output
    try:
        with _progress() as on_row:
            sweep = bench(cases or preset or "default", problems=None if cases else list(problems) or None,
                          strategies=list(strategies) or None, sizes=sizes, params=_sweep_params(params) or None,
                          output=path, baseline=baseline, fail_on_regression=fail_on_regression,
                          save_gradients=save_gradients, plot=plot, front=front, memory_budget=memory_budget,
                          on_row=on_row, command=sys.argv, **settings)
    except ConfigError as error:
        raise _usage(error) from None
    except interrupt.Interrupted as stop:
        sweep = getattr(stop, "sweep", None)
        if sweep is not None:
            interrupt.say(f"interrupted by {stop.name} after {sweep.finished_rows} of {sweep.total_rows} rows; "
                          f"the finished rows are in {sweep.path}")
            stop.reported = True
        raise
    _show(sweep, output_format)
    sys.exit(1 if sweep.failed else 0)


class _progress:
    """A progress bar on the terminal (none when piped) for a sweep; `with _progress() as on_row:` gives
    the callback to pass to gradcmp.bench."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=_console(stderr=True), transient=True,
                                 disable=not (sys.stdout.isatty() and sys.stderr.isatty()))
        self.progress.__enter__()
        self.task = None

        def on_row(sweep, entry, result):
            if self.task is None:
                self.task = self.progress.add_task("", total=sweep.total_rows)
            self.progress.update(self.task, completed=sweep.finished_rows, description=sweep.next_row() or "done")

        return on_row

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


@main.command("show")
@click.argument("path", metavar="FILE.json")
@_view_options
def show_command(path, output_format, plot, front, memory_budget):
    """Print a saved results file as the run or bench that wrote it printed it (the baseline comparison too,
    while the baseline file is there); exit status as that run's: 1 when its gate failed."""
    from gradcmp.api import show

    try:
        sweep = show(path, front=front, memory_budget=memory_budget, plot=plot)
    except ConfigError as error:
        raise _usage(error) from None
    _show(sweep, output_format)
    sys.exit(1 if sweep.failed else 0)


@main.command("compare")
@click.argument("baseline", metavar="OLD.json")
@click.argument("current", metavar="NEW.json")
@click.option("--fail-on-regression", type=float, callback=_ratio, metavar="RATIO",
              help="Exit 1 when a time or memory ratio (new / old) exceeds RATIO.")
def compare_command(baseline, current, fail_on_regression):
    """Compare two saved results files row by row (same problem, params, strategy, dtype, device)."""
    from gradcmp.api import compare
    from gradcmp.report.table import comparison

    try:
        report = compare(baseline, current, fail_on_regression)
    except ConfigError as error:
        raise _usage(error) from None
    console = _console()
    console.print(comparison(report, console.width), highlight=False)
    sys.exit(1 if report.regressions or report.nothing_compared else 0)
