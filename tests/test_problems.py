"""Problems: reproducible data, conditioning, and references that match the seeds' formulas."""
import re

import pytest
import torch
from click.testing import CliRunner

from gradcmp.cli import main
from gradcmp.problems import PROBLEMS


def test_every_problem_has_a_size_param_first_and_a_description():
    for problem in PROBLEMS.values():
        assert problem.description
        assert problem.params[0].minimum is not None and problem.params[0].minimum >= 0


def test_inv_norm_is_reproducible_from_the_seed_and_well_conditioned(build):
    first, again, other = build("inv-norm", size=64), build("inv-norm", size=64), build("inv-norm", size=64, seed=1)
    assert torch.equal(first.x, again.x)
    assert not torch.equal(first.x, other.x)
    for n in (4, 64, 256):
        assert build("inv-norm", size=n).info["condition number"] < 6


def test_inv_norm_chain_composes_to_the_loss(build):
    instance = build("inv-norm", size=6)
    value = instance.x
    for link in instance.chain:
        value = link(value)
    assert torch.allclose(value, instance.loss(instance.x))


def test_inv_norm_reference_is_seed_2_formula_checked_by_autograd(build):
    instance = build("inv-norm", size=20)
    x = instance.x.clone().requires_grad_(True)
    instance.loss(x).backward()
    assert torch.allclose(x.grad, instance.reference, rtol=1e-12, atol=1e-14)


def test_sin_wy_reference_is_the_outer_product_of_seed_1(build):
    instance = build("sin-wy", size=7, m=5)
    assert instance.x.shape == (5, 7)
    w = instance.x.clone().requires_grad_(True)
    instance.loss(w).backward()
    assert torch.allclose(w.grad, instance.reference, rtol=1e-12, atol=1e-14)


def test_float32_instances_keep_a_float64_reference(build):
    instance = build("sin-wy", dtype=torch.float32, size=8)
    assert instance.x.dtype == torch.float32
    assert instance.reference.dtype == torch.float64


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_every_problem_builds_its_test_params_reproducibly_with_a_float64_reference(small_instance, name):
    first, again = small_instance(name), small_instance(name)
    assert torch.equal(first.x, again.x)
    assert float(first.loss(first.x)) == float(again.loss(again.x))
    assert first.reference.dtype == torch.float64 and first.reference.shape == first.x.shape
    assert small_instance(name, torch.float32).x.dtype == torch.float32


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_descriptions_and_param_help_are_plain_words(name):
    """No "(seed N)" (it reads as --seed) and no module or class names."""
    problem = PROBLEMS[name]
    for text in (problem.description, *(param.help for param in problem.params)):
        assert text and not re.search(r"\(seed \d\)|gradcmp\.|Instance|[a-z]+Error\b", text), text


def test_list_problem_shows_each_params_help_default_and_range_and_the_strategies_that_apply():
    result = CliRunner().invoke(main, ["list", "linear-ode"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(line for line in lines if "│ method " in line)
    assert "rk4" in row and "one of euler, midpoint, rk4, dopri5, tsit5, sdirk3, reversible_heun" in row and "ODE solver" in row
    assert any("│ T " in line and "number > 0" in line and "horizon" in line for line in lines)
    assert any("│ backprop " in line for line in lines) and not any("│ numpy-vjp " in line for line in lines)
    assert "not applicable to linear-ode: numpy-vjp, numpy-jvp (they need a problem with a numpy twin" in result.output


def test_list_of_an_unknown_problem_exits_2_naming_the_problems():
    result = CliRunner().invoke(main, ["list", "nope"])
    assert result.exit_code == 2 and "unknown problem 'nope'; choose from: inv-norm" in result.output
