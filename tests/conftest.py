import pytest
import torch

from gradcmp.problems import PROBLEMS


@pytest.fixture
def build():
    """build(problem, dtype=torch.float64, **params) -> Instance on the CPU, seed 0."""

    def make(name, dtype=torch.float64, seed=0, **params):
        problem = PROBLEMS[name]
        values = {knob.name: knob.default for knob in problem.knobs}
        values.update(params)
        return problem.build(values, dtype, torch.device("cpu"), seed)

    return make
