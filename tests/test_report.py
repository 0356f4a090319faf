"""Rendering: fixed Result records in, exact text out (never live timings)."""
from pathlib import Path

from rich.console import Console

from gradcmp.report import run_table
from gradcmp.results import Result, Run

EXPECTED = Path(__file__).parent / "expected"


def fixed_run() -> Run:
    return Run(
        problem="inv-norm", params={"size": 64}, dtype="float64", device="cpu", seed=0, threads=2,
        info={"condition number": 2.4871},
        results=[
            Result("jacobian", "skipped", reason="the Jacobians would need about 2.0 TiB", primal_time_s=1.5e-4),
            Result("vjp", "ok", time_s=4.5e-4, time_iqr_s=1.2e-5, primal_time_s=1.5e-4, peak_bytes=163_856,
                   saved_bytes=32_768, rel_error=1.2e-15, max_abs_error=2.3e-17),
            Result("jvp", "ok", time_s=0.731, time_iqr_s=0.0021, primal_time_s=1.5e-4, peak_bytes=134_217_728,
                   rel_error=2.8e-16, max_abs_error=2.1e-17, stats={"nfe": 12}),
            Result("finite-diff", "failed", reason="the gradient has NaN or Inf entries", primal_time_s=1.5e-4),
        ],
    )


def render(renderable) -> str:
    console = Console(width=140, record=True, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def test_run_table_renders_exactly_as_expected():
    assert render(run_table(fixed_run())) == (EXPECTED / "run_table.txt").read_text()
