"""The numpy engine: every rule against finite differences, VJP against JVP, the tape, dual numbers."""
import subprocess
import sys

import numpy as np
import pytest

from gradcmp import engine
from gradcmp.engine import RULES, Dual, Value

MATMUL_SHAPES = [((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)), ((4,), (4,))]


def _normal(rng, shape):
    return rng.standard_normal(shape)


def _broadcastable(rng, shape):
    """shape with some leading axes dropped and some axes set to 1: numpy broadcasts it back to shape."""
    kept = shape[rng.integers(len(shape) + 1):]
    return tuple(1 if rng.integers(3) == 0 else size for size in kept)


def _binary(rng):
    shape = tuple(rng.integers(2, 5, size=rng.integers(0, 3)))
    return [_normal(rng, _broadcastable(rng, shape)), _normal(rng, _broadcastable(rng, shape))]


def _unary(rng):
    return [_normal(rng, tuple(rng.integers(1, 5, size=rng.integers(0, 3))))]


def _positive(rng):
    return [np.exp(arg) for arg in _unary(rng)]


def _matmul(rng):
    a, b = MATMUL_SHAPES[rng.integers(len(MATMUL_SHAPES))]
    return [_normal(rng, a), _normal(rng, b)]


def _well_conditioned(rng):
    n = int(rng.integers(1, 5))
    return [3 * np.eye(n) + _normal(rng, (n, n)) / np.sqrt(n)]


def _getitem(rng):
    return [_normal(rng, (4, 3)), (slice(1, 3), 2) if rng.integers(2) else 1]


# Inputs for each rule: differentiable arrays first, then static arguments. A new rule needs an
# entry here (test_every_rule_has_inputs), and is then checked by every test below.
INPUTS = {
    "add": _binary, "sub": _binary, "mul": _binary,
    "div": lambda rng: [a if i == 0 else np.sign(a) * (1 + np.abs(a)) for i, a in enumerate(_binary(rng))],
    "neg": _unary, "square": _unary, "sin": _unary, "cos": _unary, "tanh": _unary, "exp": _unary,
    "log": _positive, "sum": _unary, "mean": _unary, "norm": _unary,
    "matmul": _matmul,
    "outer": lambda rng: [_normal(rng, (rng.integers(1, 5),)), _normal(rng, (rng.integers(1, 5),))],
    "transpose": lambda rng: [_normal(rng, (2, 3))],
    "inv": _well_conditioned,
    "reshape": lambda rng: [_normal(rng, (2, 6)), (3, 4)],
    "getitem": _getitem,
}
SEEDS = range(8)


def test_every_rule_has_inputs():
    assert set(INPUTS) == set(RULES)


def _cases(name):
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        yield rng, INPUTS[name](rng)


def _replaced(args, i, value):
    return args[:i] + [value] + args[i + 1:]


@pytest.mark.parametrize("name", sorted(RULES))
def test_vjp_matches_central_differences(name):
    """x_bar_i[j] = d <u, f(x)> / d x_i[j], every entry, against (g(x + h e_j) - g(x - h e_j)) / 2h."""
    rule = RULES[name]
    for rng, args in _cases(name):
        y = rule.forward(*args)
        u = _normal(rng, np.shape(y))
        for i, vjp in enumerate(rule.vjp):
            x_bar = np.asarray(vjp(u, y, *args))
            x = np.asarray(args[i], dtype=float)
            assert x_bar.shape == x.shape, f"{name}: VJP {i} has shape {x_bar.shape}, input {x.shape}"
            numeric = np.empty_like(x)
            for j in range(x.size):
                step = np.zeros_like(x)
                step.flat[j] = h = 1e-6
                plus = np.sum(u * rule.forward(*_replaced(args, i, x + step)))
                minus = np.sum(u * rule.forward(*_replaced(args, i, x - step)))
                numeric.flat[j] = (plus - minus) / (2 * h)
            np.testing.assert_allclose(x_bar, numeric, rtol=1e-6, atol=1e-8, err_msg=f"{name} input {i}")


@pytest.mark.parametrize("name", sorted(RULES))
def test_vjp_is_the_transpose_of_jvp(name):
    """<u, J_i v> from the JVP equals <J_i^T u, v> from the VJP, for random u and v."""
    rule = RULES[name]
    assert len(rule.vjp) == len(rule.jvp)
    for rng, args in _cases(name):
        y = rule.forward(*args)
        u = _normal(rng, np.shape(y))
        for i, (vjp, jvp) in enumerate(zip(rule.vjp, rule.jvp)):
            v = _normal(rng, np.shape(args[i]))
            forward_way = np.sum(u * np.broadcast_to(jvp(v, y, *args), np.shape(y)))
            reverse_way = np.sum(vjp(u, y, *args) * v)
            assert forward_way == pytest.approx(reverse_way, rel=1e-12, abs=1e-12), f"{name} input {i}"


def test_backward_accumulates_every_use_of_a_value():
    """x is used three times: d/dx (x * x + sin(x)) = 2x + cos(x), summed over all paths."""
    x = np.linspace(-1, 1, 5)
    leaf = Value(x)
    (leaf * leaf + engine.sin(leaf)).sum().backward()
    np.testing.assert_allclose(leaf.grad, 2 * x + np.cos(x), rtol=1e-15)


def test_backward_reaches_inputs_through_shared_intermediates():
    """A diamond: y = exp(x) feeds both branches; its cotangent is complete before it is pulled back."""
    x = np.array([0.3, -0.2])
    leaf = Value(x)
    y = engine.exp(leaf)
    (engine.square(y) + 3 * y).sum().backward()
    np.testing.assert_allclose(leaf.grad, (2 * np.exp(x) + 3) * np.exp(x), rtol=1e-15)


def test_backward_of_a_non_scalar_needs_a_cotangent():
    with pytest.raises(ValueError, match="needs y_bar"):
        engine.sin(Value(np.ones(3))).backward()
    leaf = Value(np.array([0.0, 1.0]))
    engine.sin(leaf).backward(np.array([2.0, 3.0]))
    np.testing.assert_allclose(leaf.grad, [2.0, 3 * np.cos(1.0)])


def test_a_deep_tape_does_not_hit_the_recursion_limit():
    x = np.array(1.0)
    assert engine.grad(lambda v: _repeat(lambda w: w * 1.0, v, 5000), x) == 1.0


def _repeat(f, v, times):
    for _ in range(times):
        v = f(v)
    return v


def test_grad_of_inv_norm_is_seed_2s_formula():
    """dz/dX = -(Y^T Y Y^T) / z for z = ||X^-1||_F, Y = X^-1."""
    x = 3 * np.eye(6) + np.random.default_rng(1).standard_normal((6, 6)) / 3
    y = np.linalg.inv(x)
    g = engine.grad(lambda v: engine.norm(engine.inv(v)), x)
    np.testing.assert_allclose(g, -(y.T @ y @ y.T) / np.linalg.norm(y), rtol=1e-13)


def test_grad_of_sin_wy_is_seed_1s_outer_product():
    """d sum(v * sin(W y)) / dW = (v * cos(W y)) outer y."""
    rng = np.random.default_rng(0)
    w, y, v = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    g = engine.grad(lambda w_: (v * engine.sin(w_ @ y)).sum(), w)
    np.testing.assert_allclose(g, np.outer(v * np.cos(w @ y), y), rtol=1e-14)


def test_forward_and_reverse_mode_agree_on_a_composite():
    """jvp along v gives <grad, v>, and its value is the loss."""
    rng = np.random.default_rng(0)
    a, x, v = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal((4, 4))

    def loss(w):
        return engine.mean(engine.tanh(a @ w) * engine.cos(w.T[0])) + engine.log(engine.exp(w).sum())

    value, directional = engine.jvp(loss, x, v)
    assert value == pytest.approx(loss(x), rel=1e-15)
    assert directional == pytest.approx(np.sum(engine.grad(loss, x) * v), rel=1e-12)


def test_operations_on_plain_arrays_are_plain_numpy():
    x = np.array([[2.0, 1.0], [1.0, 3.0]])
    np.testing.assert_array_equal(engine.inv(x) @ x, np.linalg.inv(x) @ x)


def test_a_constant_array_on_the_left_defers_to_the_traced_value():
    assert isinstance(np.ones(3) * Value(np.ones(3)), Value)
    assert isinstance(np.ones(3) + Dual(np.ones(3), np.ones(3)), Dual)


def test_mixing_reverse_and_forward_mode_is_refused():
    with pytest.raises(TypeError, match="does not nest"):
        Value(np.ones(2)) + Dual(np.ones(2), np.ones(2))


def test_a_loss_that_ignores_x_has_zero_gradient():
    assert np.array_equal(engine.grad(lambda v: np.float64(2.0), np.ones(3)), np.zeros(3))


def test_the_engine_imports_no_torch():
    code = "import gradcmp.engine, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_example_in_the_engines_docstring_runs():
    import doctest

    assert doctest.testmod(engine).failed == 0
