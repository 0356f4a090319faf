"""`gradcmp bench`: fits, recommendations, rendering of fixed records, the results file, interruption,
baselines, the CI gate, plots, and the smoke preset CI runs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gradcmp
from click.testing import CliRunner

from gradcmp.analysis import fit_power_law, recommend, scaling_laws
from gradcmp.gate import gate_failures

from gradcmp.cli import main
from gradcmp.report import export
from gradcmp.sweep import Sweep

from gradcmp.problems import PROBLEMS
from gradcmp.gate import compare_runs
from gradcmp.records import CaseInfo, Entry, Result, Run
from gradcmp.storage import load_runs
from gradcmp.strategies import STRATEGIES, strategy as configured

ROOT = Path(__file__).resolve().parent.parent


def _entry(size, results, tolerance=1e-8, sweep="size", problem="inv-norm", expect_failure=()):
    return Entry(CaseInfo(1, sweep, tolerance, tuple(expect_failure)),
                 Run(problem, {"size": size}, "float64", "cpu", 0, 2, results=results))


def _ok(strategy, time_s, peak_bytes, rel_error, primal_time_s=1e-4):
    return Result(strategy, "ok", time_s=time_s, time_iqr_s=time_s / 100, primal_time_s=primal_time_s,
                  peak_bytes=peak_bytes, rel_error=rel_error, max_abs_error=rel_error)


def _power_law_entries(sizes=(16, 32, 64, 128)):
    """jacobian: time n^3, memory n^4; vjp: time n^2, memory n^2 (exact); primal time n^1."""
    return [_entry(n, [_ok("jacobian", 1e-9 * n ** 3, 8 * n ** 4, 1e-15, 1e-7 * n),
                       _ok("vjp", 1e-8 * n ** 2, 24 * n ** 2, 2e-16, 1e-7 * n)]) for n in sizes]


def test_power_law_fit_is_exact():
    sizes = [16, 32, 64, 128, 256, 512]
    exponent, scale = fit_power_law(sizes, [3.0 * n ** 2.5 for n in sizes])
    assert exponent == pytest.approx(2.5, rel=1e-12) and scale == pytest.approx(3.0, rel=1e-12)


def test_scaling_laws_recover_each_strategys_exponents():
    laws = {law.strategy: law for law in scaling_laws("inv-norm", "size", [e.run for e in _power_law_entries()])}
    assert laws["jacobian"].time_exponent == pytest.approx(3) and laws["jacobian"].memory_exponent == pytest.approx(4)
    assert laws["jacobian"].x_primal_exponent == pytest.approx(2)
    assert laws["vjp"].time_exponent == pytest.approx(2) and laws["vjp"].memory_exponent == pytest.approx(2)
    assert laws["jacobian"].describe() == \
        "jacobian: time ~ size^3.0 (size^2.0 x primal), memory ~ size^4.0  [fit on size=32..128]"


def test_scaling_law_is_fitted_on_the_larger_sizes_where_overheads_no_longer_dominate():
    entries = _power_law_entries((4, 8, 16, 32, 64, 128, 256))
    entries[0].run.results[1].time_s = entries[1].run.results[1].time_s = 1e-3  # per-call overhead
    law = next(law for law in scaling_laws("inv-norm", "size", [e.run for e in entries]) if law.strategy == "vjp")
    assert law.sizes == (32, 64, 128, 256) and law.time_exponent == pytest.approx(2)


def test_no_law_is_fitted_from_fewer_than_three_sizes():
    assert scaling_laws("inv-norm", "size", [e.run for e in _power_law_entries((16, 32))]) == []


def test_recommendation_names_the_winners_with_measured_ratios():
    results = [_ok("jacobian", 0.030, 8_000_000, 1e-15), _ok("vjp", 0.001, 40_000, 2e-16),
               _ok("finite-diff", 0.010, 20_000, 3e-10)]
    recommendation = recommend([_entry(64, results).run], "size")
    assert (recommendation.fastest, recommendation.leanest, recommendation.most_accurate) == \
        ("vjp", "finite-diff", "vjp")
    assert recommendation.lines == (
        "at size=64, use vjp for speed (10x faster than finite-diff); finite-diff is leanest, "
        "needing 50% of vjp's memory at 10x its time",
        "vjp is also among the most accurate (rel. error 2.0e-16); finite-diff is the least (3.0e-10)",
    )


def test_recommendation_reports_where_the_fastest_strategy_changes_along_the_sweep():
    runs = [_entry(n, [_ok("jvp", 1e-5 * n ** 2, 100, 1e-16), _ok("vjp", 1e-3 * n, 100, 1e-16)]).run
            for n in (4, 16, 64, 256)]
    lines = recommend(runs, "size").lines
    assert lines[-1] == "fastest along the sweep: jvp at size=4..64, vjp at size=256"
    assert lines[0] == "at size=256, use vjp: fastest and leanest, 2.6x faster than jvp and needs 100% of jvp's memory"


def test_times_within_their_spread_are_as_fast_not_1x_faster():
    tie = [_ok("vjp", 1.00e-3, 100, 1e-16), _ok("jvp", 1.005e-3, 300, 1e-16)]  # IQRs 1% of the time
    assert recommend([_entry(8, tie).run]).lines[0] == \
        "at size=8, use vjp: fastest and leanest, as fast as jvp and needs 33% of jvp's memory"
    apart = [_ok("vjp", 1.00e-3, 100, 1e-16), _ok("jvp", 1.04e-3, 300, 1e-16)]
    assert "1.04x faster than jvp" in recommend([_entry(8, apart).run]).lines[0]


def test_recommendation_reads_the_largest_size_where_strategies_still_compete():
    runs = [_entry(16, [_ok("jvp", 0.004, 300, 1e-16), _ok("vjp", 0.001, 100, 1e-16)]).run,
            _entry(32, [_ok("jvp", 0.030, 900, 1e-16), _ok("vjp", 0.002, 300, 1e-16)]).run,
            _entry(64, [Result("jvp", "skipped", reason="over budget"), _ok("vjp", 0.004, 900, 1e-16)]).run]
    assert recommend(runs, "size").lines == (
        "at size=32, use vjp: fastest and leanest, 15x faster than jvp and needs 33% of jvp's memory",
        "all agree with the reference to a rel. error of 1e-16 or better",
        "from size=64 on, only vjp finished (the others over budget or failed)",
    )


FIXED = [
    _entry(8, [_ok("vjp", 2e-4, 2560, 2.8e-16), _ok("finite-diff", 1.4e-2, 2600, 3.7e-10),
               Result("jacobian", "skipped", reason="too big")]),
    _entry(16, [_ok("vjp", 3e-4, 10240, 3e-16), _ok("finite-diff", 2e-1, 9000, 2e-7),
                Result("jacobian", "failed", reason="RuntimeError: boom")]),
]

def test_gate_names_failed_rows_and_rows_over_tolerance():
    assert gate_failures(FIXED) == [
        "inv-norm size=16 finite-diff: rel. error 2.0e-07 over tolerance 1e-08",
        "inv-norm size=16 jacobian: failed (RuntimeError: boom)",
    ]


def test_expected_failures_pass_the_gate_only_while_they_fail():
    failing = Result("jacobian", "failed", reason="RuntimeError: boom")
    inaccurate = _ok("finite-diff", 1e-3, 100, rel_error=2e-7)
    entry = _entry(16, [failing, inaccurate, _ok("vjp", 1e-4, 100, 1e-16)],
                   expect_failure=("jacobian", "finite-diff", "vjp"))
    assert gate_failures([entry]) == ["inv-norm size=16 vjp: expected to fail, but passed"]


def test_baseline_comparison_flags_a_synthetic_regression(tmp_path):
    old = [entry.run for entry in _power_law_entries()]
    new = [entry.run for entry in _power_law_entries()]
    new[2].results[1].time_s *= 2  # vjp at size 64 got twice as slow
    new[3].results[0].peak_bytes *= 3  # jacobian at size 128 needs three times the memory
    comparisons, only_new, only_old = compare_runs(old, new)
    assert len(comparisons) == 8 and only_new == only_old == 0
    regressed = [(c.run.params["size"], c.new.strategy) for c in comparisons if c.regressed(1.5)]
    assert regressed == [(64, "vjp"), (128, "jacobian")]

    for name, runs in (("old.json", old), ("new.json", new)):
        (tmp_path / name).write_text(json.dumps({"runs": [run.to_json() for run in runs]}))
    arguments = ["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")]
    failed = CliRunner().invoke(main, [*arguments, "--fail-on-regression", "1.5"])
    assert failed.exit_code == 1
    assert "2 rows regressed beyond 1.5x: inv-norm size=64 vjp; inv-norm size=128 jacobian" in \
        " ".join(failed.output.split())
    assert CliRunner().invoke(main, [*arguments, "--fail-on-regression", "3.5"]).exit_code == 0


def test_plot_writes_a_non_empty_image(tmp_path):
    pytest.importorskip("matplotlib")
    from gradcmp.plot import save_plot

    for name in ("scaling.png", "scaling.svg"):
        save_plot(_power_law_entries(), str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = CliRunner().invoke(main, ["bench", "--problem", "inv-norm", "--plot", "out.png"])
    assert result.exit_code == 2 and "pip install 'gradcmp[plot]'" in result.output


def _bench(tmp_path, *arguments):
    output = tmp_path / "results.json"
    result = CliRunner().invoke(main, ["bench", *arguments, "--output", str(output), "--min-run-time", "0.002"])
    return result, output


def test_tiny_sweep_saves_every_row_with_its_configuration(tmp_path):
    result, output = _bench(tmp_path, "--problem", "inv-norm", "--problem", "sin-wy", "--sizes", "2,3,4",
                            "--strategy", "vjp", "--strategy", "finite-diff", "--threads", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert document["status"] == "complete" and document["gate"]["passed"]
    assert document["settings"]["threads"] == 1 and document["settings"]["min_run_time"] == 0.002
    assert document["machine"]["torch"] and document["gradcmp_version"]
    rows = [(run["problem"], run["params"]["size"], row["strategy"], row["status"])
            for run in document["runs"] for row in run["results"]]
    assert rows == [(problem, size, strategy, "ok") for problem in ("inv-norm", "sin-wy")
                    for size in (2, 3, 4) for strategy in ("vjp", "finite-diff")]
    assert {law["strategy"] for law in document["scaling"]} == {"vjp", "finite-diff"}
    assert len(document["recommendations"]) == 2
    assert json.loads(result.stdout) == json.loads(output.read_text())  # --format json: the same document
    _, runs = load_runs(str(output))
    assert len(runs) == 6


def test_a_sweep_is_analysed_once(tmp_path, monkeypatch):
    from gradcmp import sweep as sweep_module

    calls, analyse = [], sweep_module.analyse
    monkeypatch.setattr(sweep_module, "analyse", lambda entries: calls.append(len(entries)) or analyse(entries))
    result, output = _bench(tmp_path, "--problem", "inv-norm", "--sizes", "2,3,4", "-s", "vjp", "--threads", "1",
                            "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert calls == [3] and "scaling: vjp: time ~ size^" in result.output
    assert json.loads(output.read_text())["recommendations"][0]["fastest"] == "vjp"


def test_bench_against_a_baseline_fails_on_regression(tmp_path):
    baseline = Run("inv-norm", {"size": 2}, "float64", "cpu", 0, 1,
                   results=[_ok("vjp", 1e-12, 1, 1e-16)])  # impossibly fast and lean: any run regresses
    (tmp_path / "old.json").write_text(json.dumps(baseline.to_json()))
    result, output = _bench(tmp_path, "--problem", "inv-norm", "--sizes", "2", "--strategy", "vjp",
                            "--baseline", str(tmp_path / "old.json"), "--fail-on-regression", "2")
    assert result.exit_code == 1
    assert "1 rows regressed beyond 2x: inv-norm size=2 vjp" in " ".join(result.output.split())
    assert json.loads(output.read_text())["baseline"]["regressions"] == ["inv-norm size=2 vjp"]


def test_row_over_its_tolerance_fails_the_gate(tmp_path):
    preset = tmp_path / "strict.toml"
    preset.write_text('[[case]]\nproblem = "inv-norm"\nsizes = [2]\nstrategies = ["finite-diff", "vjp"]\n'
                      "tolerance = 1e-13\n")
    result, output = _bench(tmp_path, "--preset", str(preset))
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "gate FAILED on 1 rows: inv-norm size=2 finite-diff: rel. error" in message
    assert "over tolerance 1e-13" in message
    assert json.loads(output.read_text())["gate"]["passed"] is False


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_sweep_leaves_valid_json_with_the_finished_rows(tmp_path, signum, status):
    output = tmp_path / "results.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gradcmp", "bench", "--problem", "sin-wy", "--strategy", "vjp",
         "--sizes", ",".join(str(n) for n in range(2, 400)), "--min-run-time", "0.05", "--output", str(output)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if output.exists() and any(run["results"] for run in json.loads(output.read_text())["runs"]):
                break
            time.sleep(0.05)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == status, stderr
    document = json.loads(output.read_text())
    assert document["status"] == "interrupted"
    finished = [row for run in document["runs"] for row in run["results"]]
    assert 1 <= len(finished) < 398 and all(row["status"] == "ok" for row in finished)
    assert f"the finished rows are in {output}" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.slow  # ~40 s: CI runs it (`pytest -m slow`)
def test_smoke_preset_passes(tmp_path):
    """What CI runs: every problem x every applicable strategy within tolerance, and the backsolve
    adjoint on the stiff problem caught (failed, or over tolerance), never passed off as right."""
    output = tmp_path / "smoke.json"
    result = CliRunner().invoke(main, ["bench", "--preset", "smoke", "--output", str(output)])
    assert result.exit_code == 0, result.output
    runs = json.loads(output.read_text())["runs"]
    assert {run["problem"] for run in runs} == set(PROBLEMS)
    for run in runs:
        for row in run["results"]:
            strategy = configured(row["strategy"])
            if strategy.applies_to(PROBLEMS[run["problem"]]) or strategy.unavailable() or row.get("not_applicable"):
                assert row["status"] == "skipped", row
            elif row["strategy"] in run["expect_failure"]:
                assert row["status"] == "failed" or row["rel_error"] > run["tolerance"], row
            else:
                assert row["status"] == "ok" and row["rel_error"] <= run["tolerance"], row
    stiff = next(run for run in runs if run["problem"] == "stiff-linear")
    adjoint = next(row for row in stiff["results"] if row["strategy"] == "adjoint")
    assert adjoint["status"] == "failed" and "backsolve lost x" in adjoint["reason"]


def test_show_prints_a_saved_sweep_exactly_as_the_live_bench_did(tmp_path):
    """Renderers take records: `gradcmp show FILE` of a finished bench prints the live run's text, tables, front,
    verdict and all, and exits as it did."""
    output, baseline = tmp_path / "out.json", tmp_path / "old.json"
    common = ["-p", "neural-ode", "-s", "backprop", "-s", "checkpoint(checkpoints=2,4)", "--param", "steps=8",
              "--param", "batch=2", "--threads", "1", "--min-run-time", "0.005"]
    assert CliRunner().invoke(main, ["bench", *common, "-o", str(baseline)]).exit_code == 0
    live = CliRunner().invoke(main, ["bench", *common, "-o", str(output), "--baseline", str(baseline), "--front"])
    assert live.exit_code == 0, live.output
    shown = CliRunner().invoke(main, ["show", str(output), "--front"])
    assert shown.exit_code == live.exit_code
    assert shown.output == live.output
    assert "checkpoint(checkpoints=4)" in shown.output and "against the baseline" in shown.output
    for output_format in ("csv", "markdown", "json"):
        again = CliRunner().invoke(main, ["show", str(output), "--format", output_format])
        assert again.exit_code == 0
        assert again.stdout.rstrip("\n") == export(Sweep.load(str(output)), output_format).rstrip("\n")


def test_an_earlier_versions_results_file_reads_in_todays_spelling(tmp_path):
    """Old names and the params that are now options are translated on load, with one note, so the rows
    compare with today's instead of counting as 'only in the baseline'."""
    import warnings

    from gradcmp.strategies.spelling import SpellingNote

    new = tmp_path / "new.json"
    result = CliRunner().invoke(main, ["bench", "-p", "linear-ode", "-s", "checkpoint(checkpoints=4)",
                                       "--param", "steps=8", "--param", "n=2", "--threads", "1", "--min-run-time",
                                       "0.005", "-o", str(new)])
    assert result.exit_code == 0, result.output
    document = json.loads(new.read_text())
    document["runs"][0]["params"].update(checkpoints=4, schedule="uniform", adjoint_rtol=0.0, seminorm=False)
    document["runs"][0]["results"][0]["strategy"] = "checkpoint"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _, runs = load_runs(str(old))
    assert runs[0].results[0].strategy == "checkpoint(checkpoints=4)" and "checkpoints" not in runs[0].params
    assert [str(w.message) for w in seen if w.category is SpellingNote] == [
        f"{old} was written by an earlier gradcmp; its rows read as today's spelling: "
        "checkpoint -> checkpoint(checkpoints=4)"]
    compared = CliRunner().invoke(main, ["compare", str(old), str(new), "--fail-on-regression", "1000"])
    assert compared.exit_code == 0 and "1 rows compared" in compared.output, compared.output


def test_show_keeps_the_saved_verdict_when_the_baseline_file_is_gone(tmp_path):
    cases = [{"problem": "inv-norm", "sizes": [3], "strategies": ["vjp"]}]
    baseline, output = tmp_path / "old.json", tmp_path / "new.json"
    gradcmp.bench(cases, output=baseline, threads=1, min_run_time=0.005)
    document = json.loads(baseline.read_text())
    document["runs"][0]["results"][0]["time_s"] /= 1e6
    baseline.write_text(json.dumps(document))
    assert gradcmp.bench(cases, output=output, baseline=baseline, fail_on_regression=1000.0, threads=1,
                         min_run_time=0.005).failed
    baseline.unlink()
    shown = CliRunner().invoke(main, ["show", str(output)])
    assert shown.exit_code == 1
    assert f"baseline {baseline} is gone, so its comparison is not shown; as saved, 1 rows regressed" in \
        " ".join(shown.output.split())
