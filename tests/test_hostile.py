"""Hostile input: everything a user can type or a file can hold ends in one clear line and the documented
exit status (0 ok, 1 failed or gate failed, 2 bad input, 130 SIGINT, 143 SIGTERM, 129 SIGHUP), never a traceback,
a hang or a lost row. Usage errors go through click's runner; signals and concurrent writers through
real processes."""
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcmp import interrupt
from gradcmp.analysis import scaling_laws
from gradcmp.cli import main
from gradcmp.records import Result, Run, dumps
from gradcmp.storage import default_output, load_runs

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--min-run-time", "0.002", "--threads", "1"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(arg) for arg in args], **kwargs)


def message(output: str) -> str:
    """The message's first line: click's `Error: ...` line for usage errors, else the first line."""
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    return errors[0] if errors else lines[0]


def assert_refused(result, text, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (ValueError, OSError))
    assert text in message(result.output), result.output


# ---- run: names, numbers at the edge, conflicting flags --------------------------------------------------

RUN_USAGE = [
    (["-p", "inv-nrom"], "unknown problem 'inv-nrom' (did you mean inv-norm?)"),
    (["-p", "nope"], "unknown problem 'nope'; choose from: inv-norm"),
    (["-p", "inv-norm", "-s", "vjpp"], "unknown strategy 'vjpp' (did you mean vjp?)"),
    (["-p", "inv-norm", "-s", "jacobain"], "unknown strategy 'jacobain' (did you mean jacobian?)"),
    (["-p", "linear-ode", "--param", "stepz=3"], "unknown param 'stepz' for problem linear-ode (did you mean steps?)"),
    (["-p", "stiff-linear", "--param", "T=inf"], "T must be a finite number"),
    (["-p", "stiff-linear", "--param", "T=1e400"], "T must be a finite number"),
    (["-p", "stiff-linear", "--param", "T=nan"], "T must be a finite number"),
    (["-p", "stiff-linear", "--param", "T=-inf"], "T must be a finite number"),
    (["-p", "linear-ode", "--param", "steps=99999999999999999999999"], "steps must be a finite number"),
    (["-p", "inv-norm", "--seed", "1180591620717411303424"], "--seed must be an integer from 0 to 2^63-1"),
    (["-p", "inv-norm", "--seed", "-9223372036854775809"], "--seed must be an integer from 0 to 2^63-1"),
    (["-p", "inv-norm", "--seed", "-1"], "--seed must be an integer from 0 to 2^63-1"),
    (["-p", "inv-norm", "--max-memory", "1e400"], "a memory budget must be between 1 byte and 8 EiB"),
    (["-p", "inv-norm", "--max-memory", "0"], "a memory budget must be between 1 byte and 8 EiB"),
    (["-p", "inv-norm", "--max-memory", "-5GB"], "expected a size such as 512MiB"),
    (["-p", "inv-norm", "--min-run-time", "1e9"], "--min-run-time must be a positive number of seconds, at most 60"),
    (["-p", "inv-norm", "--min-run-time", "inf"], "--min-run-time must be a positive number of seconds, at most 60"),
    (["-p", "inv-norm", "--min-run-time", "nan"], "--min-run-time must be a positive number of seconds, at most 60"),
    (["-p", "inv-norm", "--min-run-time", "0"], "--min-run-time must be a positive number of seconds, at most 60"),
    (["-p", "inv-norm", "--max-time", "inf"], "--max-time must be a positive number of seconds"),
    (["-p", "inv-norm", "--max-time", "-1"], "--max-time must be a positive number of seconds"),
    (["-p", "inv-norm", "--threads", "0"], "--threads must be a positive integer of at most 4096"),
    (["-p", "inv-norm", "--threads", "100000"], "--threads must be a positive integer of at most 4096"),
    (["-p", "inv-norm", "--size", "0"], "must be a positive integer, got 0"),
    (["-p", "inv-norm", "--size", "1180591620717411303424"], "must be at most 2^63-1"),
    (["-p", "inv-norm", "--param", "size=8", "-n", "16"], "--size and --param size= both set size; give one"),
    (["-p", "inv-norm", "--param", "size=two"], "size must be an integer, got 'two'"),
    (["-p", "inv-norm", "--dtype", "float16"], "'float16' is not one of 'float32', 'float64'"),
]


@pytest.mark.parametrize("args, text", RUN_USAGE, ids=[" ".join(args) for args, _ in RUN_USAGE])
def test_run_refuses_bad_input_with_one_line(args, text):
    assert_refused(invoke("run", *FAST, *args), text)  # the last of a repeated flag counts


def test_a_repeated_strategy_is_measured_once():
    result = invoke("run", "-p", "inv-norm", "-n", "3", "-s", "vjp", "-s", "vjp", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    assert [row["strategy"] for row in json.loads(result.output)["results"]] == ["vjp"]


# ---- bench: flags and presets share the checks ----------------------------------------------------------

BENCH_USAGE = [
    (["--preset", "smok"], "unknown preset 'smok' (did you mean smoke?)"),
    (["-p", "inv-norm", "-s", "vjpp"], "unknown strategy 'vjpp' (did you mean vjp?)"),
    (["-p", "inv-nrom"], "unknown problem 'inv-nrom' (did you mean inv-norm?)"),
    (["-p", "inv-norm", "--sizes", "16", "--param", "size=8"], "--sizes and --param size= both set size"),
    (["-p", "inv-norm", "--baseline", "x.json", "--fail-on-regression", "-1"], "must be a ratio above 0"),
    (["-p", "inv-norm", "--fail-on-regression", "1.5"], "give --baseline OLD.json too"),
    (["-p", "inv-norm", "--min-run-time", "1e9"], "--min-run-time must be a positive number of seconds, at most 60"),
    (["-p", "inv-norm", "--max-memory", "1e400"], "a memory budget must be between 1 byte and 8 EiB"),
    (["-p", "stiff-linear", "--param", "T=1e400"], "T must be a finite number"),
    (["-p", "inv-norm", "--sizes", "4,,8"], "expected comma-separated values"),
]


@pytest.mark.parametrize("args, text", BENCH_USAGE, ids=[" ".join(args) for args, _ in BENCH_USAGE])
def test_bench_refuses_bad_input_before_any_work(tmp_path, args, text):
    output = tmp_path / "out.json"
    assert_refused(invoke("bench", *FAST, *args, "-o", output), text)
    assert not output.exists()


CASE = '[[case]]\nproblem = "inv-norm"\nsizes = [2]\n'
PRESETS = [
    ("min_run_time = nan\n" + CASE, "min_run_time must be a positive number of seconds, at most 60, got nan"),
    ("min_run_time = 1e9\n" + CASE, "min_run_time must be a positive number of seconds, at most 60"),
    ("min_run_time = inf\n" + CASE, "min_run_time must be a positive number of seconds, at most 60"),
    ("max_time = inf\n" + CASE, "max_time must be a positive number of seconds"),
    ("max_memory = 1e400\n" + CASE, "max_memory must be between 1 byte and 8 EiB, got inf"),
    ('max_memory = "1e400"\n' + CASE, "a memory budget must be between 1 byte and 8 EiB"),
    ("seed = -1\n" + CASE, "seed must be an integer from 0 to 2^63-1"),
    ("threads = 5000\n" + CASE, "threads must be a positive integer of at most 4096"),
    ('[[case]]\nproblem = "stiff-linear"\nparams = { T = inf }\n', "T must be a finite number"),
    ('[[case]]\nproblem = "stiff-linear"\nparams = { T = nan }\n', "T must be a finite number"),
    ('[[case]]\nproblem = "stiff-linear"\nparams = { T = 1e400 }\n', "T must be a finite number"),
    (CASE + "tolerance = inf\n", "tolerance must be positive"),
    ('[[case]]\nproblem = "inv-norm"\nstrategies = ["vjpp"]\n', "unknown strategy 'vjpp' (did you mean vjp?)"),
    ('[[case]]\nproblem = "linear-ode"\nparams = { stepz = 3 }\n', "(did you mean steps?)"),
]


@pytest.mark.parametrize("text, expected", PRESETS, ids=[f"preset{i}" for i in range(len(PRESETS))])
def test_preset_numbers_and_names_are_checked_like_flags(tmp_path, text, expected):
    preset = tmp_path / "mine.toml"
    preset.write_text(text)
    assert_refused(invoke("bench", "--preset", preset, "-o", tmp_path / "out.json"), expected)


def test_a_preset_that_is_not_utf8_is_refused(tmp_path):
    preset = tmp_path / "latin.toml"
    preset.write_bytes('description = "caf\xe9"\n'.encode("latin-1") + CASE.encode())
    assert_refused(invoke("bench", "--preset", preset), "not UTF-8 text")


# ---- outputs: never clobbered, checked before any work --------------------------------------------------

def _results_file(path, problem="inv-norm", status="ok", machine=None):
    run = Run(problem, {"size": 2}, "float64", "cpu", 0, 1, machine=machine or {},
              results=[Result("vjp", status, time_s=1e-4, peak_bytes=100, rel_error=1e-16,
                              reason="RuntimeError: boom" if status == "failed" else None)])
    path.write_text(dumps(run.to_json()))
    return path


def test_output_refuses_to_overwrite_the_baseline(tmp_path):
    base = _results_file(tmp_path / "base.json")
    before = base.read_text()
    result = invoke("bench", "-p", "inv-norm", "--baseline", base, "-o", base, *FAST)
    assert_refused(result, f"--output {base} is the baseline")
    assert base.read_text() == before


def test_output_refuses_to_overwrite_the_preset(tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text(CASE)
    assert_refused(invoke("bench", "--preset", preset, "-o", preset), f"--output {preset} is the preset")
    assert preset.read_text() == CASE


def test_output_refuses_a_file_that_is_not_a_results_file(tmp_path):
    notes = tmp_path / "notes.json"
    notes.write_text("my notes")
    assert_refused(invoke("bench", "-p", "inv-norm", "-o", notes), "is not a gradcmp results file; refusing")
    assert notes.read_text() == "my notes"


@pytest.mark.parametrize("flag, name, text", [
    ("-o", "missing/out.json", "does not exist"),
    ("-o", ".", "is a directory"),
    ("--plot", "missing/plot.png", "does not exist"),
])
def test_output_and_plot_paths_are_checked_before_any_work(tmp_path, flag, name, text):
    arguments = [flag, tmp_path / name] + (["-o", tmp_path / "out.json"] if flag == "--plot" else [])
    assert_refused(invoke("bench", "-p", "inv-norm", *arguments), text)
    assert not (tmp_path / "out.json").exists()


def test_default_names_never_collide():
    names = {default_output("smoke") for _ in range(50)}
    assert len(names) == 50 and all(f"-{os.getpid()}.json" in name for name in names)


def test_results_file_is_0644_with_no_temporary_left(tmp_path):
    output = tmp_path / "out.json"
    result = invoke("bench", "-p", "inv-norm", "--sizes", "2", "-s", "vjp", "-o", output, *FAST)
    assert result.exit_code == 0, result.output
    assert output.stat().st_mode & 0o777 == 0o644
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.json"]  # no .tmp, no .lock


def test_a_write_failing_mid_sweep_keeps_the_rows_in_a_fallback_file(tmp_path, monkeypatch):
    import gradcmp.sweep
    from gradcmp.storage import write_json_atomic

    output = tmp_path / "out.json"
    writes = []

    def flaky(path, document):
        writes.append(path)
        if path == str(output) and len(writes) > 2:
            raise OSError(28, "No space left on device")
        write_json_atomic(path, document)

    monkeypatch.setattr(gradcmp.sweep, "write_json_atomic", flaky)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    result = invoke("bench", "-p", "inv-norm", "--sizes", "2,3", "-s", "vjp", "-o", output, *FAST)
    assert result.exit_code == 0, result.output
    [fallback] = (tmp_path / "tmp").glob("results-command-line-*.json")
    assert (f"cannot write {output} (No space left on device); the rows went to {fallback}"
            in " ".join(result.output.split()))
    document = json.loads(fallback.read_text())
    assert document["status"] == "complete" and len(document["runs"]) == 2
    assert "Traceback" not in result.output


# ---- the results loader: any shape a file can hold ------------------------------------------------------

ROW = '{"strategy": "vjp", "status": "ok", "time_s": %s}'
RUN = '{"problem": "inv-norm", "params": %s, "dtype": "float64", "device": "cpu", "seed": 0, "threads": 1, ' \
      '"results": [%s]}'
BAD_FILES = [
    ("[1, 2]", "the file must be an object, got [1, 2]"),
    ('"x"', 'the file must be an object, got "x"'),
    ('{"runs": "abc"}', 'runs must be a list, got "abc"'),
    ('{"runs": [5]}', "runs[0] must be an object, got 5"),
    (RUN % ('{"size": 2}', ROW % '"fast"'), 'run.results[0].time_s must be a number or null, got "fast"'),
    (RUN % ('{"size": [2]}', ROW % "1"), "run.params.size must be a string or a number or true or false"),
    ('{"machine": "weird", "runs": []}', 'machine must be an object or null, got "weird"'),
    (RUN % ('{"size": 2}', '{"strategy": "vjp", "status": "great"}'), "run.results[0].status must be one of ok, skipped, failed"),
    (RUN % ('{"size": 2}', ROW % "NaN"), "not JSON (NaN is not strict JSON)"),
    ('{"problem": "inv-norm"}', "run has no 'params'"),
    ("not json at all", "not JSON"),
    ("[" * 100000, "not JSON"),
]


@pytest.mark.parametrize("text, expected", BAD_FILES, ids=[f"file{i}" for i in range(len(BAD_FILES))])
def test_compare_refuses_any_malformed_results_file(tmp_path, text, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    good = _results_file(tmp_path / "good.json")
    assert_refused(invoke("compare", good, bad), f"{bad} is not a gradcmp results file: {expected}")
    assert_refused(invoke("bench", "-p", "inv-norm", "--baseline", bad, "-o", tmp_path / "o.json"), expected)


def test_compare_of_a_missing_file_is_bad_input(tmp_path):
    assert_refused(invoke("compare", tmp_path / "no.json", tmp_path / "no.json"), "cannot read results file")


# ---- no vacuous gate -----------------------------------------------------------------------------------

def test_a_gate_where_every_new_row_failed_fails(tmp_path):
    base, new = _results_file(tmp_path / "base.json"), _results_file(tmp_path / "new.json", status="failed")
    result = invoke("compare", base, new, "--fail-on-regression", "1.5")
    assert_refused(result, "nothing compared: no row was measured (status ok) in both files; 1 new rows failed", 1)


def test_comparing_different_problems_says_so_first_and_fails(tmp_path):
    base, new = _results_file(tmp_path / "base.json"), _results_file(tmp_path / "new.json", problem="sin-wy")
    result = invoke("compare", base, new)
    assert_refused(result, "the baseline measured inv-norm, this run sin-wy", 1)


def test_comparing_across_machines_says_so_first(tmp_path):
    base = _results_file(tmp_path / "base.json", machine={"cpu": "old chip", "torch": "2.13.0"})
    new = _results_file(tmp_path / "new.json", machine={"cpu": "new chip", "torch": "2.13.0"})
    result = invoke("compare", base, new, "--fail-on-regression", "1.5")
    assert_refused(result, "the baseline ran elsewhere (cpu old chip -> new chip)", 0)


# ---- strict JSON, tables that stay readable ------------------------------------------------------------

def test_non_finite_numbers_become_null_with_a_reason():
    run = Run("inv-norm", {"size": 2}, "float64", "cpu", 0, 1, info={"growth": float("inf")},
              results=[Result("vjp", "ok", time_s=1e-4, rel_error=float("inf"), max_abs_error=float("nan"))])
    text = dumps(run.to_json())
    row = json.loads(text)["results"][0]
    assert "Infinity" not in text and "NaN" not in text
    assert row["rel_error"] is None and row["non_finite"] == ["rel_error", "max_abs_error"]


def test_a_non_numeric_sweep_is_tabulated_without_a_fit(tmp_path):
    output = tmp_path / "out.json"
    result = invoke("bench", "-p", "linear-ode", "--param", "method=euler,midpoint", "--param", "steps=4",
                    "--param", "n=2", "-s", "vjp", "-o", output, *FAST)
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert document["status"] == "complete" and document["scaling"] == [] and len(document["runs"]) == 2


def test_stiff_linear_growth_beyond_a_float_is_stated_not_crashed():
    result = invoke("run", "-p", "stiff-linear", "--param", "T=20", "--param", "steps=10", "--param", "n=2",
                    "-s", "vjp", "--format", "json", *FAST)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output
    assert json.loads(result.output)["info"]["backward growth"] == "1.97e+434"


def test_a_narrow_terminal_gets_one_block_per_row():
    result = invoke("run", "-p", "inv-norm", "-n", "3", "-s", "vjp", *FAST, env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert "  status: ok" in result.output.splitlines()
    assert all(len(line) <= 40 for line in result.output.splitlines())


def test_a_narrow_terminal_gets_one_block_per_compared_row(tmp_path):
    base, new = _results_file(tmp_path / "base.json"), _results_file(tmp_path / "new.json")
    result = invoke("compare", base, new, "--fail-on-regression", "1.5", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert "inv-norm size=2 vjp" in result.output.splitlines() and "  time ratio: 1.00x" in result.output


def test_threads_hold_numpy_pools_too():
    from threadpoolctl import threadpool_info

    from gradcmp.config import thread_limits

    with thread_limits(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())


# ---- real processes: encodings, closed or full stdout, signals, two writers ---------------------------

def _gradcmp(*args, env=None, cwd=ROOT, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "gradcmp", *map(str, args)], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, text=True, **kwargs)


def _finished(*args, **kwargs):
    """(exit status, stdout, stderr) of `python -m gradcmp ARGS` run to its end."""
    process = _gradcmp(*args, stdout=kwargs.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE, **kwargs)
    out, err = process.communicate(timeout=300)
    return process.returncode, out or "", err


def assert_ended(done, status, text=None):
    """A real process ended with `status`, no traceback, and (given `text`) its message on stderr saying it
    in the first line (click's `Error: ...` line for bad input)."""
    code, out, err = done
    assert code == status, (code, out, err)
    assert "Traceback" not in out + err, err
    if text is not None:
        assert text in message(err), err


def test_ascii_stdout_gets_an_ascii_table():
    process = _gradcmp("run", "-p", "inv-norm", "-n", "3", "-s", "vjp", *FAST, env={"PYTHONIOENCODING": "ascii"},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "time (median +- IQR)" in out and "Traceback" not in err


def test_output_to_a_full_device_is_one_line():
    with open("/dev/full", "w") as full:
        process = _gradcmp("run", "-p", "inv-norm", "-n", "3", "-s", "vjp", "--format", "json", *FAST,
                           stdout=full, stderr=subprocess.PIPE)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and err.splitlines() == ["cannot write the output: No space left on device"]


def test_a_closed_pipe_ends_quietly():
    process = _gradcmp("list", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader went away (`| head` that has read enough)
    err = process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode == 1 and err == ""


def _wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _torch_loaded(process) -> bool:
    try:
        return "libtorch_cpu" in Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return False


def _handles_sigterm(process) -> bool:
    """gradcmp's handlers are in place: the kernel lists SIGTERM as caught (Python's own start-up catches
    SIGINT only), so a signal sent now meets gradcmp's handler, not the default action."""
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(caught >> (signal.SIGTERM - 1) & 1)


SIGNAL_CASES = [
    ("bench", signal.SIGINT, "start", 130), ("bench", signal.SIGTERM, "start", 143),
    ("bench", signal.SIGINT, "sweep", 130), ("bench", signal.SIGTERM, "sweep", 143),
    ("bench", (signal.SIGINT, signal.SIGTERM), "sweep", 130),
    ("run", signal.SIGINT, "sweep", 130), ("run", signal.SIGTERM, "sweep", 143),
    # a closed terminal: the default action killed bench, its file left `running` and its lock behind
    ("bench", signal.SIGHUP, "start", 129), ("bench", signal.SIGHUP, "sweep", 129),
    ("run", signal.SIGHUP, "sweep", 129),
]


@pytest.mark.parametrize("command, signum, when, status", SIGNAL_CASES,
                         ids=[f"{c}-{'-then-'.join(signal.Signals(n).name for n in (s if isinstance(s, tuple) else (s,)))}"
                              f"-{w}" for c, s, w, _ in SIGNAL_CASES])
def test_a_signal_at_any_moment_leaves_no_file_or_an_interrupted_one(tmp_path, command, signum, when, status):
    output = tmp_path / "out.json"
    arguments = (["bench", "-p", "inv-norm", "--sizes", "2,3,4,5,6,7,8", "-o", output] if command == "bench"
                 else ["run", "-p", "inv-norm", "-n", "8"])
    process = _gradcmp(*arguments, "--min-run-time", "0.5", "--threads", "1", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if when == "start":  # as early as gradcmp can answer: a fixed sleep raced the start-up of a loaded machine
        _wait_for(lambda: _handles_sigterm(process))
    elif command == "bench":
        _wait_for(output.exists)
    else:
        _wait_for(lambda: _torch_loaded(process))
        time.sleep(0.5)
    for each in signum if isinstance(signum, tuple) else (signum,):
        process.send_signal(each)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, (process.returncode, err)
    assert err.splitlines()[0].startswith("interrupted by SIG") and "Traceback" not in err
    if output.exists():
        document, _ = load_runs(str(output))
        assert document["status"] == "interrupted"
    assert [path.name for path in tmp_path.iterdir()] in ([], ["out.json"])  # no temporary, no lock left


def test_a_signal_during_an_import_is_raised_once_the_import_is_done(monkeypatch):
    """Raised inside torch's import (C++ running Python) the exception aborted the process (SIGABRT, exit
    -6, seen once in 60 signals at random moments); now it waits for the import to finish."""
    half_imported = types.ModuleType("half_imported")
    half_imported.__spec__ = types.SimpleNamespace(_initializing=True)
    monkeypatch.setitem(sys.modules, "half_imported", half_imported)
    monkeypatch.setattr(interrupt, "pending", None)
    previous = interrupt.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs now: kept, not raised
        assert interrupt.pending is not None and interrupt.pending.name == "SIGTERM"
        time.sleep(0.2)  # still importing: the 50 ms retries keep it
        half_imported.__spec__._initializing = False
        with pytest.raises(interrupt.Interrupted) as raised:
            time.sleep(5)
        assert raised.value.status == 143
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        interrupt.restore(previous)


def test_a_second_writer_of_the_same_file_is_refused_naming_the_first(tmp_path):
    output = tmp_path / "shared.json"
    first = _gradcmp("bench", "-p", "inv-norm", "--sizes", "2,3,4,5,6,7,8", "-o", output, "--min-run-time", "0.5",
                     "--threads", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(output.exists)
        second = invoke("bench", "-p", "inv-norm", "--sizes", "2", "-o", output, *FAST)
        assert_refused(second, f"--output {output} is being written by another gradcmp run (pid {first.pid})")
    finally:
        first.terminate()
        first.communicate(timeout=120)
    assert first.returncode == 143 and load_runs(str(output))[0]["status"] == "interrupted"


# ---- budgets and build guards -----------------------------------------------------------------------

@pytest.mark.parametrize("args, status, text", [
    (["-p", "inv-norm", "-n", "60000"], 0, "building the problem would need about 268.2 GiB"),
    (["-p", "sin-wy", "-n", "100000000"], 0, "building the problem would need about"),
    (["-p", "neural-ode", "--param", "hidden=1000000000"], 0, "building the problem would need about"),
    (["-p", "neural-ode", "--param", "steps=1000000", "-s", "backprop"], 0, "skipped"),
    (["-p", "lotka-volterra", "--param", "T=1e6", "-s", "vjp"], 1, "reference: not computed"),
    (["-p", "inv-norm", "--max-memory", "1"], 0, "skipped"),
])
def test_measure_budgets_and_guards(args, status, text):
    result = invoke("run", *args, *FAST)
    assert result.exit_code == status and text in result.output and "Traceback" not in result.output


def test_a_case_over_the_budget_is_skipped_and_the_sweep_goes_on(tmp_path):
    output = tmp_path / "out.json"
    result = invoke("bench", "-p", "inv-norm", "--sizes", "100000,2", "-s", "vjp", "-o", output, *FAST)
    assert result.exit_code == 0 and "Traceback" not in result.output
    statuses = [run["results"][0]["status"] for run in json.loads(output.read_text())["runs"]]
    assert statuses == ["skipped", "ok"]


# ---- growth laws of degenerate sweeps: values at or below 0, a value repeated -----------------------------

def _bench_file(tmp_path, *args):
    output = tmp_path / "out.json"
    done = _finished("bench", *args, "-o", output, "--min-run-time", "0.002", "--threads", "1")
    return done, (json.loads(output.read_text()) if output.exists() else None)


@pytest.mark.parametrize("args, line", [
    (["-p", "sin-wy", "--sizes", "4", "--param", "m=0,2,4", "-s", "vjp"],
     "vjp: no growth law: m=0 left out (a log-log fit needs values above 0), leaving 2 values, fewer than the 3"),
    (["-p", "sin-wy", "--sizes", "4", "--param", "m=0,2,3,4", "-s", "vjp"], "[fit on m=2..4; m=0 left out"),
    (["-p", "inv-norm", "--sizes", "2,3,4,4,4,4", "-s", "vjp"], "[fit on size=2..4]"),  # was a division by 0
], ids=["sin-wy-m0", "fewer-points", "repeated-size"])
def test_a_sweep_a_growth_law_cannot_fit_says_so(tmp_path, args, line):
    done, document = _bench_file(tmp_path, *args)
    assert_ended(done, 0)
    assert any(line in text for text in done[1].splitlines()), done[1]
    assert document["status"] == "complete" and len(document["scaling"]) == 1


def test_a_growth_law_skips_missing_and_non_positive_figures():
    def row(time_s, peak):
        return Result("vjp", "ok", time_s=time_s, primal_time_s=1e-5, peak_bytes=peak)

    runs = [Run("inv-norm", {"size": size}, "float64", "cpu", 0, 1, results=[row(time_s, peak)])
            for size, time_s, peak in ((-2, 1e-4, 10), (2, 1e-4, 0), (4, None, 10), (8, 4e-4, 40), (16, 8e-4, 80),
                                       (32, 1.6e-3, None))]
    [law] = scaling_laws("inv-norm", "size", runs)  # no time at 4, a size below 0, a peak missing at 32
    assert law.sizes == (8, 16, 32) and law.left_out == (-2,) and law.memory_exponent is None
    assert 0.5 < law.time_exponent < 1.5 and "size=-2 left out" in law.describe()


# ---- inputs that are no regular file, or too large to be what they claim ----------------------------------

def _special_inputs(tmp_path):
    """{name: path} of inputs that are no results file or preset: a device, a pipe, a directory, a huge file."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    with open(tmp_path / "huge.json", "wb") as huge:
        huge.truncate(int(3.5 * 2**30))  # sparse: no disk used
    return {"zero": "/dev/zero", "fifo": tmp_path / "fifo", "folder": tmp_path / "folder",
            "huge": tmp_path / "huge.json"}


@pytest.mark.parametrize("name, text", [
    ("zero", "/dev/zero is a character device, not a results file"),
    ("fifo", "fifo is a pipe, not a results file"),  # opening it for reading used to wait for a writer
    ("folder", "folder is a directory, not a results file"),
    ("huge", "huge.json is 3.5 GiB, over the 64.0 MiB a results file may be"),  # read until MemoryError
])
def test_compare_and_baseline_read_only_regular_files_of_sane_size(tmp_path, name, text):
    bad = _special_inputs(tmp_path)[name]
    base = _results_file(tmp_path / "base.json")
    assert_ended(_finished("compare", base, bad), 2, text)
    assert_ended(_finished("bench", "-p", "inv-norm", "--baseline", bad, "-o", tmp_path / "o.json"), 2, text)
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("name, text", [
    ("/dev/null", "/dev/null is a character device, not a preset file"),  # was "does not exist"
    ("folder/", "folder is a directory, not a preset file"),
    ("./folder", "folder is a directory, not a preset file"),
    ("/dev/stdin", "/dev/stdin is a pipe, not a preset file"),
    ("huge.toml", "huge.toml is 2.0 MiB, over the 1.0 MiB a preset file may be"),
    ("a" * 300, "unknown preset 'aaaa"),  # was a File name too long traceback
])
def test_a_preset_is_read_only_from_a_regular_file_of_sane_size(tmp_path, name, text):
    (tmp_path / "folder").mkdir()
    (tmp_path / "huge.toml").write_text("# padding\n" * 209716)
    done = _finished("bench", "--preset", name, "-o", "out.json", cwd=tmp_path, stdin=subprocess.PIPE)
    assert_ended(done, 2, text)
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("suffix", [".TOML", ".Toml"])
def test_a_preset_suffix_is_read_in_any_case(tmp_path, suffix):
    preset = tmp_path / f"mine{suffix}"
    preset.write_text("min_run_time = nan\n" + CASE)  # read as a file: its own mistake is reported, by name
    assert_ended(_finished("bench", "--preset", preset, "-o", tmp_path / "out.json"), 2,
                 f"{preset}: min_run_time must be a positive number of seconds")


# ---- output paths: a name the file system takes, a regular file or a new one, checked before any work -----

def _quick_bench(*args, **kwargs):
    return _finished("bench", "-p", "inv-norm", "--sizes", "2", "-s", "vjp", "--min-run-time", "0.002",
                     "--threads", "1", *args, **kwargs)


@pytest.mark.parametrize("name, text", [
    ("a" * 300 + ".json", "the name is 305 bytes, over the 255 a file name may have there"),
    ("newname/", "--output 'newname/' names no file; give a file name"),  # was accepted, rows sent elsewhere
    ("", "--output '' names no file; give a file name"),  # was taken for no -o at all
    ("/dev/full", "--output /dev/full is a character device; give the name of a regular file"),
    ("fifo", "--output fifo is a pipe; give the name of a regular file"),
    ("file.json/out.json", "is not a directory"),
])
def test_an_output_path_is_checked_before_any_work(tmp_path, name, text):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file.json").write_text("notes")
    before = sorted(tmp_path.iterdir())
    assert_ended(_quick_bench("-o", name, cwd=tmp_path), 2, text)
    assert sorted(tmp_path.iterdir()) == before


def test_an_output_that_is_a_pipe_is_refused_not_waited_on(tmp_path):
    """`-o >(cat > f.json)`: the shell passes /dev/fd/N of a pipe, which gradcmp used to open and block on."""
    read_end, write_end = os.pipe()
    try:
        done = _quick_bench("-o", f"/dev/fd/{write_end}", pass_fds=(write_end,))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert_ended(done, 2, f"--output /dev/fd/{write_end} is a pipe; give the name of a regular file")


def test_an_output_name_whose_lock_sidecar_would_be_too_long_still_works(tmp_path):
    name = "a" * 250 + ".json"  # 255 bytes: `.NAME.lock` would be 261, an ENAMETOOLONG traceback
    assert_ended(_quick_bench("-o", name, cwd=tmp_path), 0)
    assert [path.name for path in tmp_path.iterdir()] == [name]  # no lock left behind
    assert load_runs(str(tmp_path / name))[0]["status"] == "complete"
    from gradcmp.paths import lock_path

    assert len(os.path.basename(lock_path(str(tmp_path / name)))) <= 255
    assert lock_path(str(tmp_path / "out.json")) == str(tmp_path / ".out.json.lock")


def test_a_deleted_working_directory_is_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    process = _gradcmp("bench", "-p", "inv-norm", "--sizes", "2", "-o", "out.json", cwd=gone,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=gone.rmdir)
    out, err = process.communicate(timeout=120)
    assert_ended((process.returncode, out, err), 2, "the working directory no longer exists; cd to one that does")


def test_a_directory_made_read_only_mid_sweep_keeps_the_rows_and_ends_cleanly(tmp_path, monkeypatch):
    """The fallback took the rows, then removing the lock raised PermissionError (a traceback, the lock left)."""
    import tempfile

    import gradcmp.sweep
    from gradcmp.storage import output_lock, write_json_atomic

    output = tmp_path / "out.json"
    real_unlink = os.unlink

    def read_only_write(path, document):
        if path == str(output) and output.exists():
            raise PermissionError(13, "Permission denied")
        write_json_atomic(path, document)

    def read_only_unlink(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(gradcmp.sweep, "write_json_atomic", read_only_write)
    monkeypatch.setattr(os, "unlink", read_only_unlink)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    result = invoke("bench", "-p", "inv-norm", "--sizes", "2,3", "-s", "vjp", "-o", output, *FAST)
    assert result.exit_code == 0 and "Traceback" not in result.output and result.exception is None, result.output
    assert f"cannot write {output} (Permission denied); the rows went to" in " ".join(result.output.split())
    [fallback] = (tmp_path / "tmp").glob("results-command-line-*.json")
    assert json.loads(fallback.read_text())["status"] == "complete"
    monkeypatch.undo()
    with output_lock(str(output)):  # the lock left behind holds nobody
        pass


# ---- outputs never clobber each other, the baseline, the preset or a file gradcmp did not write -----------

def test_outputs_that_name_one_file_are_refused(tmp_path):
    assert_ended(_quick_bench("-o", "res.npz", "--save-gradients", "res.npz", cwd=tmp_path), 2,
                 "--save-gradients res.npz is the --output file; writing there would destroy it")
    assert_ended(_quick_bench("-o", "r.svg", "--plot", "r.svg", cwd=tmp_path), 2,
                 "--plot r.svg is the --output file; writing there would destroy it")
    (tmp_path / "link.npz").symlink_to(_results_file(tmp_path / "base.json"))
    assert_ended(_quick_bench("--baseline", "base.json", "--save-gradients", "link.npz", cwd=tmp_path), 2,
                 "--save-gradients link.npz is the baseline; writing there would destroy it")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["base.json", "link.npz"]


@pytest.mark.parametrize("args, text", [
    (["--save-gradients", "notes.npz"], "--save-gradients notes.npz exists and is not a numpy .npz archive; refusing"),
    (["--save-gradients", "/dev/full"], "--save-gradients /dev/full must end in .npz (numpy would write /dev/full.npz"),
    (["--save-gradients", "missing/g.npz"], "missing/g.npz: directory"),  # found only after measuring, once
    (["--save-gradients", ""], "--save-gradients '' names no file"),
    (["--plot", "notes.svg"], "--plot notes.svg exists and is not a PNG or SVG image; refusing to overwrite it"),
])
def test_save_gradients_and_plot_are_checked_before_any_work(tmp_path, args, text):
    for notes in ("notes.npz", "notes.svg"):
        (tmp_path / notes).write_text("my notes")
    assert_ended(_quick_bench("-o", "out.json", *args, cwd=tmp_path), 2, text)
    if args[0] == "--save-gradients":  # run takes it too
        assert_ended(_finished("run", "-p", "inv-norm", "-n", "2", "-s", "vjp", *FAST, *args, cwd=tmp_path), 2, text)
    assert not (tmp_path / "out.json").exists() and (tmp_path / "notes.npz").read_text() == "my notes"


def test_gradients_gradcmp_wrote_may_be_written_again(tmp_path):
    for _ in range(2):
        assert_ended(_finished("run", "-p", "inv-norm", "-n", "2", "-s", "vjp", *FAST, "--save-gradients",
                               "g.npz", cwd=tmp_path), 0)
    import numpy

    assert sorted(numpy.load(tmp_path / "g.npz")) == ["reference", "vjp"]


# ---- closed streams and odd terminals -----------------------------------------------------------------------

def _close_fd(fd):
    return lambda: os.close(fd)


@pytest.mark.parametrize("args", [["list"], ["run", "-p", "inv-norm", "-n", "3", "-s", "vjp", *FAST],
                                  ["--version"]], ids=["list", "run", "version"])
def test_a_closed_stdout_is_one_line_and_exit_1(args):
    """`gradcmp list >&-`: sys.stdout is None, which was an AttributeError traceback."""
    done = _finished(*args, stdout=None, preexec_fn=_close_fd(1))
    assert_ended(done, 1, "cannot write the output: stdout is closed")
    assert done[2].splitlines() == ["cannot write the output: stdout is closed"]


def test_a_closed_stderr_or_stdin_changes_nothing(tmp_path):
    output = tmp_path / "out.json"
    process = _gradcmp("bench", "-p", "inv-norm", "--sizes", "2", "-s", "vjp", "-o", output, *FAST,
                       stdout=subprocess.PIPE, preexec_fn=lambda: (os.close(2), os.close(0)))
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and "1 rows: 1 ok" in out and "Traceback" not in out
    assert load_runs(str(output))[0]["status"] == "complete"


@pytest.mark.parametrize("columns", ["0", "5", "", "abc"])
def test_a_width_below_any_table_counts_as_unset(columns):
    """COLUMNS=0 printed nothing at all and exited 0."""
    done = _finished("run", "-p", "inv-norm", "-n", "3", "-s", "vjp", *FAST, env={"COLUMNS": columns})
    assert_ended(done, 0)
    lines = done[1].splitlines()
    assert lines[0].startswith("inv-norm  size=3") and any("│ vjp " in line for line in lines), done[1]
    assert max(map(len, lines)) > 60  # piped: room for the whole table


def test_a_deleted_working_directory_refuses_every_command(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    done = _finished("list", cwd=gone, preexec_fn=gone.rmdir)
    assert_ended(done, 2, "Error: the working directory no longer exists; cd to one that does")



# ---- signals: later ones while the first is handled, a terminal gone -------------------------------------

def _started(command, output, **kwargs):
    """A `bench` (writing `output`) or `run` that has begun measuring."""
    arguments = (["bench", "-p", "inv-norm", "--sizes", "2,3,4,5,6,7,8", "-o", output] if command == "bench"
                 else ["run", "-p", "inv-norm", "-n", "8"])
    process = _gradcmp(*arguments, "--min-run-time", "0.5", "--threads", "1", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, **kwargs)
    _wait_for(output.exists if command == "bench" else lambda: _torch_loaded(process))
    time.sleep(0.5)
    return process


@pytest.mark.parametrize("command, signum", [("run", signal.SIGINT), ("bench", signal.SIGINT),
                                             ("run", signal.SIGTERM)])
def test_signals_while_the_first_is_handled_keep_its_exit_status(tmp_path, command, signum):
    """Two SIGINTs 50 ms apart: the second met the default action Python's finalization puts back and
    killed the process by the signal (status -2), one run in five."""
    output = tmp_path / "out.json"
    process = _started(command, output)
    process.send_signal(signum)
    first = process.stderr.readline()  # the first is being handled: the command is ending
    while process.poll() is None:  # through the teardown to the exit
        process.send_signal(signum)
        time.sleep(0.005)
    rest = process.stderr.read()
    assert_ended((process.returncode, "", first + rest), 128 + signum, f"interrupted by {signal.Signals(signum).name}")
    if command == "bench":
        assert load_runs(str(output))[0]["status"] == "interrupted"
        assert [path.name for path in tmp_path.iterdir()] == ["out.json"]


def test_a_hangup_with_the_terminal_gone_still_marks_the_file(tmp_path):
    """SIGHUP when the terminal closed: the line saying so cannot be written (EPIPE/EIO), which made the exit
    status 1; the file is still marked, the lock removed, and the status is the signal's."""
    output = tmp_path / "out.json"
    process = _started("bench", output)
    process.stderr.close()  # the reader of stderr is gone
    process.send_signal(signal.SIGHUP)
    process.communicate(timeout=120)
    assert process.returncode == 129
    assert load_runs(str(output))[0]["status"] == "interrupted"
    assert [path.name for path in tmp_path.iterdir()] == ["out.json"]


def test_an_output_is_overwritten_only_where_gradcmp_wrote_it(tmp_path):
    (tmp_path / "other.json").write_text('{"runs": []}')  # JSON, but not gradcmp's
    (tmp_path / "empty.json").write_text("")
    _results_file(tmp_path / "old.json")
    assert_ended(_quick_bench("-o", "other.json", cwd=tmp_path), 2,
                 "--output other.json exists and is not a gradcmp results file; refusing to overwrite it")
    for name in ("empty.json", "old.json"):
        assert_ended(_quick_bench("-o", name, cwd=tmp_path), 0)
        assert load_runs(str(tmp_path / name))[0]["status"] == "complete"
