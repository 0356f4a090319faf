"""Measurement: peak memory validated on known allocations, growth laws, saved bytes, timing shape."""
import torch

from gradcmp.config import Budget
from gradcmp.measure import (LiveBytes, call_with_saved_bytes, gradient_errors, measure_strategy, memory_of,
                             peak_bytes, time_repeats)
from gradcmp.strategies import strategy as configured

CPU = torch.device("cpu")
MIB = 2 ** 20


def allocate_and_free():
    block = torch.ones(16 * MIB, dtype=torch.float32)  # 64 MiB
    total = block.sum()
    del block
    return total


def test_cpu_peak_of_a_known_allocation_is_within_5_percent():
    peak = peak_bytes(allocate_and_free, CPU)
    assert abs(peak - 64 * MIB) <= 0.05 * 64 * MIB


def test_cpu_peak_counts_only_what_the_call_allocates():
    already_live = torch.ones(32 * MIB, dtype=torch.uint8)  # noqa: F841 -- live before the call
    peak = peak_bytes(allocate_and_free, CPU)
    assert abs(peak - 64 * MIB) <= 0.05 * 64 * MIB


def test_cpu_memory_figures_are_identical_across_repeats(build):
    instance = build("inv-norm", size=16)
    figures = {peak_bytes(lambda: configured(name).gradient(instance), CPU)
               for name in ("vjp",) for _ in range(3)}
    assert len(figures) == 1


def memory(build, strategy, size):
    instance = build("inv-norm", size=size)
    return peak_bytes(lambda: configured(strategy).gradient(instance), CPU)


def test_jacobian_memory_grows_as_n_to_the_4th(build):
    ratio = memory(build, "jacobian", 32) / memory(build, "jacobian", 16)
    assert abs(ratio - 16) <= 0.25 * 16


def test_vjp_memory_grows_as_n_squared(build):
    ratio = memory(build, "vjp", 64) / memory(build, "vjp", 32)
    assert abs(ratio - 4) <= 0.25 * 4


def test_vjp_saves_a_few_n_by_n_matrices_for_backward(build):
    n = 32
    instance = build("inv-norm", size=n)
    _, saved = call_with_saved_bytes(lambda: configured("vjp").gradient(instance))
    matrix = n * n * 8
    assert matrix <= saved <= 4 * matrix


def test_saved_bytes_of_sin_wy_hold_w_y_and_the_sine_input(build):
    instance = build("sin-wy", size=64)
    _, saved = call_with_saved_bytes(lambda: configured("vjp").gradient(instance))
    assert saved >= 64 * 8  # at least y (or W y) is kept
    assert saved <= instance.x.numel() * 8 + 8 * 64 * 8  # W plus a few vectors, no Jacobian


def test_timing_median_lies_within_the_measured_range():
    timing = time_repeats(lambda: torch.ones(1000).sum(), threads=1, min_run_time=0.01)
    assert timing.times
    assert min(timing.times) <= timing.median <= max(timing.times)
    assert timing.iqr >= 0


def test_measured_row_is_complete_and_consistent(build):
    instance = build("inv-norm", size=8)
    row = measure_strategy(configured("vjp"), instance, Budget(2 ** 30), threads=1, min_run_time=0.01,
                           primal_time=1e-5)
    assert row.status == "ok", row.reason
    assert row.x_primal > 0
    assert row.peak_bytes > 0 and row.saved_bytes > 0
    assert row.rel_error < 1e-12


def test_figures_do_not_depend_on_the_order_strategies_run_in(build):
    def peaks(order):
        instance = build("inv-norm", size=12)
        return {name: measure_strategy(configured(name), instance, Budget(2 ** 30), threads=1,
                                       min_run_time=0.01, primal_time=1e-5).peak_bytes for name in order}

    assert peaks(["vjp", "jacobian", "jvp"]) == peaks(["jvp", "jacobian", "vjp"])


def test_over_memory_budget_is_skipped_with_the_bytes_it_needed(build):
    instance = build("inv-norm", size=16)
    row = measure_strategy(configured("jacobian"), instance, Budget(max_bytes=10 ** 6), threads=1,
                           min_run_time=0.01, primal_time=1e-5)
    assert row.status == "skipped"
    assert "would need about 2.0 MiB" in row.reason and "--max-memory" in row.reason


def test_over_time_budget_is_skipped_with_the_estimate(build):
    instance = build("inv-norm", size=16)
    for name in ("jvp", "finite-diff", "jacobian"):
        row = measure_strategy(configured(name), instance, Budget(max_bytes=2 ** 30, max_seconds=1e-9),
                               threads=1, min_run_time=0.01, primal_time=1e-5)
        assert row.status == "skipped"
        assert "would take about" in row.reason and "--max-time" in row.reason


def test_peak_of_many_short_lived_temporaries_is_one_temporary_not_their_sum():
    def churn():
        total = torch.zeros(1024, dtype=torch.float64)
        for _ in range(2000):
            total = total + torch.ones(1024, dtype=torch.float64)  # 8 KiB made and freed each time
        return total

    peak = peak_bytes(churn, CPU)
    assert 2 * 8192 <= peak <= 4 * 8192


def test_tracker_forgets_freed_storages_so_its_memory_follows_live_tensors():
    with LiveBytes() as tracker:
        kept = torch.ones(1000)
        for _ in range(500):
            torch.ones(1000) * 2  # noqa: B018 -- made and dropped
        live_entries = len(tracker._storages)
    assert live_entries == 1 and tracker.live == kept.untyped_storage().nbytes()


def test_views_and_in_place_ops_of_existing_tensors_allocate_nothing():
    existing = torch.ones(MIB)

    def touch():
        existing.view(1024, 1024).t().mul_(2)
        existing[:10].add_(1)

    assert peak_bytes(touch, CPU) == 0


def test_saved_bytes_never_exceed_the_peak_of_the_same_row(build):
    for problem, strategy in (("inv-norm", "vjp"), ("neural-ode", "backprop"), ("neural-ode", "checkpoint")):
        instance = build(problem)
        row = measure_strategy(configured(strategy), instance, Budget(2 ** 30), threads=1, min_run_time=0.01,
                               primal_time=1e-5)
        assert row.status == "ok", row.reason
        assert 0 < row.saved_bytes <= row.peak_bytes


def test_saved_bytes_of_vjp_on_inv_norm_are_the_inverse_and_its_norm_input(build):
    n = 32
    instance = build("inv-norm", size=n)
    peak, saved = memory_of(lambda: configured("vjp").gradient(instance), CPU, saved=True)
    assert n * n * 8 <= saved <= 3 * n * n * 8 <= peak


def test_relative_error_of_a_huge_finite_gradient_is_finite():
    reference = torch.tensor([3e200, 4e200], dtype=torch.float64)
    rel, largest = gradient_errors(reference * (1 + 1e-3), reference)
    assert abs(rel - 1e-3) < 1e-12 and abs(largest - 4e197) < 1e185


def test_forward_mode_strategies_get_a_peak_too(build):
    """Forward AD makes zero tangents without storage of their own: the tracker passes them by."""
    instance = build("sin-wy", size=16)
    for name in ("jvp", "jacobian"):
        row = measure_strategy(configured(name), instance, Budget(2 ** 30), threads=1, min_run_time=0.01,
                               primal_time=1e-5)
        assert row.status == "ok" and row.notes == [] and row.peak_bytes > 0
