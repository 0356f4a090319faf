"""Plug-ins through entry points: listed with their distribution, usable, and a broken one skipped in one line.

Each test installs a distribution by writing its .dist-info into a folder on PYTHONPATH (what pip writes)
and runs gradcmp in a subprocess with plug-ins enabled (conftest disables them for the rest of the suite).
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gradcmp-plugin-example"


def install(site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
        for group, points in entry_points.items()))


def gradcmp(*args, path=(), plugins=True):
    env = {key: value for key, value in os.environ.items() if key != "GRADCMP_NO_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *map(str, path)])
    if not plugins:
        env["GRADCMP_NO_PLUGINS"] = "1"
    return subprocess.run([sys.executable, "-m", "gradcmp", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


@pytest.fixture
def broken_site(tmp_path):
    """A distribution with a working strategy and three broken entry points."""
    (tmp_path / "fakeplug_mod.py").write_text(textwrap.dedent("""
        from gradcmp.strategies import STRATEGIES
        from gradcmp.strategies.vjp import Vjp

        class Twice(Vjp):
            name = "vjp-again"
            description = "vjp once more"

        STRATEGY = Twice()
        NOT_A_STRATEGY = 42
        CLASH = STRATEGIES["vjp"]
    """))
    install(tmp_path, "fakeplug", "1.0", {
        "gradcmp.strategies": {"vjp-again": "fakeplug_mod:STRATEGY", "wrong": "fakeplug_mod:NOT_A_STRATEGY",
                               "clash": "fakeplug_mod:CLASH", "gone": "no_such_module:X"},
    })
    return tmp_path


def test_a_broken_plugin_is_one_line_in_list_and_the_rest_works(broken_site):
    listed = gradcmp("list", path=[broken_site])
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "plug-in strategy vjp-again from fakeplug 1.0" in lines
    broken = [line for line in lines if "broken, skipped" in line]
    assert len(broken) == 3
    assert any("no_such_module:X raised ModuleNotFoundError" in line for line in broken)
    assert any("fakeplug_mod:NOT_A_STRATEGY is not a strategy object" in line for line in broken)
    assert any("the name vjp is already taken" in line for line in broken)
    run = gradcmp("run", "--problem", "sin-wy", "-n", "4", "-s", "vjp-again", "--format", "json",
                  "--min-run-time", "0.005", "--threads", "1", path=[broken_site])
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["results"][0]["rel_error"] < 1e-14


def test_no_plugins_are_loaded_when_told_not_to(broken_site):
    listed = gradcmp("list", path=[broken_site], plugins=False)
    assert listed.returncode == 0 and "plug-in" not in listed.stdout


def test_the_example_plugin_registers_its_problem_and_strategy(tmp_path):
    """The example package, as `pip install -e examples/gradcmp-plugin-example` registers it."""
    points = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"]
    install(tmp_path, "gradcmp-plugin-example", "0.1.0", points)
    listed = gradcmp("list", path=[tmp_path, EXAMPLE])
    assert "plug-in problem quadratic from gradcmp-plugin-example 0.1.0" in listed.stdout.splitlines()
    run = gradcmp("run", "--problem", "quadratic", "-n", "20", "-s", "vjp", "-s", "forward-diff", "--format", "json",
                  "--min-run-time", "0.005", "--threads", "1", path=[tmp_path, EXAMPLE])
    assert run.returncode == 0, run.stderr
    errors = {row["strategy"]: row["rel_error"] for row in json.loads(run.stdout)["results"]}
    assert errors["vjp"] < 1e-14  # against the exact A x
    assert 1e-10 < errors["forward-diff"] < 1e-6  # one-sided: about sqrt(eps)


@pytest.mark.skipif(importlib.util.find_spec("gradcmp_plugin_example") is None,
                    reason="the example plug-in is not installed (CI installs it)")
def test_the_installed_example_plugin_shows_in_list():
    listed = gradcmp("list")
    assert "plug-in problem quadratic from gradcmp-plugin-example 0.1.0" in listed.stdout.splitlines()
    assert "plug-in strategy forward-diff from gradcmp-plugin-example 0.1.0" in listed.stdout.splitlines()
