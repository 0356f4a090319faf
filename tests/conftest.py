import os

os.environ["GRADCMP_NO_PLUGINS"] = "1"  # installed plug-ins stay out of the suite (tests/test_plugins.py asks)

import pytest
import torch

from gradcmp.problems import PROBLEMS


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests check numbers, not speed; on oversubscribed shared cores two threads made the small ops
    of an ODE solve about 100x slower than one."""
    torch.set_num_threads(1)


@pytest.fixture
def build():
    """build(problem, dtype=torch.float64, **params) -> Instance on the CPU, seed 0."""

    def make(name, dtype=torch.float64, seed=0, **params):
        problem = PROBLEMS[name]
        values = {param.name: param.default for param in problem.params}
        assert set(params) <= set(values), f"{name} has no params {set(params) - set(values)}"
        values.update(params)
        return problem.build(values, dtype, torch.device("cpu"), seed)

    return make


@pytest.fixture
def small_instance():
    """small_instance(problem, dtype=torch.float64) -> Instance of the problem's own test_params (CPU, seed 0)."""
    from gradcmp.config import resolve_params

    def make(name, dtype=torch.float64):
        problem = PROBLEMS[name]
        return problem.build(resolve_params(problem.params, problem.test_params, name), dtype, torch.device("cpu"), 0)

    return make
