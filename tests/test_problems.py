"""Problems: reproducible data, conditioning, and references that match the seeds' formulas."""
import re

import pytest
import torch

from gradcmp.problems import PROBLEMS


def test_every_problem_has_a_size_knob_first_and_a_description():
    for problem in PROBLEMS.values():
        assert problem.description
        assert problem.knobs[0].minimum is not None and problem.knobs[0].minimum >= 0


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
    for text in (problem.description, *(knob.help for knob in problem.knobs)):
        assert text and not re.search(r"\(seed \d\)|gradcmp\.|Instance|[a-z]+Error\b", text), text
