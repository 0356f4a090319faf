"""The ADBench / GradBench problems: each reference against float64 central differences, each loss
against a direct evaluation of its definition, and the layout of x. tests/test_strategies.py crosses
them with every strategy on their test_params."""
import math

import numpy as np
import pytest
import torch

from gradcmp.problems import PROBLEMS


def central_differences(loss, x, h):
    """The gradient of loss at float64 x by central differences, entry by entry, step h."""
    flat = x.detach().reshape(-1)
    gradient = torch.zeros_like(flat)
    for i in range(flat.numel()):
        step = torch.zeros_like(flat)
        step[i] = h
        gradient[i] = (loss((flat + step).view_as(x)) - loss((flat - step).view_as(x))) / (2 * h)
    return gradient.view_as(x)


def relative(a, b) -> float:
    return float((a - b).norm() / b.norm())


# ---------------------------------------------------------------------------------------------- gmm

GMM_SMALL = {"K": 3, "d": 4, "N": 10}


def test_gmm_reference_matches_central_differences(build):
    instance = build("gmm", **GMM_SMALL)
    assert relative(central_differences(instance.loss, instance.x, 1e-6), instance.reference) < 1e-8


def test_gmm_reference_matches_autograd_at_a_larger_size(build):
    instance = build("gmm", K=7, d=12, N=200, seed=3)
    x = instance.x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(instance.loss(x), x)
    assert relative(gradient, instance.reference) < 1e-12


def test_gmm_x_is_alpha_mu_q_l_flattened(build):
    from gradcmp.problems.gmm import draw

    K, d, N = GMM_SMALL["K"], GMM_SMALL["d"], GMM_SMALL["N"]
    instance = build("gmm", **GMM_SMALL)
    assert instance.x.shape == (K + 2 * K * d + K * d * (d - 1) // 2,) == instance.reference.shape
    points, alpha, mu, q, l = draw(GMM_SMALL, 0)
    assert points.shape == (N, d)
    assert torch.equal(instance.x, torch.cat([alpha, mu.reshape(-1), q.reshape(-1), l.reshape(-1)]))


def _direct_log_posterior(points, alpha, mu, q, l, gamma=1.0, m=0):
    """GradBench's definition written out: Q_k filled column by column with loops, Sigma_k^-1 = Q_k^T Q_k,
    the mixture density point by point with determinants, the Wishart density of each precision
    matrix with its trace and determinant."""
    N, d = points.shape
    K = len(alpha)
    Q = []
    for k in range(K):
        Qk, position = np.zeros((d, d)), 0
        for col in range(d):
            Qk[col, col] = math.exp(q[k][col])
            for row in range(col + 1, d):
                Qk[row, col] = l[k][position]
                position += 1
        Q.append(Qk)
    precisions = [Qk.T @ Qk for Qk in Q]
    phi = np.exp(alpha) / np.exp(alpha).sum()
    log_likelihood = 0.0
    for i in range(N):
        density = 0.0
        for k in range(K):
            centred = points[i] - mu[k]
            density += phi[k] * math.exp(-0.5 * centred @ precisions[k] @ centred) / math.sqrt(
                (2 * math.pi) ** d / np.linalg.det(precisions[k]))
        log_likelihood += math.log(density)
    n = d + m + 1
    log_multigamma = d * (d - 1) / 4 * math.log(math.pi) + sum(math.lgamma(n / 2 + (1 - j) / 2)
                                                                for j in range(1, d + 1))
    V = np.eye(d) / gamma ** 2
    log_prior = 0.0
    for precision in precisions:
        log_prior += ((n - d - 1) / 2 * math.log(np.linalg.det(precision))
                      - np.trace(np.linalg.inv(V) @ precision) / 2
                      - (n * d / 2) * math.log(2) - (n / 2) * math.log(np.linalg.det(V)) - log_multigamma)
    return log_likelihood + log_prior


@pytest.mark.parametrize("params", [GMM_SMALL, {"K": 2, "d": 1, "N": 5}, {"K": 4, "d": 3, "N": 7}])
def test_gmm_loss_is_the_log_posterior_of_the_definition(build, params):
    from gradcmp.problems.gmm import draw

    points, alpha, mu, q, l = (tensor.numpy() for tensor in draw(params, 0))
    instance = build("gmm", **params)
    assert float(instance.loss(instance.x)) == pytest.approx(_direct_log_posterior(points, alpha, mu, q, l),
                                                             rel=1e-12)


def test_gmm_prior_constants_follow_gamma_and_m():
    """The Wishart terms for gamma and m other than GradBench's defaults, against the direct density."""
    from gradcmp.problems.gmm import _q_gather_index, constant, draw, objective, reference_gradient

    params = {"K": 2, "d": 3, "N": 4}
    points, alpha, mu, q, l = draw(params, 5)
    x = torch.cat([alpha, mu.reshape(-1), q.reshape(-1), l.reshape(-1)])
    for gamma, m in ((1.0, 0), (0.7, 2)):
        const = torch.tensor(constant(3, 2, 4, gamma, m), dtype=torch.float64)
        value = objective(x, points, _q_gather_index(3), 2, const, gamma, m)
        direct = _direct_log_posterior(points.numpy(), alpha.numpy(), mu.numpy(), q.numpy(), l.numpy(), gamma, m)
        assert float(value) == pytest.approx(direct, rel=1e-12)
        reference = torch.from_numpy(reference_gradient(points.numpy(), alpha.numpy(), mu.numpy(), q.numpy(),
                                                        l.numpy(), gamma, m))
        finite = central_differences(lambda x: objective(x, points, _q_gather_index(3), 2, const, gamma, m), x, 1e-6)
        assert relative(finite, reference) < 1e-8


def test_gmm_handles_the_largest_gradbench_size_without_a_python_loop_over_points(build):
    """d = 64, K = 100, N = 1000 (about 2 x 10^5 parameters) builds and its reference is finite."""
    instance = build("gmm", K=100, d=64, N=1000)
    assert instance.x.numel() == 100 * (1 + 2 * 64 + 64 * 63 // 2) == 214_500
    assert torch.isfinite(instance.reference).all() and torch.isfinite(instance.loss(instance.x))


# --------------------------------------------------------------------------------------------- lstm

LSTM_SMALL = {"c": 6, "l": 2, "b": 3}


def test_lstm_reference_matches_central_differences(build):
    instance = build("lstm", **LSTM_SMALL)
    assert relative(central_differences(instance.loss, instance.x, 1e-6), instance.reference) < 1e-8


def test_lstm_reference_matches_autograd_over_a_longer_sequence(build):
    instance = build("lstm", c=300, l=3, b=5, seed=2)
    x = instance.x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(instance.loss(x), x)
    assert relative(gradient, instance.reference) < 1e-12


def _direct_lstm_loss(main_params, extra_params, state, sequence):
    """ADBench's loop order, entry by entry: time outermost, then layers, then the b entries, with the
    state overwritten in place; the gates read from main_params' rows as ADBench lays them out."""
    layers, bits = len(main_params) // 2, sequence.shape[1]
    sigmoid = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    state = [list(row) for row in state]
    total = 0.0
    for t in range(len(sequence) - 1):
        layer_input = [sequence[t][j] * extra_params[0][j] for j in range(bits)]
        for k in range(layers):
            weight, bias = main_params[2 * k], main_params[2 * k + 1]
            hidden, cell = state[2 * k], state[2 * k + 1]
            for j in range(bits):
                forget = sigmoid(layer_input[j] * weight[j] + bias[j])
                ingate = sigmoid(hidden[j] * weight[bits + j] + bias[bits + j])
                outgate = sigmoid(layer_input[j] * weight[2 * bits + j] + bias[2 * bits + j])
                change = math.tanh(hidden[j] * weight[3 * bits + j] + bias[3 * bits + j])
                cell[j] = cell[j] * forget + ingate * change
                hidden[j] = outgate * math.tanh(cell[j])
            layer_input = hidden
        predicted = [layer_input[j] * extra_params[1][j] + extra_params[2][j] for j in range(bits)]
        log_normaliser = math.log(sum(math.exp(p) for p in predicted) + 2)
        total += sum(sequence[t + 1][j] * (predicted[j] - log_normaliser) for j in range(bits))
    return -total / ((len(sequence) - 1) * bits)


@pytest.mark.parametrize("params", [LSTM_SMALL, {"c": 9, "l": 3, "b": 4}, {"c": 2, "l": 1, "b": 1}])
def test_lstm_loss_is_adbenchs_step_by_step_objective_with_the_plus_2(build, params):
    from gradcmp.problems.lstm import draw

    main_params, extra_params, state, sequence = (tensor.tolist() for tensor in draw(params, 1))
    instance = build("lstm", seed=1, **params)
    direct = _direct_lstm_loss(main_params, extra_params, state, np.array(sequence))
    assert float(instance.loss(instance.x)) == pytest.approx(direct, rel=1e-13)


def test_lstm_data_are_uniform_weights_and_bit_characters(build):
    from gradcmp.problems.lstm import draw

    c, l, b = 50, 2, 14
    main_params, extra_params, state, sequence = draw({"c": c, "l": l, "b": b}, 0)
    assert main_params.shape == (2 * l, 4 * b) and extra_params.shape == (3, b) and state.shape == (2 * l, b)
    assert sequence.shape == (c, b) and set(sequence.unique().tolist()) == {0.0, 1.0}
    assert 0 <= float(main_params.min()) and float(main_params.max()) < 1
    instance = build("lstm", c=c, l=l, b=b)
    assert instance.x.shape == (8 * l * b + 3 * b,) == instance.reference.shape
    assert torch.equal(instance.x[:8 * l * b], main_params.reshape(-1))


# ---------------------------------------------------------------------------------------------- det


def _det_recursive(rows):
    """Expansion in minors along the first row, recursively, in plain Python."""
    if len(rows) == 1:
        return rows[0][0]
    return sum((-1) ** j * rows[0][j] * _det_recursive([row[:j] + row[j + 1:] for row in rows[1:]])
               for j in range(len(rows)))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_det_loss_is_the_expansion_in_minors(build, n):
    instance = build("det", size=n)
    value = float(instance.loss(instance.x))
    assert value == pytest.approx(_det_recursive(instance.x.tolist()), rel=1e-12, abs=1e-15)
    assert value == pytest.approx(float(torch.linalg.det(instance.x)), rel=1e-12)


def test_det_reference_matches_central_differences_and_the_cofactors(build):
    instance = build("det", size=5)
    assert relative(central_differences(instance.loss, instance.x, 1e-6), instance.reference) < 1e-8
    A = instance.x.tolist()
    cofactors = torch.tensor([[(-1) ** (i + j) * _det_recursive([row[:j] + row[j + 1:] for k, row in enumerate(A)
                                                                 if k != i]) for j in range(5)] for i in range(5)],
                             dtype=torch.float64)
    assert relative(cofactors, instance.reference) < 1e-12


def test_det_is_uniform_on_0_1_and_refuses_sizes_past_the_cap(build):
    from gradcmp.config import ConfigError
    from gradcmp.problems.det import MAX_SIZE

    instance = build("det", size=6)
    assert instance.x.shape == (6, 6) and 0 <= float(instance.x.min()) and float(instance.x.max()) < 1
    with pytest.raises(ConfigError, match=f"<= {MAX_SIZE}"):
        build("det", size=MAX_SIZE + 1)


def test_det_estimate_grows_as_n_factorial():
    estimate = PROBLEMS["det"].estimate
    (bytes_9, flops_9), (bytes_10, flops_10) = estimate({"size": 9}), estimate({"size": 10})
    assert 9.5 < flops_10 / flops_9 < 10.5 and 9.5 < bytes_10 / bytes_9 < 10.5
    assert estimate({"size": 12})[0] > 32 * 2 ** 30  # a run's memory budget refuses it before building


# --------------------------------------------------------------------------------------------- llsq


def _llsq_loop(x, n):
    """GradBench's llsq primal as its loop states it: powers of t_i by repeated multiplication."""
    total = 0.0
    for i in range(n):
        t = -1 + i * 2 / (n - 1)
        inner, power = float((t > 0) - (t < 0)), 1.0
        for coefficient in x:
            inner -= coefficient * power
            power *= t
        total += inner * inner
    return total / 2


@pytest.mark.parametrize("n, m", [(9, 4), (2, 1), (64, 16), (1000, 128)])
def test_llsq_loss_is_gradbenchs_loop(build, n, m):
    instance = build("llsq", n=n, m=m)
    assert instance.x.shape == (m,) == instance.reference.shape
    assert 0 <= float(instance.x.min()) and float(instance.x.max()) < 1
    assert float(instance.loss(instance.x)) == pytest.approx(_llsq_loop(instance.x.tolist(), n), rel=1e-12)


def test_llsq_reference_matches_central_differences(build):
    instance = build("llsq", n=33, m=6)
    assert relative(central_differences(instance.loss, instance.x, 1e-6), instance.reference) < 1e-8


def test_llsq_points_and_signs():
    from gradcmp.problems.llsq import data

    V, s = data(5, 3)
    assert V[:, 1].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0] and s.tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    assert torch.equal(V[:, 0], torch.ones(5)) and torch.equal(V[:, 2], V[:, 1] ** 2)


# ---------------------------------------------------------------------------------------------- lse


@pytest.mark.parametrize("size, spread", [(7, 10.0), (1, 1.0), (10_000, 1.0), (1000, 2000.0)])
def test_lse_loss_is_log_sum_exp_and_the_reference_softmax(build, size, spread):
    instance = build("lse", size=size, spread=spread)
    assert instance.x.shape == (size,) == instance.reference.shape
    assert 0 <= float(instance.x.min()) and float(instance.x.max()) < spread
    assert float(instance.loss(instance.x)) == pytest.approx(float(torch.logsumexp(instance.x, 0)), rel=1e-14)
    assert torch.allclose(instance.reference, torch.softmax(instance.x, 0), rtol=1e-14, atol=0)


def test_lse_reference_matches_central_differences(build):
    instance = build("lse", size=20, spread=10.0)
    assert relative(central_differences(instance.loss, instance.x, 1e-6), instance.reference) < 1e-8


def test_lse_has_no_overflow_where_the_plain_formula_has_one(build):
    """spread 2000: exp(x) overflows float64 (and float32) without the max shift; the loss stays finite,
    float32 included, and its gradient is the softmax."""
    instance = build("lse", dtype=torch.float32, size=100, spread=2000.0)
    assert not torch.isfinite(torch.exp(instance.x.double()).sum())
    x = instance.x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(instance.loss(x), x)
    assert torch.isfinite(gradient).all() and relative(gradient.double(), instance.reference) < 1e-5


def test_lse_zero_gradient_fails_gradcmps_check_where_gradbenchs_passes_it(build):
    from gradcmp.measure import gradient_errors

    instance = build("lse", size=20_000, spread=1.0)
    assert float(instance.reference.max()) < 1e-4  # GradBench's 1e-4 below 1: zeros would pass there
    assert gradient_errors(torch.zeros(20_000, dtype=torch.float64), instance.reference)[0] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------- kmeans


def test_kmeans_loss_is_the_sum_of_squared_distances_to_the_nearest_centroid(build):
    instance = build("kmeans", K=4, N=30, d=3)
    points = torch.rand(30, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(instance.x, points[-4:])  # GradBench's centroids: the last K points
    direct = sum(min(float(((p - c) ** 2).sum()) for c in instance.x) for p in points)
    assert float(instance.loss(instance.x)) == pytest.approx(direct, rel=1e-12)


def test_kmeans_reference_matches_central_differences(build):
    instance = build("kmeans", K=5, N=40, d=3)
    h = 1e-6
    assert float(instance.info["assignment margin"]) > 1e3 * h  # no step crosses a nearest-centroid boundary
    assert relative(central_differences(instance.loss, instance.x, h), instance.reference) < 1e-8


def test_kmeans_every_centroid_has_a_point_and_K_past_N_is_refused(build):
    from gradcmp.config import ConfigError
    from gradcmp.problems.kmeans import assignments

    instance = build("kmeans", K=10, N=200, d=2)
    nearest, margin = assignments(torch.rand(200, 2, generator=torch.Generator().manual_seed(0),
                                             dtype=torch.float64).numpy(), instance.x.numpy())
    assert set(nearest.tolist()) == set(range(10)) and margin > 0
    assert instance.x.shape == (10, 2) == instance.reference.shape
    with pytest.raises(ConfigError, match="K must be <= N"):
        build("kmeans", K=5, N=4, d=2)


def test_kmeans_chain_composes_to_the_loss(build):
    instance = build("kmeans", K=3, N=12, d=2)
    distances, nearest_sum = instance.chain
    assert distances(instance.x).shape == (12, 3)
    assert float(nearest_sum(distances(instance.x))) == float(instance.loss(instance.x))


def test_kmeans_assignments_in_chunks_agree_with_one_pass(monkeypatch):
    import gradcmp.problems.kmeans as kmeans

    points = torch.rand(50, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64).numpy()
    whole = kmeans.assignments(points, points[-6:])
    monkeypatch.setattr(kmeans, "CHUNK_ENTRIES", 6 * 3 * 7)  # 7 points per chunk, the last one short
    chunked = kmeans.assignments(points, points[-6:])
    assert (whole[0] == chunked[0]).all() and whole[1] == chunked[1]
