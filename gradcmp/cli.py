"""The command line: parse, validate (usage errors exit 2), call the library, render.

torch is imported only inside commands that compute, so --help and list start fast.
"""
from __future__ import annotations

import errno
import os
import sys

import click

from gradcmp import __version__, interrupt
from gradcmp.config import (DEVICES, DTYPES, LARGEST_INT, ConfigError, Settings, check_setting, parse_bytes,
                            split_assignment)


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
@click.version_option(__version__, prog_name="gradcmp")
def main():
    """Compute the same gradient with several strategies and compare time, memory and error."""
    from gradcmp.plugins import load

    load()


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


def _setting(ctx, param, value):
    """The same range check a preset's setting gets (config.SETTING_RANGES)."""
    try:
        return None if value is None else check_setting(param.name, value, "--" + param.name.replace("_", "-"))
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


def settings_options(command):
    """The options that say how to measure, shared by `run` and `bench`.

    Each defaults to None ("not given"), so `bench` can tell a flag from its preset's value;
    `settings_from` fills in the rest from gradcmp.config.Settings.
    """
    defaults = Settings()
    options = (
        click.option("--dtype", type=click.Choice(DTYPES), help=f"[default: {defaults.dtype}]"),
        click.option("--device", type=click.Choice(DEVICES), help=f"[default: {defaults.device}]"),
        click.option("--seed", type=int, callback=_setting, help=f"Seed of the problem's random data. [default: {defaults.seed}]"),
        click.option("--threads", type=int, callback=_setting, help="torch threads (default: all cores)."),
        click.option("--max-memory", callback=_memory, metavar="SIZE",
                     help="Skip strategies estimated to need more (e.g. 2GiB). Default: half the free memory."),
        click.option("--max-time", type=float, callback=_setting,
                     help="Skip strategies estimated to take longer per gradient (seconds). "
                          f"[default: {defaults.max_time:g}]"),
        click.option("--min-run-time", type=float, callback=_setting,
                     help=f"Seconds of timed repeats per strategy, at most 60. "
                          f"[default: {defaults.min_run_time:g}]"),
        click.option("--compile", is_flag=True, default=None,
                     help="Also measure each strategy's torch.compile'd form, where it has one (backprop, "
                          "checkpoint, adjoint: NAME-compiled), compile time apart."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def settings_from(measuring: dict, base: dict | None = None) -> Settings:
    """Settings: the defaults, overlaid by `base` (a preset's), overlaid by the flags given."""
    given = {key: value for key, value in measuring.items() if value is not None}
    return Settings(**{**(base or {}), **given})


def _check_device(settings: Settings) -> None:
    from gradcmp.config import torch_dtype_device

    try:
        torch_dtype_device(settings.dtype, settings.device)
    except ConfigError as error:
        raise _usage(error, "--device") from None


def _format_option(command):
    from gradcmp.report import FORMATS

    return click.option("--format", "output_format", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="What to print on stdout.")(command)


def _print(sweep, output_format: str) -> None:
    """The sweep in the chosen format on stdout (gradcmp.report.export)."""
    from gradcmp.report import export

    if output_format == "table":
        console = _console()
        console.print(export(sweep, output_format, console.width))
    else:
        text = export(sweep, output_format)
        click.echo(text, nl=not text.endswith("\n"))


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


@main.command("run")
@click.option("--problem", "-p", required=True,
              help="Problem name (see `gradcmp list`), or your own FILE.py:NAME or package.module:NAME "
                   "(imported only then; see docs/extending.md).")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help="Strategy name; repeat for several. Default: every strategy (those that do not apply named under the table).")
@click.option("--size", "-n", type=int, callback=_positive_int,
              help="The problem's main param (matrix side, ODE steps, ...: see `gradcmp list PROBLEM`).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set any param of the problem; repeatable.")
@settings_options
@_format_option
@_save_gradients_option
@click.option("--tolerance", type=float, callback=_positive_float, metavar="REL",
              help="Exit 1 when an ok row's relative error exceeds REL (e.g. 1e-6).")
def run_command(problem, strategies, size, params, output_format, save_gradients, tolerance, **measuring):
    """Compute one problem's gradient with each strategy; print time, memory and error."""
    from gradcmp.api import one_job
    from gradcmp.gate import over_tolerance
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
            if chosen_problem.main_knob in given:
                raise ConfigError(f"--size and --param {chosen_problem.main_knob}= both set "
                                  f"{chosen_problem.main_knob}; give one")
            given[chosen_problem.main_knob] = str(size)
        check_outputs({"--save-gradients": save_gradients})
        sweep = one_job(chosen_problem, list(dict.fromkeys(strategies)) or None, given, sys.argv,
                        keep_gradients=bool(save_gradients), **measuring)
    except ConfigError as error:
        raise _usage(error) from None
    run = sweep.entries[0].run
    if save_gradients:
        _write_gradients(save_gradients, run.gradient_arrays())
    _print(sweep, output_format)
    over = over_tolerance(run, tolerance)
    if over:
        click.echo(f"over the tolerance {tolerance:g}: {', '.join(over)}", err=True)
    sys.exit(1 if over or any(result.status == "failed" for result in run.results) else 0)


def _sweep_params(params: tuple[str, ...]) -> dict[str, list[str]]:
    """--param KEY=VALUE[,VALUE...] -> {KEY: [VALUE, ...]}; several values sweep the knob."""
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


@main.command("bench")
@click.option("--preset", metavar="NAME|PATH",
              help="A shipped preset (smoke, default, scaling, ...) or your own .toml file. "
                   "Default: `default`, or none when --problem is given.")
@click.option("--problem", "-p", "problems", multiple=True,
              help="Only this problem's cases (with --preset), or a case per problem: a name, or your own "
                   "FILE.py:NAME or package.module:NAME (imported only then); repeatable.")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help="Only this strategy (where it applies); repeatable. Default: the preset's, or every applicable one.")
@click.option("--sizes", callback=_sizes, metavar="N,N,...",
              help="Values of each problem's main param, e.g. 16,32,64 (replaces the preset's).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE[,VALUE...]",
              help="Set a param in every case; several values sweep it. Repeatable.")
@settings_options
@click.option("--output", "-o", metavar="FILE.json",
              help="Results file, rewritten after every row; never another run's, the baseline or the preset. "
                   "Default: results-<preset>-<time>-<pid>.json")
@_format_option
@click.option("--baseline", metavar="OLD.json", help="Compare row by row with an earlier results file.")
@click.option("--fail-on-regression", type=float, callback=_ratio, metavar="RATIO",
              help="Exit 1 when a time or memory ratio against --baseline exceeds RATIO (e.g. 1.5).")
@click.option("--plot", metavar="FILE.png|FILE.svg",
              help="Log-log time and memory against size, a line per strategy; with --front or "
                   "--memory-budget, time against memory with the Pareto front marked (needs matplotlib).")
@_save_gradients_option
@click.option("--front", is_flag=True, help="Print each configuration's time-memory Pareto front.")
@click.option("--memory-budget", callback=_memory, metavar="SIZE",
              help="With the front, name the fastest gradient within tolerance that fits in SIZE (e.g. 16MiB).")
def bench_command(preset, problems, strategies, sizes, params, output, output_format, baseline,
                  fail_on_regression, plot, save_gradients, front, memory_budget, **measuring):
    """Run a preset or a sweep; save every row as it finishes; fit growth laws; recommend; gate CI.

    Exit status: 0 all rows within tolerance, 1 a row failed, exceeded its tolerance or regressed,
    2 bad input (nothing ran), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the file keeps the finished rows).
    """
    from gradcmp.sweep import Sweep
    from gradcmp.presets import command_line_preset, load_preset, plan
    from gradcmp.results import check_output, default_output, load_runs, output_lock

    baseline_document = baseline_runs = None
    try:
        chosen = command_line_preset(list(problems)) if problems and not preset else load_preset(preset or "default")
        jobs = plan(chosen, list(problems) or None, list(dict.fromkeys(strategies)) or None, sizes,
                    _sweep_params(params))
        settings = settings_from(measuring, chosen.settings)
        if fail_on_regression is not None and not baseline:
            raise ConfigError("--fail-on-regression compares with a baseline: give --baseline OLD.json too")
        if baseline:
            baseline_document, baseline_runs = load_runs(baseline)
        path = default_output(chosen.name) if output is None else output
        check_output(path, {"baseline": baseline, "preset": None if preset is None else chosen.source},
                     {"--save-gradients": save_gradients, "--plot": plot})
        if plot:
            from gradcmp.plot import check_plot_path

            check_plot_path(plot)
    except ConfigError as error:
        raise _usage(error) from None
    _check_device(settings)
    try:
        with output_lock(path):
            sweep = Sweep(chosen, jobs, settings, path, sys.argv, keep_gradients=bool(save_gradients))
            try:
                failed = _bench(sweep, output_format, baseline, baseline_runs, baseline_document, fail_on_regression,
                                plot, save_gradients, front, memory_budget)
            except interrupt.Interrupted as stop:
                sweep.stop()
                interrupt.say(f"interrupted by {stop.name} after {sweep.finished_rows} of {sweep.total_rows} rows; "
                              f"the finished rows are in {sweep.path}")
                stop.reported = True
                raise
    except ConfigError as error:  # another run holds the file
        raise _usage(error) from None
    sys.exit(1 if failed else 0)


def _bench(sweep, output_format, baseline, baseline_runs, baseline_document, fail_on_regression, plot,
           save_gradients, front, memory_budget) -> bool:
    """Measure, then print what the library made of it; True when the gate failed."""
    from gradcmp.config import thread_limits
    from gradcmp.gate import against_baseline, machine_of, verdict
    from gradcmp.report.table import comparison, verdict_lines

    sweep.save()
    with thread_limits(sweep.settings.threads):
        _measure(sweep)
    if save_gradients:
        from gradcmp.sweep import gradient_arrays

        _write_gradients(save_gradients, gradient_arrays(sweep.entries))
    out, err = _console(), _console(stderr=True)
    human = out if output_format == "table" else err
    report = None
    if baseline:
        report = against_baseline(baseline, baseline_runs, [entry.run for entry in sweep.entries],
                                  machine_of(baseline_document, baseline_runs), sweep.header.get("machine", {}),
                                  fail_on_regression)
        sweep.extra["baseline"] = report.to_json()
        sweep.save()
        human.print(comparison(report, human.width), highlight=False)
    _print(sweep, output_format)
    if front or memory_budget:
        from gradcmp.frontier import front_report

        human.print(front_report(sweep.entries, memory_budget))
    if plot:
        from gradcmp.plot import save_front_plot, save_plot

        if front or memory_budget:
            save_front_plot(sweep.entries, plot, memory_budget)
        else:
            save_plot(sweep.entries, plot)
        human.print(f"plot: {plot}")
    result = verdict(sweep.entries)
    human.print(verdict_lines(result, sweep.path, sweep.lost), highlight=False)
    return result.failed or (report is not None and report.failed)


def _measure(sweep) -> None:
    """Run the sweep under a progress bar (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=_console(stderr=True), transient=True,
                        disable=not (sys.stdout.isatty() and sys.stderr.isatty()))
    with progress:
        task = progress.add_task(sweep.next_row() or "", total=sweep.total_rows)

        def on_row(entry, result):
            progress.update(task, advance=1, description=sweep.next_row() or "done")

        try:
            sweep.run(on_row)
        except Exception:  # a bug in gradcmp: say so in the file too, then surface it loudly
            sweep.status = "crashed"
            sweep.save()
            raise


@main.command("compare")
@click.argument("baseline", metavar="OLD.json")
@click.argument("current", metavar="NEW.json")
@click.option("--fail-on-regression", type=float, callback=_ratio, metavar="RATIO",
              help="Exit 1 when a time or memory ratio (new / old) exceeds RATIO.")
def compare_command(baseline, current, fail_on_regression):
    """Compare two saved results files row by row (same problem, params, strategy, dtype, device)."""
    from gradcmp.gate import against_baseline, machine_of
    from gradcmp.report.table import comparison
    from gradcmp.results import load_runs

    try:
        old_document, old_runs = load_runs(baseline)
        new_document, new_runs = load_runs(current)
    except ConfigError as error:
        raise _usage(error) from None
    report = against_baseline(baseline, old_runs, new_runs, machine_of(old_document, old_runs),
                              machine_of(new_document, new_runs), fail_on_regression)
    console = _console()
    console.print(comparison(report, console.width), highlight=False)
    sys.exit(1 if report.regressions or report.nothing_compared else 0)
