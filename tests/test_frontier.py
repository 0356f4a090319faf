"""The memory frontier: Pareto front and the budget sentence from fixed records, and the bench flag."""
import pytest
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.frontier import Point, budget_sentence, pareto_front

MiB = 2 ** 20
POINTS = [
    Point("backprop", 0.050, 70 * MiB, 1e-12),
    Point("checkpoint(checkpoints=8)", 0.080, 9 * MiB, 1e-12),
    Point("checkpoint(checkpoints=8,schedule=binomial)", 0.120, 1.5 * MiB, 1e-12),
    Point("checkpoint(checkpoints=4)", 0.090, 12 * MiB, 1e-12),  # beaten by K = 8 on both
    Point("reversible", 0.300, 0.2 * MiB, 1e-12),
    Point("adjoint", 0.400, 0.3 * MiB, 1e-12),  # beaten by reversible on both
]


def test_front_keeps_the_undominated_points_leanest_first():
    assert [p.label for p in pareto_front(POINTS)] == [
        "reversible", "checkpoint(checkpoints=8,schedule=binomial)", "checkpoint(checkpoints=8)", "backprop"]


def test_budget_sentence_names_the_fastest_that_fits_and_what_the_fastest_needs():
    assert budget_sentence(POINTS, 16 * MiB, 1e-8) == (
        "under 16 MiB the fastest gradient within 1e-8 is checkpoint(checkpoints=8) (80 ms, 9.0 MiB); "
        "backprop would need 70.0 MiB")
    assert budget_sentence(POINTS, 1 * MiB, None) == (
        "under 1 MiB the fastest gradient is reversible (300 ms, 204.8 KiB); backprop would need 70.0 MiB")
    assert budget_sentence(POINTS, 100 * MiB, 1e-8).endswith("is backprop (50 ms, 70.0 MiB)")
    assert budget_sentence(POINTS, 1000, 1e-8) == (
        "under 1000 B no gradient within 1e-8 fits; the leanest is reversible (300 ms, 204.8 KiB)")


def test_bench_prints_the_front_and_the_sentence(tmp_path):
    result = CliRunner().invoke(main, [
        "bench", "-p", "neural-ode", "-s", "backprop", "-s", "checkpoint(checkpoints=2,4)", "-s", "reversible",
        "--param", "steps=20", "--param", "batch=4", "--min-run-time", "0.005",
        "--threads", "1", "--memory-budget", "1GiB", "-o", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert "time-memory Pareto front: neural-ode" in result.output
    assert "under 1 GiB the fastest gradient is " in result.output
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "out.json"), "--memory-budget", "1GiB"])
    assert shown.exit_code == 0, shown.output
    assert "under 1 GiB the fastest gradient is " in shown.output


def test_old_param_names_still_read_with_a_note_giving_the_new_spelling(tmp_path):
    """--param checkpoints=2,4 (a problem param before strategies had options): one row per value."""
    result = CliRunner().invoke(main, [
        "bench", "-p", "neural-ode", "-s", "checkpoint", "--param", "steps=12", "--param", "batch=2",
        "--param", "checkpoints=2,4", "--min-run-time", "0.005", "--threads", "1", "--format", "csv",
        "-o", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert "note: param checkpoints is now an option of the strategies that read it: " \
           "-s 'STRATEGY(checkpoints=2,4)'" in result.stderr
    assert ",checkpoint(checkpoints=2)," in result.stdout and ",checkpoint(checkpoints=4)," in result.stdout


def test_memory_budget_must_be_a_size():
    result = CliRunner().invoke(main, ["bench", "-p", "neural-ode", "--memory-budget", "lots"])
    assert result.exit_code == 2
    assert "expected a size such as 512MiB, 2GB or 1e9, got 'lots'" in result.output


def test_plot_with_the_front_draws_time_against_memory(tmp_path):
    """--plot with --memory-budget: one panel, time against peak memory, the front and the budget drawn."""
    from unittest import mock

    pytest.importorskip("matplotlib")  # the [plot] extra
    import matplotlib.figure

    saved = []
    with mock.patch.object(matplotlib.figure.Figure, "savefig", lambda figure, path: saved.append(figure)):
        result = CliRunner().invoke(main, [
            "bench", "-p", "neural-ode", "-s", "backprop", "-s", "checkpoint(checkpoints=2,4)", "--param", "steps=20",
            "--min-run-time", "0.005", "--threads", "1",
            "--memory-budget", "1GiB", "--plot", str(tmp_path / "front.png"), "-o", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    (axis,) = saved[0].axes
    assert (axis.get_xlabel(), axis.get_ylabel()) == ("peak memory (bytes)", "time per gradient (s)")
    assert {line.get_label() for line in axis.lines} == {"Pareto front", "budget 1.0 GiB"}
    labels = {text.get_text() for text in axis.texts}
    assert {"backprop", "checkpoint(checkpoints=2)", "checkpoint(checkpoints=4)"} <= labels
