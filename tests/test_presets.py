"""Presets: every shipped one parses and plans; every documented mistake is caught before anything runs."""
import pytest
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.config import ConfigError
from gradcmp.presets import Case, Preset, load_preset, plan, shipped_presets
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import configurations
from gradcmp.strategies.spelling import parse

@pytest.mark.parametrize("name", shipped_presets())
def test_shipped_preset_parses(name):
    preset = load_preset(name)
    assert preset.description and preset.cases


@pytest.mark.parametrize("name", shipped_presets())
def test_shipped_preset_plans_against_the_registries(name):
    preset = load_preset(name)
    missing = [value.unavailable() for case in preset.cases for spec in case.strategies or ()
               for value in parse(spec) if value.unavailable()]
    if missing:  # a preset naming an optional extra's strategy is refused, saying what to install
        with pytest.raises(ConfigError, match="cannot run on .*: " + missing[0].split(";")[0]):
            plan(preset)
        return
    jobs = plan(preset)
    assert jobs and all(job.strategies for job in jobs)


def test_the_required_presets_are_shipped():
    assert {"smoke", "default", "scaling", "neural-ode-memory"} <= set(shipped_presets())


def test_smoke_runs_every_problem_with_every_applicable_strategy():
    jobs = plan(load_preset("smoke"))
    assert {job.problem.name for job in jobs} == set(PROBLEMS)
    for job in jobs:
        applicable = {value.label for value in configurations() if value.applies_to(job.problem) is None}
        assert {strategy.label for strategy, _ in job.strategies} == applicable
        assert job.tolerance is not None


def test_scaling_sweeps_inv_norm_doubling_from_16_to_512():
    jobs = [job for job in plan(load_preset("scaling")) if job.problem.name == "inv-norm"]
    assert [job.params["size"] for job in jobs] == [16, 32, 64, 128, 256, 512]
    assert {job.sweep for job in jobs} == {"size"}


def test_a_list_in_params_sweeps_that_param():
    preset = Preset("p", "p.toml", cases=(Case("sin-wy", params={"m": (2, 4, 8), "size": (3,)}),))
    jobs = plan(preset)
    assert [job.params for job in jobs] == [{"size": 3, "m": 2}, {"size": 3, "m": 4}, {"size": 3, "m": 8}]
    assert {job.sweep for job in jobs} == {"m"}


def test_command_line_values_replace_the_presets():
    jobs = plan(load_preset("scaling"), problems=["sin-wy"], strategies=["vjp"], sizes=["5", "7"],
                params={"m": ["3"]})
    assert [job.params for job in jobs] == [{"size": 5, "m": 3}, {"size": 7, "m": 3}]
    assert [[strategy.name for strategy, _ in job.strategies] for job in jobs] == [["vjp"], ["vjp"]]


def _write(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


GOOD_CASE = '[[case]]\nproblem = "inv-norm"\nsizes = [4]\n'


@pytest.mark.parametrize("text, key, message", [
    ('colour = "red"\n' + GOOD_CASE, "colour", "unknown key"),
    ('[[case]]\nproblem = "inv-norm"\nsizez = [4]\n', "case[1].sizez", "unknown key"),
    ('min_run_time = "fast"\n' + GOOD_CASE, "min_run_time", "must be a number"),
    ('threads = 0\n' + GOOD_CASE, "threads", "must be a positive integer"),
    ('dtype = "float16"\n' + GOOD_CASE, "dtype", "must be one of float32, float64"),
    ('max_memory = "lots"\n' + GOOD_CASE, "max_memory", "expected a size"),
    (GOOD_CASE + 'tolerance = "small"\n', "case[1].tolerance", "must be a number"),
    (GOOD_CASE + 'strategies = "vjp"\n', "case[1].strategies", "must be a list"),
    (GOOD_CASE + 'params = { size = "16" }\n', "case[1].sizes", "sets size, which params sets too"),
    ('[[case]]\nproblem = "inv-norm"\nparams = { size = "16" }\n', "case[1].params.size", "must be an integer"),
    ('[[case]]\nproblem = "inv-norm"\nsizes = [0]\n', "case[1].sizes", "size must be >= 1"),
    ('[[case]]\nproblem = "inv-normal"\n', "case[1].problem", "unknown problem 'inv-normal'"),
    (GOOD_CASE + 'strategies = ["vjp", "magic"]\n', "case[1].strategies", "unknown strategy 'magic'"),
    (GOOD_CASE + 'params = { colour = 1 }\n', "case[1].params.colour", "unknown param 'colour'"),
    (GOOD_CASE + 'expect_failure = "adjoint"\n', "case[1].expect_failure", "must be a list"),
    (GOOD_CASE + 'expect_failure = ["magic"]\n', "case[1].expect_failure", "unknown strategy 'magic'"),
    ('[[case]]\nproblem = "sin-wy"\nsizes = [4, 8]\nparams = { m = [1, 2] }\n', "case[1]",
     "sweeps m and size; a case sweeps at most one param"),
    ('[[case]]\nsizes = [4]\n', "case[1].problem", "missing"),
    ('description = "no cases"\n', "case", "at least one [[case]]"),
    (GOOD_CASE + GOOD_CASE + '[[case]]\nproblem = "sin-wy"\ntolerance = -1\n', "case[3].tolerance",
     "must be positive"),
])
def test_malformed_preset_is_refused_naming_file_and_key_before_anything_runs(tmp_path, text, key, message):
    path = _write(tmp_path, text)
    output = tmp_path / "results.json"
    result = CliRunner().invoke(main, ["bench", "--preset", str(path), "--output", str(output)])
    assert result.exit_code == 2, result.output
    assert f"{path}: {key}" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not output.exists()


def test_invalid_toml_is_refused(tmp_path):
    path = _write(tmp_path, "[[case]\n")
    result = CliRunner().invoke(main, ["bench", "--preset", str(path)])
    assert result.exit_code == 2 and f"{path}: not valid TOML" in result.output


def test_a_bad_case_is_refused_even_when_filtered_out(tmp_path):
    path = _write(tmp_path, GOOD_CASE + '[[case]]\nproblem = "sin-wy"\nparams = { m = -1 }\n')
    result = CliRunner().invoke(main, ["bench", "--preset", str(path), "--problem", "inv-norm"])
    assert result.exit_code == 2 and "case[2].params.m: m must be >= 0" in result.output


def test_unknown_preset_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"unknown preset 'smok' \(did you mean smoke\?\); shipped presets: .*smoke"):
        load_preset("smok")


@pytest.mark.parametrize("arguments, message", [
    (["--strategy", "magic"], "--strategy: unknown strategy 'magic'"),  # no preset: `default`, checked
    (["--preset", "smoke", "--problem", "nope"], "--problem: unknown problem 'nope'"),
    (["--preset", "scaling", "--strategy", "magic"], "--strategy: unknown strategy 'magic'"),
    (["--problem", "inv-norm", "--param", "m=3"], "--param m: unknown param 'm' for problem inv-norm"),
    (["--problem", "inv-norm", "--sizes", "4,x"], "--sizes: size must be an integer, got 'x'"),
    (["--problem", "sin-wy", "--sizes", "4,8", "--param", "m=1,2"], "a case sweeps at most one param"),
    (["--problem", "inv-norm", "--fail-on-regression", "1.5"], "give --baseline OLD.json too"),
    (["--problem", "inv-norm", "--plot", "out.pdf"], "--plot: out.pdf must end in .png or .svg"),
    (["--problem", "inv-norm", "--baseline", "missing.json"], "cannot read results file missing.json"),
])
def test_bad_command_line_is_refused_before_anything_runs(tmp_path, arguments, message):
    result = CliRunner().invoke(main, ["bench", *arguments, "--output", str(tmp_path / "r.json")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "r.json").exists()
