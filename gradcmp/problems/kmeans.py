"""GradBench's `kmeans` objective: the sum over N points of the squared distance to the nearest of K
centroids, differentiated w.r.t. the centroids.

    f(C) = sum_i min_j ||C_j - P_i||^2

The squared distances are GradBench's all-pairs form ||P_i||^2 + ||C_j||^2 - 2 P_i . C_j (an N x K
matrix; no N x K x d array). Data as GradBench draws them: the points uniform on [0, 1)^d from `--seed`,
the centroids the last K points, so every centroid is nearest to at least one point (itself).

GradBench's eval asks for more than the gradient: its `dir` is J H^-1 with H the (diagonal) Hessian, for a
Newton step. gradcmp takes the scalar cost f and its gradient J, the part every strategy computes.

f is differentiable wherever no point is equidistant from two nearest centroids; the caption reports the
smallest gap between a point's nearest and second nearest squared distance (the `assignment margin`),
which finite differences must not step across. Reference: the closed form
df/dC_j = 2 sum_{i nearest to j} (C_j - P_i), with the nearest centroids found from direct differences in
float64.
"""
from gradcmp.config import ConfigError, Param
from gradcmp.problems.base import Instance, Problem


def squared_distances(centroids, points, point_norms):
    """(N, K): ||P_i||^2 + ||C_j||^2 - 2 P_i . C_j (point_norms: ||P_i||^2 as an (N, 1) column)."""
    return point_norms + centroids.square().sum(1) - 2 * points @ centroids.T


def nearest_sum(distances):
    return distances.min(1).values.sum()


CHUNK_ENTRIES = 2 ** 22  # points x centroids x d differences held at once by assignments


def assignments(points, centroids):
    """(nearest centroid of each point, assignment margin) from direct differences, float64 numpy,
    a chunk of points at a time so no N x K x d array is held."""
    import numpy as np

    N, K, d = points.shape[0], centroids.shape[0], points.shape[1]
    chunk = max(1, CHUNK_ENTRIES // (K * d))
    nearest, margin = np.empty(N, dtype=np.int64), float("inf")
    for start in range(0, N, chunk):
        distances = ((points[start:start + chunk, None, :] - centroids[None, :, :]) ** 2).sum(2)
        nearest[start:start + chunk] = distances.argmin(1)
        if K > 1:
            two = np.partition(distances, 1, axis=1)[:, :2]
            margin = min(margin, float((two[:, 1] - two[:, 0]).min()))
    return nearest, margin


def reference_gradient(points, centroids):
    """2 (count_j C_j - sum of the points nearest to j), float64 numpy, shaped like C."""
    import numpy as np

    nearest, _ = assignments(points, centroids)
    K = centroids.shape[0]
    counts = np.bincount(nearest, minlength=K)
    sums = np.zeros_like(centroids)
    np.add.at(sums, nearest, points)
    return 2 * (counts[:, None] * centroids - sums)


def build(params, dtype, device, seed) -> Instance:
    import torch

    K, N, d = params["K"], params["N"], params["d"]
    if K > N:
        raise ConfigError(f"K must be <= N for kmeans (the centroids are the last K points), got K={K}, N={N}")
    generator = torch.Generator().manual_seed(seed)
    points64 = torch.rand(N, d, generator=generator, dtype=torch.float64)
    centroids64 = points64[N - K:].clone()
    _, margin = assignments(points64.numpy(), centroids64.numpy())
    reference = torch.from_numpy(reference_gradient(points64.numpy(), centroids64.numpy()))
    points = points64.to(dtype=dtype, device=device)
    point_norms = points.square().sum(1, keepdim=True)

    def distances(centroids):
        return squared_distances(centroids, points, point_norms)

    return Instance(
        x=centroids64.to(dtype=dtype, device=device),
        loss=lambda centroids: nearest_sum(distances(centroids)),
        chain=(distances, nearest_sum),
        reference=reference,
        info={"assignment margin": f"{margin:.3g}"},
    )


def estimate(params) -> tuple[float, float]:
    """The points three times (float64, the run's dtype, the reference's), the N x K distances a few
    times (the loss's and its backward's) and a chunk of the reference's differences; flops: the
    N x K x d products and differences of the loss and the reference."""
    K, N, d = params["K"], params["N"], params["d"]
    return (3 * N * d + 4 * N * K + 2 * min(N * K * d, CHUNK_ENTRIES)) * 8, 6 * N * K * d


PROBLEM = Problem(
    name="kmeans",
    description="GradBench's kmeans cost: sum over points of the squared distance to the nearest centroid, "
                "w.r.t. the K x d centroids; reference: 2 sum (C_j - P_i) over each centroid's points",
    params=(
        Param("K", 10, "centroids (the last K points), <= N", minimum=1),
        Param("N", 1000, "points, uniform on the unit cube", minimum=1),
        Param("d", 8, "dimension of the space", minimum=1),
    ),
    test_params={"K": 3, "N": 12, "d": 2},
    build=build,
    provides=frozenset({"chain"}),
    estimate=estimate,
)
