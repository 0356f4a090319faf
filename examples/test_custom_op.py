"""A pytest example: check a custom autograd.Function's backward and jvp with gradcmp.testing.

    pytest examples/test_custom_op.py
"""
import pytest
import torch

from gradcmp.testing import assert_gradients_agree


def cube_function(backward_factor):
    """y = x^3 as a torch.autograd.Function, its backward scaled by backward_factor (1 is correct)."""

    class Cube(torch.autograd.Function):
        generate_vmap_rule = True  # so torch.func (vmap, jvp) can run it

        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)
            ctx.save_for_forward(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward_factor * 3 * x ** 2 * grad

        @staticmethod
        def jvp(ctx, tangent):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * tangent

    return Cube.apply


def loss_of(cube):
    return lambda x: (torch.sin(x) * cube(x)).sum()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_correct_backward_agrees_with_forward_mode_and_finite_differences(dtype):
    x = torch.linspace(-2, 2, 50, dtype=dtype)
    assert_gradients_agree(loss_of(cube_function(1)), x)


def test_a_non_scalar_op_is_checked_along_random_directions():
    x = torch.randn(10_000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert_gradients_agree(cube_function(1), x, directions=4)  # 4 JVPs and 8 evaluations, not 10,000


def test_a_backward_off_by_two_fails_with_the_table():
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    with pytest.raises(AssertionError) as failure:
        assert_gradients_agree(loss_of(cube_function(2)), x)
    message = str(failure.value)
    print(message)
    assert message.startswith("gradients disagree (jvp, finite-diff)")
    assert "strategy" in message and "NO" in message
