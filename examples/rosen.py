# rosen.py: the Rosenbrock function as a gradcmp problem.
#   gradcmp run --problem examples/rosen.py:rosenbrock
#   gradcmp bench --problem examples/rosen.py:rosenbrock_n --param n=100,1000,10000
import torch


def rosenbrock(dtype, device, seed):
    x = torch.linspace(-1.5, 1.5, 200, dtype=dtype, device=device)
    return (lambda x: (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()), x


def rosenbrock_n(dtype, device, seed, n=200):
    """The same function in n variables: `n` is a param (--param n=1000)."""
    loss, _ = rosenbrock(dtype, device, seed)
    return loss, torch.linspace(-1.5, 1.5, n, dtype=dtype, device=device)
