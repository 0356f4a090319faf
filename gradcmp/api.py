"""The Python API: what `gradcmp run` and `gradcmp bench` do, as functions returning the records.

    import gradcmp
    run = gradcmp.compare("inv-norm", ["vjp", "jvp"], {"size": 32}, keep_gradients=True)
    run.results[0].gradient            # a torch tensor, as the strategy returned it
    run.gradient_arrays()["reference"] # numpy arrays, keyed by strategy and "reference"

Every mistake in the arguments raises gradcmp.config.ConfigError (a ValueError) before any work starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from gradcmp.config import (SETTING_RANGES, Settings, check_setting, parse_bytes, resolve_params, thread_limits,
                            torch_dtype_device)
from gradcmp.plugins import load as load_plugins
from gradcmp.problems import Problem, get_problem
from gradcmp.results import Run
from gradcmp.strategies import Strategy, select_strategies


def compare(problem: str | Problem, strategies: str | Sequence[str | Strategy] | None = None,
            params: dict[str, Any] | None = None, *, dtype: str = "float64", device: str = "cpu", seed: int = 0,
            threads: int | None = None, max_memory: int | str | None = None, max_time: float | None = None,
            min_run_time: float = 0.2, compile: bool = False, keep_gradients: bool = False) -> Run:
    """Compute `problem`'s gradient with each strategy and measure time, memory and error: one Run.

    problem     a registered problem's name or a Problem
    strategies  names or Strategy objects (one name alone is fine); None: every registered strategy,
                those that cannot run on the problem kept as skipped rows with the reason
    params      the problem's params to set (values typed, or text as on the command line); the rest
                keep their defaults
    threads     torch threads (None: every core); max_memory bytes or text such as "2GiB" (None: half
                the device's free memory); max_time seconds per gradient (None: the default budget)
    compile     also measure each strategy's torch.compile'd form where it has one (compile time apart)
    keep_gradients  every ok row carries its gradient (Result.gradient) and the Run the reference
                (Run.reference): torch tensors; Run.gradient_arrays() gives them as numpy arrays
    """
    return one_job(problem, strategies, params, dtype=dtype, device=device, seed=seed, threads=threads,
                   max_memory=max_memory, max_time=max_time, min_run_time=min_run_time, compile=compile,
                   keep_gradients=keep_gradients).entries[0].run


def one_job(problem: str | Problem, strategies: str | Sequence[str | Strategy] | None = None,
            params: dict[str, Any] | None = None, command: Sequence[str] = ("gradcmp.compare()",),
            keep_gradients: bool = False, **settings):
    """`compare` as the sweep it is (`gradcmp run` is a bench of one job): the finished
    gradcmp.sweep.Sweep, no file written, its one entry's Run and its analysis. `settings` are
    compare's keywords (dtype, device, seed, ...); those left out keep compare's defaults."""
    from gradcmp.presets import Job, Preset
    from gradcmp.sweep import Sweep

    load_plugins()
    chosen_problem = get_problem(problem) if isinstance(problem, str) else problem
    resolved = resolve_params(chosen_problem.params, params or {}, chosen_problem.name)
    if isinstance(strategies, str):
        strategies = [strategies]
    chosen = select_strategies(chosen_problem, list(strategies) if strategies is not None else None)
    checked = _settings({}, **settings)
    sweep = Sweep(Preset("run", "command line"), [Job(1, chosen_problem, resolved, chosen, None, None)], checked,
                  None, list(command), keep_gradients=keep_gradients)
    with thread_limits(checked.threads):
        sweep.run()
    return sweep


def bench(preset_or_cases: str | Path | Sequence[dict], *, problems: Sequence[str] | None = None,
          strategies: Sequence[str] | None = None, sizes: Sequence[Any] | None = None,
          params: dict[str, Sequence[Any]] | None = None, output: str | Path | None = None,
          dtype: str | None = None, device: str | None = None, seed: int | None = None, threads: int | None = None,
          max_memory: int | str | None = None, max_time: float | None = None, min_run_time: float | None = None,
          compile: bool | None = None, keep_gradients: bool = False):
    """Measure a sweep: a preset (a shipped name or a .toml path) or a list of cases, each a dict with
    the keys of a preset's [[case]] table. Returns the finished gradcmp.sweep.Sweep: its `entries`
    (one Run per problem configuration) and `analysis()` (scaling laws, recommendations).

    problems, strategies, sizes, params narrow or override the preset as `gradcmp bench`'s flags do
    (params: a param -> its values). The settings default to the preset's, else to `compare`'s.
    output: the results file, rewritten after every row (None: none written).
    keep_gradients: as in `compare`, for every Run of the sweep.
    """
    from gradcmp.sweep import Sweep
    from gradcmp.presets import load_preset, parse_preset, plan

    load_plugins()
    if isinstance(preset_or_cases, (str, Path)):
        preset = load_preset(str(preset_or_cases))
    else:
        preset = parse_preset({"case": list(preset_or_cases)}, "cases", "cases")
    text = lambda values: [str(value) for value in values]  # noqa: E731 -- plan takes the flags' text
    jobs = plan(preset, list(problems) if problems else None, list(strategies) if strategies else None,
                text(sizes) if sizes else None, {key: text(values) for key, values in (params or {}).items()})
    settings = _settings(preset.settings, dtype=dtype, device=device, seed=seed, threads=threads,
                         max_memory=max_memory, max_time=max_time, min_run_time=min_run_time, compile=compile)
    sweep = Sweep(preset, jobs, settings, None if output is None else str(output), ["gradcmp.bench()"],
                  keep_gradients=keep_gradients)
    try:
        with thread_limits(settings.threads):
            sweep.run()
    except KeyboardInterrupt:
        sweep.stop()
        raise
    sweep.save()
    return sweep


def _settings(base: dict[str, Any], **given) -> Settings:
    """Settings from `base` (a preset's) overlaid by the arguments given (None: not given), checked
    as the command line checks its flags."""
    given = {key: value for key, value in given.items() if value is not None}
    if isinstance(given.get("max_memory"), str):
        given["max_memory"] = parse_bytes(given["max_memory"])
    for key in SETTING_RANGES:
        if key in given:
            check_setting(key, given[key])
    settings = Settings(**{**base, **given})
    torch_dtype_device(settings.dtype, settings.device)
    return settings
