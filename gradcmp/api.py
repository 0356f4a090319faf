"""The Python API: what the command line does, as functions returning the records.

    import gradcmp
    run = gradcmp.run("inv-norm", ["vjp", "jvp"], {"size": 32}, keep_gradients=True)
    print(run)                          # the table `gradcmp run` prints
    run.results[0].gradient             # a torch tensor, as the strategy returned it
    sweep = gradcmp.bench("smoke", baseline="old.json", fail_on_regression=1.5)
    sweep.failed                        # the verdict CI acts on; sweep.comparison, sweep.verdict say why

The functions have the commands' names: run, bench, compare (two results files), show (one). Their
settings are the keyword arguments of gradcmp.config.SETTINGS (dtype, device, seed, threads, max_memory,
max_time, min_run_time, compile), checked as the command line checks its options. Every mistake in the
arguments raises gradcmp.config.ConfigError (a ValueError) with one line, before any work starts.
"""
from __future__ import annotations

import contextlib
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Sequence

from gradcmp.config import ConfigError, check_settings, resolve_settings, thread_limits, torch_dtype_device
from gradcmp.plugins import load as load_plugins
from gradcmp.records import Run


def run(problem, strategies: str | Sequence | None = None, params: dict[str, Any] | None = None, *,
        keep_gradients: bool = False, **settings) -> "ShownRun":
    """Compute `problem`'s gradient with each strategy and measure time, memory and error: one Run, which
    prints as `gradcmp run`'s table (and renders in a notebook).

    problem     a registered name, FILE.py:NAME, a factory function (dtype, device, seed, **params) ->
                (loss, x), or a pair (loss, x): a function and the tensor to differentiate it at
    strategies  spellings ("vjp", "checkpoint(checkpoints=8)") or values (gradcmp.strategy(...)); one alone
                is fine; None: every strategy, those that cannot run kept as skipped rows with the reason
    params      the problem's params to set (values typed, or text as on the command line)
    keep_gradients  every ok row carries its gradient (Result.gradient) and the Run the reference
                (Run.reference): torch tensors; Run.gradient_arrays() gives them as numpy arrays
    settings    gradcmp.config.SETTINGS by name: threads=1, max_time=60, compile=True, ...
    """
    run = one_job(problem, strategies, params, keep_gradients=keep_gradients, **settings).entries[0].run
    return ShownRun(**{field.name: getattr(run, field.name) for field in fields(Run)})


class ShownRun(Run):
    """The Run `gradcmp.run` returns: it prints as the table `gradcmp run` prints, and renders so in a notebook."""

    def __str__(self) -> str:
        from gradcmp.report.table import run_text

        return run_text(self)

    def _repr_html_(self) -> str:
        from gradcmp.report.table import run_text

        return run_text(self, html=True)


def one_job(problem, strategies=None, params: dict[str, Any] | None = None,
            command: Sequence[str] = ("gradcmp.run()",), keep_gradients: bool = False, **settings):
    """`run` as the sweep it is (`gradcmp run` is a bench of one job): the finished gradcmp.sweep.Sweep,
    no file written, its one entry's Run and its analysis."""
    from gradcmp.presets import Case, Preset

    load_plugins()
    if params is not None and not isinstance(params, dict):
        raise ConfigError(f"params must be a dict of param -> value, got {type(params).__name__}")
    given = params or {}
    case = Case(_problem(problem), _strategies(strategies),
                params={key: (value,) for key, value in given.items() if not isinstance(value, str)})
    text = {key: [value] for key, value in given.items() if isinstance(value, str)}  # typed as on the command line
    return _measure(Preset("run", "command line", cases=(case,)), {"params": text, "keep_inapplicable": True},
                    settings, None, list(command), keep_gradients)


def bench(preset_or_cases: str | Path | Sequence[dict], *, problems: Sequence[str] | None = None,
          strategies: Sequence | None = None, sizes: Sequence[Any] | None = None,
          params: dict[str, Sequence[Any]] | None = None, output: str | Path | None = None,
          baseline: str | Path | None = None, fail_on_regression: float | None = None,
          front: bool = False, memory_budget: int | str | None = None, plot: str | Path | None = None,
          save_gradients: str | Path | None = None, keep_gradients: bool = False, on_row: Callable | None = None,
          command: Sequence[str] = ("gradcmp.bench()",), **settings):
    """Measure a sweep: a preset (a shipped name or a .toml path) or a list of cases, each a dict with the
    keys of a preset's [[case]] table. Returns the finished gradcmp.sweep.Sweep: its `entries` (one Run per
    problem configuration), `analysis()` (scaling laws, recommendations), `comparison` with the baseline,
    `verdict` (the gate) and `failed` (what `gradcmp bench` exits 1 on).

    problems, strategies, sizes, params narrow or override the preset as `gradcmp bench`'s options do
    (params: a param -> its values). Settings default to the preset's, else to SETTINGS' defaults.
    output      the results file, rewritten after every row (None: none written); never a file that is not
                a gradcmp results file, the baseline or the preset
    baseline, fail_on_regression  compare with an earlier results file; regressed rows beyond the ratio
                (new / old) make `failed` true
    front, memory_budget  each configuration's time-memory Pareto front, and the fastest gradient within
                tolerance under the budget (bytes or text such as 16MiB): `sweep.fronts()`, shown by the renderers
    plot        a .png or .svg: time and memory against size, or with the front time against memory
    save_gradients  a .npz of every gradient and reference (keeps them)
    on_row      called (sweep, entry, result) after each row (a progress bar)
    Every output is checked before any work: distinct, writable, never a file of another kind, the baseline
    or the preset.
    """
    from gradcmp.presets import load_preset, parse_preset

    load_plugins()
    if isinstance(preset_or_cases, (str, Path)):
        preset = load_preset(str(preset_or_cases))
    elif isinstance(preset_or_cases, (list, tuple)):
        preset = parse_preset({"case": list(preset_or_cases)}, "command-line", "cases")
    else:
        raise ConfigError(f"bench takes a preset name, a .toml path or a list of cases, got "
                          f"{type(preset_or_cases).__name__}")
    if fail_on_regression is not None and baseline is None:
        raise ConfigError("fail_on_regression compares with a baseline: give baseline too")
    overrides = dict(problems=_names("problems", problems), strategies=_names("strategies", strategies),
                     sizes=_texts("sizes", sizes), params=_swept(params))
    outputs = {"--save-gradients": _path(save_gradients), "--plot": _path(plot)}
    sweep = _measure(preset, overrides, settings, _path(output), list(command), keep_gradients or bool(save_gradients),
                     baseline=_path(baseline), threshold=_ratio(fail_on_regression), on_row=on_row, outputs=outputs)
    return _write_views(sweep, front, memory_budget, plot, save_gradients)


def _write_views(sweep, front: bool, memory_budget, plot, save_gradients):
    """What a finished (or loaded) sweep is shown with, kept on it; the plot and the gradients written."""
    from gradcmp.config import parse_bytes

    sweep.front = bool(front) or memory_budget is not None
    sweep.memory_budget = parse_bytes(memory_budget) if isinstance(memory_budget, str) else memory_budget
    sweep.plot = _path(plot)
    if plot:
        from gradcmp.plot import save

        save(sweep.entries, str(plot), sweep.front, sweep.memory_budget)
    if save_gradients:
        import numpy

        from gradcmp.sweep import gradient_arrays

        numpy.savez(str(save_gradients), **gradient_arrays(sweep.entries))
    return sweep


def _measure(preset, overrides, settings: dict, output, command, keep_gradients, baseline=None, threshold=None,
             on_row=None, outputs=None):
    """Plan, check every output and input, measure (the results file locked), compare; the finished Sweep.
    An interruption stops the sweep (the file says so) and passes on, carrying it as `.sweep`."""
    from gradcmp.presets import plan
    from gradcmp.storage import check_output, load_runs, output_lock
    from gradcmp.sweep import Sweep

    checked = resolve_settings(**{**preset.settings, **check_settings(settings)})
    torch_dtype_device(checked.dtype, checked.device)
    jobs = plan(preset, **(overrides or {}), compile=checked.compile)
    baseline_runs = load_runs(baseline) if baseline else None
    if output is not None:
        check_output(output, {"baseline": baseline, "preset": None if preset.source in ("cases", "command line")
                              else preset.source}, outputs)
    if (outputs or {}).get("--plot"):
        from gradcmp.plot import check_plot_path

        check_plot_path(outputs["--plot"])
    sweep = Sweep(preset, jobs, checked, output, command, keep_gradients=keep_gradients)
    with output_lock(output) if output is not None else contextlib.nullcontext():
        try:
            with thread_limits(checked.threads):
                sweep.run(on_row or (lambda sweep, entry, result: None))
        except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM: the file keeps the finished rows, marked interrupted
            sweep.stop()
            stop.sweep = sweep
            raise
        except Exception:  # a bug in gradcmp: say so in the file too, then surface it
            sweep.status = "crashed"
            sweep.save()
            raise
        if baseline:
            sweep.compare_with(baseline, *baseline_runs, threshold)
        sweep.save()
    return sweep


def compare(baseline: str | Path, current: str | Path, fail_on_regression: float | None = None):
    """Two results files compared row by row (same problem, params, strategy, dtype, device): a
    gradcmp.gate.BaselineReport: its `failed` (a row regressed, or under a threshold nothing compared) is what
    `gradcmp compare` exits 1 on, and `nothing_compared` too."""
    from gradcmp.gate import against_baseline, machine_of
    from gradcmp.storage import load_runs

    old_document, old_runs = load_runs(str(baseline))
    new_document, new_runs = load_runs(str(current))
    return against_baseline(str(baseline), old_runs, new_runs, machine_of(old_document, old_runs),
                            machine_of(new_document, new_runs), _ratio(fail_on_regression))


def show(path: str | Path, *, front: bool = False, memory_budget: int | str | None = None,
         plot: str | Path | None = None):
    """A saved results file as the gradcmp.sweep.Sweep it records (analysed again; nothing written but the
    plot asked for): it renders as the live run did. front, memory_budget, plot: as in `bench`."""
    from gradcmp.paths import check_outputs
    from gradcmp.sweep import Sweep

    if plot:
        from gradcmp.plot import check_plot_path

        check_outputs({"--plot": str(plot)}, {"results file": str(path)})
        check_plot_path(str(plot))
    return _write_views(Sweep.load(str(path)), front, memory_budget, plot, None)


def _problem(problem):
    from gradcmp.problems import Problem, get_problem
    from gradcmp.problems.user import inline_problem

    if isinstance(problem, str):
        return get_problem(problem)
    if isinstance(problem, Problem):
        return problem
    return inline_problem(problem)


def _strategies(strategies) -> tuple | None:
    from gradcmp.strategies import Strategy

    if strategies is None:
        return None
    if isinstance(strategies, (str, Strategy)):
        strategies = [strategies]
    if not isinstance(strategies, (list, tuple)) or not strategies:
        raise ConfigError(f"strategies must be a spelling, a strategy or a non-empty list of them, got {strategies!r}")
    for item in strategies:
        if not isinstance(item, (str, Strategy)):
            raise ConfigError(f"a strategy is a spelling such as 'vjp' or a gradcmp.strategy(...), got {item!r}")
    return tuple(strategies)


def _names(what: str, given) -> list | None:
    if given is None:
        return None
    if isinstance(given, str) or not isinstance(given, (list, tuple)):
        raise ConfigError(f"{what} must be a list, got {given!r}")
    return [item if isinstance(item, str) else getattr(item, "label", item) for item in given]


def _texts(what: str, given) -> list[str] | None:
    if given is None:
        return None
    if isinstance(given, (str, bytes)) or not isinstance(given, (list, tuple)) or not given:
        raise ConfigError(f"{what} must be a non-empty list of values, got {given!r}")
    return [str(value) for value in given]


def _swept(params) -> dict | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise ConfigError(f"params must be a dict of param -> list of values, got {type(params).__name__}")
    return {key: _texts(f"params[{key!r}]", list(values) if isinstance(values, (list, tuple)) else [values])
            for key, values in params.items()}


def _path(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        raise ConfigError(f"a file is a path (str or pathlib.Path), got {type(value).__name__}")
    return str(value)


def _ratio(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"fail_on_regression must be a ratio above 0 such as 1.5 (new / old), got {value!r}")
    return float(value)
