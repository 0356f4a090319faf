"""The one registry: a strategy family with an option is one class plus one registry line, and from there
its spelling, the command line, presets, `list`, the planner and the records take it with no other code."""
import json

import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.config import ConfigError, Param
from gradcmp.problems import PROBLEMS
from gradcmp.strategies import STRATEGIES, Strategy, configurations, select_strategies, strategy
from gradcmp.strategies.spelling import parse


class ScaledVjp(Strategy):
    """vjp's gradient times `factor` (factor=1 is vjp; any other is wrong on purpose)."""

    name = "scaled-vjp"
    description = "reverse mode, scaled (a throwaway example)"
    options = (Param("factor", 1.0, "what the gradient is multiplied by", above=0),)
    autograd = True

    def gradient(self, instance):
        x = instance.x.detach().requires_grad_(True)
        return self.config["factor"] * torch.autograd.grad(instance.loss(x), x)[0]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(STRATEGIES, ScaledVjp.name, ScaledVjp)  # the one registry line


def test_its_spelling_reads_and_writes_with_no_code_of_its_own(registered):
    assert [value.label for value in parse("scaled-vjp(factor=2,3)")] == ["scaled-vjp(factor=2)",
                                                                         "scaled-vjp(factor=3)"]
    assert strategy("scaled-vjp(factor=1)") == ScaledVjp() == strategy("scaled-vjp()") and ScaledVjp().label == "scaled-vjp"
    with pytest.raises(ConfigError, match="scaled-vjp: factor must be > 0, got 0.0"):
        strategy("scaled-vjp(factor=0)")
    with pytest.raises(ConfigError, match=r"unknown option 'facter' for strategy scaled-vjp \(did you mean factor\?\)"):
        strategy("scaled-vjp(facter=2)")
    assert ScaledVjp() in configurations()
    assert [value for value, _ in select_strategies(PROBLEMS["inv-norm"], ["scaled-vjp(factor=2)"])] == \
        [ScaledVjp(factor=2.0)]


def test_the_command_line_lists_runs_and_checks_it(registered, tmp_path):
    listing = CliRunner().invoke(main, ["list"])
    assert "scaled-vjp" in listing.output and "factor=1.0" in listing.output
    result = CliRunner().invoke(main, ["run", "-p", "inv-norm", "-n", "4", "--threads", "1", "--min-run-time",
                                       "0.005", "--format", "json", "-s", "scaled-vjp", "-s", "scaled-vjp(factor=2)"])
    assert result.exit_code == 0, result.output
    rows = {row["strategy"]: row for row in json.loads(result.output)["results"]}
    assert rows["scaled-vjp"]["rel_error"] < 1e-14 and abs(rows["scaled-vjp(factor=2)"]["rel_error"] - 1) < 1e-12
    bad = CliRunner().invoke(main, ["run", "-p", "inv-norm", "-s", "scaled-vjp(factor=-1)"])
    assert bad.exit_code == 2 and "scaled-vjp: factor must be > 0, got -1.0" in bad.output
    preset = tmp_path / "mine.toml"
    preset.write_text('[[case]]\nproblem = "inv-norm"\nsizes = [3]\nstrategies = ["scaled-vjp(factor=1,2)"]\n'
                      'tolerance = 1e-8\nexpect_failure = ["scaled-vjp(factor=2)"]\n')
    gate = CliRunner().invoke(main, ["bench", "--preset", str(preset), "--threads", "1", "--min-run-time", "0.005",
                                     "-o", str(tmp_path / "out.json")])
    assert gate.exit_code == 0, gate.output
    assert "gate passed" in gate.output.splitlines()[-1]
