"""The mlp problem: its reference against hand-written backprop (seed 4); tests/test_strategies.py runs every
strategy against it."""
import numpy as np
import torch

from gradcmp.problems import PROBLEMS
from gradcmp.problems.mlp import draw
from gradcmp.strategies import select_strategies

PARAMS = {"size": 5, "layers": 3, "batch": 4}


def _instance(dtype=torch.float64):
    return PROBLEMS["mlp"].build(PARAMS, dtype, torch.device("cpu"), 0)


def _backprop(weights, inputs, target):
    """Seed 4's functional backprop: forward through h W and tanh, then compose their VJPs backwards."""
    hidden = [inputs]
    for layer, w in enumerate(weights):
        pre = hidden[-1] @ w
        hidden.append(np.tanh(pre) if layer < len(weights) - 1 else pre)
    h_bar = 2 * (hidden[-1] - target) / target.size  # d mean((h - t)^2) / dh
    w_bars = []
    for layer in reversed(range(len(weights))):
        if layer < len(weights) - 1:
            h_bar = h_bar * (1 - hidden[layer + 1] ** 2)  # VJP of tanh
        w_bars.append(hidden[layer].T @ h_bar)  # vjp_w of h W
        h_bar = h_bar @ weights[layer].T  # vjp_x of h W
    return np.concatenate([w_bar.ravel() for w_bar in reversed(w_bars)])


def test_reference_is_seed_4s_backprop():
    theta, inputs, target = (tensor.numpy() for tensor in draw(PARAMS, 0))
    weights = theta.reshape(PARAMS["layers"], PARAMS["size"], PARAMS["size"])
    np.testing.assert_allclose(_instance().reference.numpy(), _backprop(weights, inputs, target), rtol=1e-12)


def test_x_is_every_weight_as_one_flat_vector():
    instance = _instance()
    assert instance.x.shape == (PARAMS["layers"] * PARAMS["size"] ** 2,)


def test_jacobian_does_not_apply_for_want_of_a_chain():
    reasons = dict((strategy.name, reason) for strategy, reason in select_strategies(PROBLEMS["mlp"], None))
    assert reasons["jacobian"].startswith("needs a problem written as a chain of maps")
