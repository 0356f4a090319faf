"""The command line: parse, validate (usage errors exit 2), call the library, render.

torch is imported only inside commands that compute, so --help and list start fast.
"""
from __future__ import annotations

import json
import sys

import click

from gradcmp import __version__
from gradcmp.config import ConfigError, Settings, parse_bytes, resolve_params, split_assignment

DTYPES = ("float32", "float64")


def _usage(error: ConfigError, param: str | None = None) -> click.UsageError:
    return click.BadParameter(str(error), param_hint=param) if param else click.UsageError(str(error))


def _console():
    """A terminal gets its own width; piped output gets room for the whole table."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


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


@main.command("run")
@click.option("--problem", "-p", required=True, help="Problem name (see `gradcmp list`).")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help="Strategy name; repeat for several. Default: every strategy (inapplicable ones shown as skipped).")
@click.option("--size", "-n", type=int, callback=_positive_int,
              help="The problem's main knob (matrix side, ...).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set any knob of the problem; repeatable.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the problem's random data.")
@click.option("--threads", type=int, callback=_positive_int, help="torch threads (default: all cores).")
@click.option("--max-memory", callback=_memory, metavar="SIZE",
              help="Skip strategies estimated to need more (e.g. 2GiB). Default: half the free memory.")
@click.option("--max-time", type=float, default=20.0, show_default=True, callback=_positive_float,
              help="Skip strategies estimated to take longer per gradient (seconds).")
@click.option("--min-run-time", type=float, default=0.2, show_default=True, callback=_positive_float,
              help="Seconds of timed repeats per strategy.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
def run_command(problem, strategies, size, params, dtype, device, seed, threads, max_memory, max_time,
                min_run_time, output_format):
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
    settings = Settings(dtype=dtype, device=device, seed=seed, max_memory=max_memory, max_time=max_time,
                        min_run_time=min_run_time, **({"threads": threads} if threads else {}))

    from gradcmp.run import run_problem, torch_dtype_device

    try:
        torch_dtype_device(settings)
    except ConfigError as error:
        raise _usage(error, "--device") from None
    run = run_problem(chosen_problem, resolved, chosen, settings)
    if output_format == "json":
        click.echo(json.dumps(run.to_json(), indent=2))
    else:
        from gradcmp.report import run_table

        _console().print(run_table(run))
    sys.exit(1 if any(result.status == "failed" for result in run.results) else 0)
