"""gradcmp.testing.assert_gradients_agree: passes on correct gradients, fails with the table on wrong ones."""
import pytest
import torch

from gradcmp.testing import assert_gradients_agree, default_rtol


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def scaled_backward(factor):
    """exp(x) whose backward is multiplied by factor (its jvp is right)."""

    class Exp(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x.exp()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)
            ctx.save_for_forward(output)

        @staticmethod
        def backward(ctx, grad):
            return factor * ctx.saved_tensors[0] * grad

        @staticmethod
        def jvp(ctx, tangent):
            return ctx.saved_tensors[0] * tangent

    return Exp.apply


def test_default_tolerances_come_from_the_dtype():
    assert default_rtol(torch.float64, False) == pytest.approx(1.49e-8, rel=1e-2)
    assert default_rtol(torch.float32, False) == pytest.approx(3.45e-4, rel=1e-2)
    assert default_rtol(torch.float64, True) == pytest.approx(6.06e-6, rel=1e-2)
    assert default_rtol(torch.float32, True) == pytest.approx(4.92e-3, rel=1e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("directions", [None, 3])
def test_rosenbrock_agrees_across_all_four_strategies(dtype, directions):
    x = torch.linspace(-1.5, 1.5, 40, dtype=dtype)
    assert_gradients_agree(rosenbrock, x, ("vjp", "jvp", "finite-diff", "jacobian"), directions=directions)


@pytest.mark.parametrize("directions", [None, 2])
def test_a_wrong_backward_fails_and_the_message_is_the_table(directions):
    x = torch.linspace(-1, 1, 20, dtype=torch.float64)
    with pytest.raises(AssertionError) as failure:
        assert_gradients_agree(lambda x: scaled_backward(2)(x).sum(), x, directions=directions)
    lines = str(failure.value).splitlines()
    assert lines[0].startswith("gradients disagree (jvp, finite-diff)")
    assert lines[1].split() == ["strategy", "rel.", "diff", "max", "abs", "diff", "rtol", "agrees"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["jvp"][-1] == rows["finite-diff"][-1] == "NO"
    assert float(rows["jvp"][1]) == pytest.approx(0.5)  # |g - 2g| / |2g|


def test_a_non_scalar_output_is_contracted_and_checked():
    x = torch.randn(30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert_gradients_agree(scaled_backward(1), x)
    with pytest.raises(AssertionError, match="gradients disagree"):
        assert_gradients_agree(scaled_backward(1.001), x, directions=2)


def test_directions_cost_k_evaluations_not_one_per_entry():
    calls = []

    def counted(x):
        calls.append(1)
        return rosenbrock(x)

    assert_gradients_agree(counted, torch.linspace(-1, 1, 500, dtype=torch.float64), ("vjp", "finite-diff"),
                           directions=3)
    assert len(calls) == 1 + 1 + 2 * 3  # the output check, one vjp, two per direction


def test_a_strategy_that_fails_is_a_failed_row():
    class NoForwardMode(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    with pytest.raises(AssertionError, match=r"jvp\s+-\s+-\s+-\s+FAILED"):
        assert_gradients_agree(lambda x: NoForwardMode.apply(x).sum(), torch.ones(3, dtype=torch.float64))


def test_a_tight_rtol_catches_finite_differences():
    with pytest.raises(AssertionError, match="finite-diff"):
        assert_gradients_agree(rosenbrock, torch.linspace(-1, 1, 20, dtype=torch.float32), rtol=1e-9)


def test_an_ode_strategy_is_refused():
    with pytest.raises(ValueError, match="'adjoint' does not work on a plain function"):
        assert_gradients_agree(rosenbrock, torch.ones(3), ("vjp", "adjoint"))
