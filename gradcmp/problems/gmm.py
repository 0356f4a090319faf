"""GradBench's `gmm` (ADBench's GMM with GradBench's three fixes): the log posterior of a Gaussian
mixture with a Wishart prior on its precision matrices, differentiated w.r.t. all its parameters.

K components in dimension d, N data points x_i. The parameters, x = (alpha, mu, q, l) flattened in that
order (alpha: K; mu: K x d row-major; q: K x d; l: K x d(d-1)/2):

    Q_k     lower triangular, diagonal exp(q_k), strict lower part l_k filled column by column
            (Q[1,0], Q[2,0], ..., Q[d-1,0], Q[2,1], ...); precision Sigma_k^-1 = Q_k^T Q_k
    beta_ik = alpha_k + sum_j q_kj - 1/2 ||Q_k (x_i - mu_k)||^2
    F       = -N (d/2 log 2 pi + lse(alpha)) + sum_i lse_k(beta_ik)
              + K (n d log(gamma / sqrt 2) - log Gamma_d(n / 2))
              - gamma^2 / 2 sum_k (||exp q_k||^2 + ||l_k||^2) + m sum_kj q_kj,      n = d + m + 1

(lse = log-sum-exp, Gamma_d the multivariate gamma function; m = 0 and gamma = 1 as in GradBench.)
Data as GradBench draws it, from a seeded torch generator here: x_i, alpha, q, l standard normal,
mu uniform on [0, 1).

Reference: the hand-derived gradient, in float64 numpy (no autograd). With r_ik = softmax_k(beta_ik),
z_ik = Q_k (x_i - mu_k) and G_k = -sum_i r_ik z_ik (x_i - mu_k)^T (dF/dQ_k from the likelihood):

    dF/dalpha_k = sum_i r_ik - N softmax(alpha)_k
    dF/dmu_k    = Q_k^T sum_i r_ik z_ik
    dF/dq_kj    = sum_i r_ik + G_k[j, j] exp(q_kj) - gamma^2 exp(2 q_kj) + m
    dF/dl_kp    = G_k[row p, col p] - gamma^2 l_kp

tests/test_adbench_problems.py checks it against central differences and the loss against a direct
evaluation of the densities.
"""
import math
from functools import lru_cache

from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem

GAMMA = 1.0  # the Wishart prior's precision, GradBench's default
M = 0  # the prior's extra degrees of freedom, GradBench's default


@lru_cache(maxsize=8)
def lower_positions(d: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(rows, cols) of the strict lower triangle of a d x d matrix, column by column: the order of l."""
    rows = tuple(row for col in range(d) for row in range(col + 1, d))
    cols = tuple(col for col in range(d) for _ in range(col + 1, d))
    return rows, cols


def _q_gather_index(d: int):
    """For each of Q's d*d entries (row-major), its index in [exp(q_k), l_k, 0]: the diagonal from
    exp(q), the strict lower part from l, the upper part the trailing zero."""
    import torch

    size = d * (d - 1) // 2
    index = torch.full((d, d), d + size, dtype=torch.long)
    index[range(d), range(d)] = torch.arange(d)
    rows, cols = lower_positions(d)
    index[rows, cols] = d + torch.arange(size)
    return index.reshape(-1)


def log_multigamma(a: float, d: int) -> float:
    """log Gamma_d(a) = d(d-1)/4 log pi + sum_{j=1..d} log Gamma(a + (1 - j) / 2)."""
    return d * (d - 1) / 4 * math.log(math.pi) + sum(math.lgamma(a + (1 - j) / 2) for j in range(1, d + 1))


def constant(d: int, K: int, N: int, gamma: float = GAMMA, m: int = M) -> float:
    """The terms of F that depend on no parameter: -N d/2 log 2 pi and the prior's normaliser."""
    n = d + m + 1
    return -N * d / 2 * math.log(2 * math.pi) + K * (n * d * math.log(gamma / math.sqrt(2))
                                                       - log_multigamma(n / 2, d))


def split(x, d: int, K: int):
    """alpha (K), mu (K x d), q (K x d), l (K x d(d-1)/2): views of the flat x."""
    size = d * (d - 1) // 2
    alpha, mu, q, l = x.split([K, K * d, K * d, K * size])
    return alpha, mu.view(K, d), q.view(K, d), l.view(K, size)


def objective(x, points, index, K: int, const, gamma: float = GAMMA, m: int = M):
    """F for the flat parameters x, vectorised over points and components (torch, no Python loop).

    const (constant(...)) is a 0-dim tensor of x's dtype, and Python floats only ever scale arrays:
    torch.func.jvp gives a float64 tangent for a Python float combined with a 0-dim float32 tensor.

    Q_k is gathered from [exp(q_k), l_k, 0] (index: _q_gather_index), so the same code runs under
    autograd, torch.func's vmap and forward mode. Q_k x_i for every k and i is one (N x d) @ (d x Kd)
    product, Q_k (x_i - mu_k) = Q_k x_i - Q_k mu_k: the (N, K, d) array is the largest intermediate.
    """
    import torch

    N, d = points.shape
    alpha, mu, q, l = split(x, d, K)
    diagonal = torch.exp(q)
    entries = torch.cat([diagonal, l, torch.zeros_like(q[:, :1])], dim=1)
    Q = entries[:, index].view(K, d, d)
    stacked = Q.permute(2, 0, 1).reshape(d, K * d)  # stacked[j, k d + a] = Q_k[a, j]
    minus_q_mu = -(Q @ mu.unsqueeze(2)).view(1, K, d)  # added, not subtracted: its VJP is a sum, no negation
    z = (points @ stacked).view(N, K, d) + minus_q_mu  # z[i, k] = Q_k (x_i - mu_k)
    sum_q = q.sum(1)
    beta = (alpha + sum_q) - 0.5 * z.square().sum(2)  # (N, K)
    likelihood = torch.logsumexp(beta, 1).sum() - N * torch.logsumexp(alpha, 0)
    prior = (-0.5 * gamma * gamma * (diagonal.square().sum(1) + l.square().sum(1)) + m * sum_q).sum()
    return const + likelihood + prior


def reference_gradient(points, alpha, mu, q, l, gamma: float = GAMMA, m: int = M):
    """The hand-derived gradient (module docstring) in numpy, flat in x's order."""
    import numpy as np

    K, d = mu.shape
    N = points.shape[0]
    rows, cols = lower_positions(d)
    Q = np.zeros((K, d, d))
    Q[:, range(d), range(d)] = np.exp(q)
    Q[:, rows, cols] = l
    q_mu = np.einsum("kab,kb->ka", Q, mu)
    z = (points @ Q.transpose(2, 0, 1).reshape(d, K * d)).reshape(N, K, d) - q_mu  # Q_k (x_i - mu_k)
    beta = alpha + q.sum(1) - 0.5 * np.sum(z * z, axis=2)  # (N, K)
    r = np.exp(beta - beta.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)  # responsibilities
    weights = np.exp(alpha - alpha.max())
    weights /= weights.sum()
    rz = r[:, :, None] * z  # (N, K, d)
    rz_sum = rz.sum(axis=0)  # (K, d)
    # G_k = -sum_i r_ik z_ik (x_i - mu_k)^T = -sum_i r_ik z_ik x_i^T + (sum_i r_ik z_ik) mu_k^T
    G = -(rz.reshape(N, K * d).T @ points).reshape(K, d, d) + rz_sum[:, :, None] * mu[:, None, :]
    mass = r.sum(axis=0)
    g_alpha = mass - N * weights
    g_mu = np.einsum("kab,ka->kb", Q, rz_sum)
    g_q = mass[:, None] + G[:, range(d), range(d)] * np.exp(q) - gamma * gamma * np.exp(2 * q) + m
    g_l = G[:, rows, cols] - gamma * gamma * l
    return np.concatenate([g_alpha, g_mu.ravel(), g_q.ravel(), g_l.ravel()])


def draw(params, seed):
    """(points N x d, alpha, mu, q, l) in float64 from `seed`, in GradBench's order and distributions."""
    import torch

    d, K, N = params["d"], params["K"], params["N"]
    generator = torch.Generator().manual_seed(seed)
    normal = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    points = normal(N, d)
    alpha = normal(K)
    mu = torch.rand(K, d, generator=generator, dtype=torch.float64)
    q = normal(K, d)
    l = normal(K, d * (d - 1) // 2)  # noqa: E741 - GradBench's name
    return points, alpha, mu, q, l


def build(params, dtype, device, seed) -> Instance:
    import torch

    d, K, N = params["d"], params["K"], params["N"]
    points64, alpha, mu, q, l = draw(params, seed)
    x64 = torch.cat([alpha, mu.reshape(-1), q.reshape(-1), l.reshape(-1)])
    reference = torch.from_numpy(reference_gradient(points64.numpy(), alpha.numpy(), mu.numpy(),
                                                    q.numpy(), l.numpy()))
    points = points64.to(dtype=dtype, device=device)
    index = _q_gather_index(d).to(device)
    const = torch.tensor(constant(d, K, N), dtype=dtype, device=device)
    return Instance(
        x=x64.to(dtype=dtype, device=device),
        loss=lambda x: objective(x, points, index, K, const),
        reference=reference,
        info={"parameters": f"alpha {K}, mu {K} x {d}, q {K} x {d}, l {K} x {d * (d - 1) // 2} "
                            f"({x64.numel()} entries)"},
    )


def estimate(params) -> tuple[float, float]:
    """About ten (K, N, d) float64 arrays (the loss's centred points and Q(x - mu), kept for backward,
    and the reference's), the K d x d matrices Q a few times, the points; flops: the products
    Q_k (x_i - mu_k) of the loss and the reference's products with them, about 8 K N d^2."""
    d, K, N = params["d"], params["K"], params["N"]
    return (10 * K * N * d + 6 * K * d * d + 3 * N * d) * 8, 8 * K * N * d * d + 10 * K * N * d


PROBLEM = Problem(
    name="gmm",
    description="GradBench's gmm: Gaussian mixture log posterior with a Wishart prior, w.r.t. "
                "(alpha, mu, q, l); reference: hand-derived gradient",
    params=(
        Param("K", 5, "mixture components", minimum=1),
        Param("d", 10, "dimension of the space", minimum=1),
        Param("N", 1000, "data points", minimum=1),
    ),
    test_params={"K": 3, "d": 4, "N": 10},  # d = 4: column-by-column and row-by-row fills of l differ
    build=build,
    estimate=estimate,
)
