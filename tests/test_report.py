"""Every renderer against golden text: fixed records in (hand-built Results, no measuring), exact text out.

tests/expected/NAME.txt holds each expected text; GRADCMP_REGOLD=1 rewrites them from the current
renderers (then read the diff before committing it).
"""
import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from gradcmp.analysis import recommend, scaling_laws
from gradcmp.config import Settings
from gradcmp.gate import against_baseline, verdict
from gradcmp.presets import Preset
from gradcmp.problems import PROBLEMS
from gradcmp.report import export
from gradcmp.report.sheet import problem_sheet
from gradcmp.report.table import comparison, list_tables, verdict_lines
from gradcmp.records import CaseInfo, Entry, Result, Run
from gradcmp.strategies import STRATEGIES, strategy as configured
from gradcmp.sweep import Sweep

EXPECTED = Path(__file__).parent / "expected"
# Fixed subsets of the registries for the list renderers, so the golden text changes neither when a problem or
# strategy is registered nor with the optional extras installed (peers print "[unavailable: ...]" without them).
LISTED_PROBLEMS = {name: PROBLEMS[name] for name in ("inv-norm", "lotka-volterra")}
LISTED_STRATEGIES = {name: STRATEGIES[name] for name in ("jacobian", "vjp", "finite-diff", "numpy-vjp", "backprop",
                                                         "adjoint")}


def golden(name: str, text: str) -> None:
    path = EXPECTED / f"{name}.txt"
    if os.environ.get("GRADCMP_REGOLD"):
        path.write_text(text)
    assert text == path.read_text(), f"{name}: rerun with GRADCMP_REGOLD=1 if the change is meant"


def render(renderable, width=140) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines())


def sweep_of(entries) -> Sweep:
    """A finished sweep of fixed entries: analysed as a measured one is, nothing run."""
    sweep = Sweep(Preset("fixed", "tests"), [], Settings(threads=2), None, ["test"])
    sweep.entries = entries
    sweep.finish("complete")
    return sweep


def entry(problem, params, results, sweep=None, tolerance=None, info=None):
    return Entry(CaseInfo(1, sweep, tolerance), Run(problem, params, "float64", "cpu", 0, 2, info=info or {},
                                                    results=results))


def ok(strategy, time_s, peak, error, repeats=40, primal=1.5e-4, **more):
    return Result(strategy, "ok", time_s=time_s, time_iqr_s=time_s / 40, repeats=repeats, primal_time_s=primal,
                  peak_bytes=peak, rel_error=error, max_abs_error=error / 50, **more)


INAPPLICABLE = [Result(name, "skipped", reason="needs an ODE problem", not_applicable=True)
                for name in ("backprop", "checkpoint", "adjoint")]


def run_entry():
    """`gradcmp run -p inv-norm -n 64`, fixed: a skip, a failure, a one-block timing, inapplicable strategies."""
    return entry("inv-norm", {"size": 64}, [
        Result("jacobian", "skipped", reason="the Jacobians would need about 2.0 TiB", primal_time_s=1.5e-4),
        ok("vjp", 4.5e-4, 163_856, 1.2e-15, saved_bytes=32_768),
        ok("jvp", 0.731, 134_217_728, 2.8e-16, repeats=1),
        Result("finite-diff", "failed", reason="the gradient has NaN or Inf entries", primal_time_s=1.5e-4),
        *INAPPLICABLE], info={"condition number": 2.4871})


def ode_entry():
    counters = {"nfe_fwd": 800, "nfe_bwd": 800, "steps_accepted": 200}
    return entry("lotka-volterra", {"steps": 1000, "method": "rk4", "T": 10.0}, [
        ok("backprop", 0.056, 19_968, 8.6e-5, repeats=2, primal=9.4e-3, saved_bytes=19_354,
           stats={"nfe_fwd": 800, "steps_accepted": 200}),
        ok("adjoint", 0.0886, 992, 5.3e-5, primal=9.4e-3, saved_bytes=336, stats=counters),
        ok("adjoint-checkpoint", 0.108, 1_434, 5.5e-5, primal=9.4e-3, saved_bytes=480, stats=counters)],
        info={"theta": "1.731 0.971 0.782 3.171"})


def bench_entries():
    def at(size, results):
        return entry("inv-norm", {"size": size}, results, sweep="size", tolerance=1e-8)

    return [at(n, [ok("vjp", 1e-8 * n ** 2, 24 * n ** 2, 2e-16, primal=1e-7 * n),
                   ok("finite-diff", 2e-9 * n ** 3, 20 * n ** 2, 3e-10 * n, primal=1e-7 * n),
                   Result("jacobian", "skipped", reason="too big") if n > 16 else
                   ok("jacobian", 1e-9 * n ** 3, 8 * n ** 4, 1e-15, primal=1e-7 * n)])
            for n in (8, 16, 32, 64)]


def test_list_tables():
    golden("list", render(list_tables(LISTED_PROBLEMS, LISTED_STRATEGIES), width=200))


def test_list_problem_sheet():
    golden("list_inv_norm", render(problem_sheet(PROBLEMS["inv-norm"], LISTED_STRATEGIES)))


@pytest.mark.parametrize("width", [140, 80])
def test_run_table(width):
    text = render(export(sweep_of([run_entry()]), "table", width), width)
    assert all(len(line) <= width for line in text.splitlines())
    golden(f"run_table_{width}", text)


def test_run_table_narrow_blocks():
    golden("run_table_40", render(export(sweep_of([run_entry()]), "table", 40), 40))


@pytest.mark.parametrize("width", [140, 80])
def test_ode_run_table_puts_counters_under_it(width):
    text = render(export(sweep_of([ode_entry()]), "table", width), width)
    assert all(len(line) <= width for line in text.splitlines()) and "…" not in text
    golden(f"ode_table_{width}", text)


def test_bench_tables_recommendations_and_laws():
    golden("bench_table", render(export(sweep_of(bench_entries()), "table", 140)))


def test_bench_markdown():
    golden("bench_markdown", export(sweep_of(bench_entries()), "markdown"))


def test_bench_csv():
    golden("bench_csv", export(sweep_of(bench_entries()), "csv"))


def test_run_markdown():
    golden("run_markdown", export(sweep_of([run_entry()]), "markdown"))


def test_a_row_reads_the_same_in_run_and_bench():
    """The jvp row of a one-job run and of a sweep, cell for cell."""
    single = render(export(sweep_of([run_entry()]), "table", 200), 200)
    swept = entry("inv-norm", {"size": 64}, run_entry().run.results, sweep="size")
    row = next(line for line in single.splitlines() if "│ jvp" in line)
    assert row.strip("│ ") in render(export(sweep_of([swept]), "table", 200), 200)


def test_comparison_and_verdict():
    old = [entry.run for entry in bench_entries()]
    new = [entry.run for entry in bench_entries()]
    new[2].results[0].time_s *= 2
    report = against_baseline("old.json", old, new, {"cpu": "old chip"}, {"cpu": "new chip"}, 1.5)
    assert report.regressions == ["inv-norm size=32 vjp"] and report.failed
    golden("comparison", render(comparison(report)))
    golden("verdict", render(verdict_lines(verdict(bench_entries()), "results.json", None)))


def test_recommendation_lines():
    tie = [ok("vjp", 1.00e-3, 100, 1e-16), ok("jvp", 1.01e-3, 300, 1e-16)]
    apart = [ok("vjp", 1.0e-3, 300, 1e-16), ok("jvp", 3.0e-3, 100, 1e-10)]
    lines = [*recommend([entry("inv-norm", {"size": 8}, tie).run]).lines,
             *recommend([entry("inv-norm", {"size": 8}, apart).run]).lines,
             *(law.describe() for law in scaling_laws("inv-norm", "size", [e.run for e in bench_entries()]))]
    assert "1x faster" not in " ".join(lines)
    golden("recommendations", "\n".join(lines) + "\n")


def test_every_json_field_of_a_row_is_a_csv_column_and_a_checked_field():
    """One declaration (the Result record) behind the JSON, the loader's checks and the CSV columns."""
    from dataclasses import fields

    from gradcmp.report.csvtext import COLUMNS
    from gradcmp.records import RESULT_FIELDS

    declared = [f.name for f in fields(Result) if f.metadata.get("json", True)]
    assert list(RESULT_FIELDS) == declared
    assert set(declared) <= set(COLUMNS)
    assert {"compile_s", "estimated_bytes", "notes"} <= set(RESULT_FIELDS)
