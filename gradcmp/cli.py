"""The command line: parse, validate (usage errors exit 2), call the library, render.

torch is imported only inside commands that compute, so --help and list start fast.
"""
from __future__ import annotations

import json
import sys

import click

from gradcmp import __version__
from gradcmp.config import ConfigError, Settings, parse_bytes, resolve_params, split_assignment
from gradcmp.presets import DEVICES, DTYPES


def _usage(error: ConfigError, param: str | None = None) -> click.UsageError:
    return click.BadParameter(str(error), param_hint=param) if param else click.UsageError(str(error))


def _console(stderr: bool = False):
    """A terminal gets its own width; piped output gets room for the whole table."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=220)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gradcmp")
def main():
    """Compute the same gradient with several strategies and compare time, memory and error."""


@main.command("list")
def list_command():
    """Problems (with knobs), strategies, and which strategy applies to which problem."""
    from gradcmp.problems import PROBLEMS
    from gradcmp.report import list_tables
    from gradcmp.strategies import STRATEGIES

    _console().print(list_tables(PROBLEMS, STRATEGIES))


def _positive_int(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


def _memory(ctx, param, value):
    try:
        return None if value is None else parse_bytes(value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


def _positive_float(ctx, param, value):
    if value is not None and not value > 0:
        raise click.BadParameter(f"must be a positive number of seconds, got {value}")
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
        click.option("--seed", type=int, help=f"Seed of the problem's random data. [default: {defaults.seed}]"),
        click.option("--threads", type=int, callback=_positive_int, help="torch threads (default: all cores)."),
        click.option("--max-memory", callback=_memory, metavar="SIZE",
                     help="Skip strategies estimated to need more (e.g. 2GiB). Default: half the free memory."),
        click.option("--max-time", type=float, callback=_positive_float,
                     help="Skip strategies estimated to take longer per gradient (seconds). "
                          f"[default: {defaults.max_time:g}]"),
        click.option("--min-run-time", type=float, callback=_positive_float,
                     help=f"Seconds of timed repeats per strategy. [default: {defaults.min_run_time:g}]"),
        click.option("--compile", is_flag=True, default=None,
                     help="Also measure each strategy's torch.compile'd form, where it has one (backprop: "
                          "backprop-compiled), compile time apart."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def settings_from(measuring: dict, base: dict | None = None) -> Settings:
    """Settings: the defaults, overlaid by `base` (a preset's), overlaid by the flags given."""
    given = {key: value for key, value in measuring.items() if value is not None}
    return Settings(**{**(base or {}), **given})


def _check_device(settings: Settings) -> None:
    from gradcmp.run import torch_dtype_device

    try:
        torch_dtype_device(settings)
    except ConfigError as error:
        raise _usage(error, "--device") from None


@main.command("run")
@click.option("--problem", "-p", required=True, help="Problem name (see `gradcmp list`).")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help="Strategy name; repeat for several. Default: every strategy (inapplicable ones shown as skipped).")
@click.option("--size", "-n", type=int, callback=_positive_int,
              help="The problem's main knob (matrix side, ...).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set any knob of the problem; repeatable.")
@settings_options
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
def run_command(problem, strategies, size, params, output_format, **measuring):
    """Compute one problem's gradient with each strategy; print time, memory and error."""
    from gradcmp.run import get_problem, select_strategies

    try:
        chosen_problem = get_problem(problem)
    except ConfigError as error:
        raise _usage(error, "--problem") from None
    try:
        given = dict(split_assignment(text) for text in params)
        if size is not None:
            given[chosen_problem.main_knob] = str(size)
        resolved = resolve_params(chosen_problem.knobs, given, chosen_problem.name)
    except ConfigError as error:
        raise _usage(error, "--param") from None
    try:
        chosen = select_strategies(chosen_problem, list(strategies) or None)
    except ConfigError as error:
        raise _usage(error, "--strategy") from None
    settings = settings_from(measuring)
    _check_device(settings)

    from gradcmp.run import run_problem

    run = run_problem(chosen_problem, resolved, chosen, settings)
    if output_format == "json":
        click.echo(json.dumps(run.to_json(), indent=2))
    else:
        from gradcmp.report import run_table

        _console().print(run_table(run))
    sys.exit(1 if any(result.status == "failed" for result in run.results) else 0)


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
              help="Only this problem's cases (with --preset), or a case per problem; repeatable.")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help="Only this strategy (where it applies); repeatable. Default: the preset's, or every applicable one.")
@click.option("--sizes", callback=_sizes, metavar="N,N,...",
              help="Values of each problem's main knob, e.g. 16,32,64 (replaces the preset's).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE[,VALUE...]",
              help="Set a knob in every case; several values sweep it. Repeatable.")
@settings_options
@click.option("--output", "-o", metavar="FILE.json",
              help="Results file, rewritten after every row. Default: results-<preset>-<time>.json")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv", "markdown"]),
              default="table", show_default=True, help="What to print on stdout.")
@click.option("--baseline", metavar="OLD.json", help="Compare row by row with an earlier results file.")
@click.option("--fail-on-regression", type=float, callback=_positive_float, metavar="RATIO",
              help="Exit 1 when a time or memory ratio against --baseline exceeds RATIO (e.g. 1.5).")
@click.option("--plot", metavar="FILE.png|FILE.svg",
              help="Log-log time and memory against size, a line per strategy (needs matplotlib).")
def bench_command(preset, problems, strategies, sizes, params, output, output_format, baseline,
                  fail_on_regression, plot, **measuring):
    """Run a preset or a sweep; save every row as it finishes; fit growth laws; recommend; gate CI.

    Exit status: 0 all rows within tolerance, 1 a row failed, exceeded its tolerance or regressed,
    2 bad input (nothing ran), 130/143 interrupted by SIGINT/SIGTERM (the file keeps the finished rows).
    """
    from gradcmp.bench import Sweep, default_output
    from gradcmp.presets import command_line_preset, load_preset, plan

    try:
        chosen = command_line_preset(list(problems)) if problems and not preset else load_preset(preset or "default")
        jobs = plan(chosen, list(problems) or None, list(strategies) or None, sizes,
                    _sweep_params(params))
        settings = settings_from(measuring, chosen.settings)
        if fail_on_regression is not None and not baseline:
            raise ConfigError("--fail-on-regression compares with a baseline: give --baseline OLD.json too")
        if plot:
            from gradcmp.plot import check_plot_path

            check_plot_path(plot)
        if baseline:
            from gradcmp.results import load_runs

            baseline_document, baseline_runs = load_runs(baseline)
    except ConfigError as error:
        raise _usage(error) from None
    _check_device(settings)
    path = output or default_output(chosen)
    sweep = Sweep(chosen, jobs, settings, path, sys.argv)
    try:
        sweep.save()
    except OSError as error:
        raise click.BadParameter(f"cannot write {path}: {error.strerror}", param_hint="--output") from None

    _measure(sweep)
    entries = sweep.entries
    laws, recommendations = sweep.analysis()
    out, err = _console(), _console(stderr=True)
    human = out if output_format == "table" else err
    failed = False
    if baseline:
        failed = _report_baseline(sweep, baseline, baseline_document, baseline_runs, fail_on_regression, human)
    sweep.save()

    from gradcmp.bench_report import bench_csv, bench_markdown, bench_tables

    if output_format == "table":
        out.print(bench_tables(entries, recommendations, laws))
    elif output_format == "markdown":
        click.echo(bench_markdown(entries, recommendations, laws))
    elif output_format == "csv":
        click.echo(bench_csv(entries), nl=False)
    else:
        click.echo(json.dumps(sweep.saved, indent=2))
    if plot:
        from gradcmp.plot import save_plot

        save_plot(entries, plot)
        human.print(f"plot: {plot}")
    failed = _summary(sweep, human) or failed
    sys.exit(1 if failed else 0)


def _measure(sweep) -> None:
    """Run the sweep under a progress bar (only on a terminal); on SIGINT/SIGTERM say where the rows are and exit."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gradcmp.bench import interruptible

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=_console(stderr=True), transient=True,
                        disable=not (sys.stdout.isatty() and sys.stderr.isatty()))
    with progress:
        task = progress.add_task(sweep.next_row() or "", total=sweep.total_rows)

        def on_row(entry, result):
            progress.update(task, advance=1, description=sweep.next_row() or "done")

        try:
            with interruptible():
                sweep.run(on_row)
        except KeyboardInterrupt as interrupted:
            status = sweep.stop(interrupted)
            progress.stop()
            click.echo(f"interrupted after {sweep.finished_rows} of {sweep.total_rows} rows; the finished rows "
                       f"are in {sweep.path}", err=True)
            sys.exit(status)
        except Exception:  # a bug in gradcmp: say so in the file too, then surface it loudly
            sweep.status = "crashed"
            sweep.save()
            raise


def _report_baseline(sweep, path, document, runs, threshold, console) -> bool:
    """Print the comparison with the baseline, record it in the results; True when a row regressed."""
    from gradcmp.results import compare_runs

    comparisons, only_new, only_old = compare_runs(runs, [entry.run for entry in sweep.entries])
    regressed = _print_comparison(comparisons, only_new, only_old, threshold, console,
                                  document.get("machine") or (runs[0].machine if runs else {}),
                                  sweep.header.get("machine", {}), path)
    sweep.extra["baseline"] = {
        "path": path, "threshold": threshold, "only_now": only_new, "only_in_baseline": only_old,
        "rows": [{"problem": c.run.problem, "params": c.run.params, "strategy": c.new.strategy,
                  "time_ratio": c.time_ratio, "memory_ratio": c.memory_ratio} for c in comparisons],
        "regressions": regressed,
    }
    return bool(regressed)


def _print_comparison(comparisons, only_new, only_old, threshold, console, old_machine, new_machine,
                      baseline_path) -> list[str]:
    """The comparison table and its notes; the regressed rows (empty without a threshold)."""
    from gradcmp.bench_report import comparison_table, machine_note

    console.print(comparison_table(comparisons, threshold))
    console.print(f"{len(comparisons)} rows compared with {baseline_path}; {only_new} only now, "
                  f"{only_old} only in the baseline", highlight=False)
    note = machine_note(old_machine, new_machine)
    if note:
        console.print(note, style="yellow")
    regressed = [f"{c.run.problem} {' '.join(f'{k}={v}' for k, v in c.run.params.items())} {c.new.strategy}"
                 for c in comparisons if threshold is not None and c.regressed(threshold)]
    if regressed:
        console.print(f"{len(regressed)} rows regressed beyond {threshold:g}x: {'; '.join(regressed)}",
                      style="bold red", highlight=False)
    elif threshold is not None:
        console.print(f"no row regressed beyond {threshold:g}x", style="green")
    return regressed


def _summary(sweep, console) -> bool:
    """The last line: row counts, where the file is, and the CI gate's verdict; True when it failed."""
    from collections import Counter

    from gradcmp.bench import gate_failures

    counts = Counter(result.status for entry in sweep.entries for result in entry.run.results)
    failures = gate_failures(sweep.entries)
    console.print(f"{sum(counts.values())} rows: {counts['ok']} ok, {counts['skipped']} skipped, "
                  f"{counts['failed']} failed; results in {sweep.path}", highlight=False)
    if failures:
        console.print(f"gate FAILED on {len(failures)} rows: " + "; ".join(failures), style="bold red",
                      highlight=False)
    else:
        expected = sorted({f"{entry.run.problem} {result.strategy}" for entry in sweep.entries
                           for result in entry.run.results if result.strategy in entry.job.expect_failure
                           and result.status != "skipped"})
        console.print("gate passed: no row failed or exceeded its tolerance"
                      + (f" but those expected to ({', '.join(expected)})" if expected else ""), style="green")
    return bool(failures)


@main.command("compare")
@click.argument("baseline", metavar="OLD.json")
@click.argument("current", metavar="NEW.json")
@click.option("--fail-on-regression", type=float, callback=_positive_float, metavar="RATIO",
              help="Exit 1 when a time or memory ratio (new / old) exceeds RATIO.")
def compare_command(baseline, current, fail_on_regression):
    """Compare two saved results files row by row (same problem, knobs, strategy, dtype, device)."""
    from gradcmp.results import compare_runs, load_runs

    try:
        old_document, old_runs = load_runs(baseline)
        new_document, new_runs = load_runs(current)
    except ConfigError as error:
        raise _usage(error) from None
    comparisons, only_new, only_old = compare_runs(old_runs, new_runs)
    regressed = _print_comparison(comparisons, only_new, only_old, fail_on_regression, _console(),
                                  old_document.get("machine") or (old_runs[0].machine if old_runs else {}),
                                  new_document.get("machine") or (new_runs[0].machine if new_runs else {}),
                                  baseline)
    sys.exit(1 if regressed else 0)
