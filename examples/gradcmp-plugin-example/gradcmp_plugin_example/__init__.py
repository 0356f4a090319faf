"""A gradcmp plug-in: one problem and one strategy. torch is imported only when they compute, like
gradcmp's own, so `gradcmp list` stays fast."""
from gradcmp.config import Param
from gradcmp.problems import Instance, Problem
from gradcmp.strategies import Strategy


def build(params, dtype, device, seed):
    """A = I + G G^T / n (symmetric positive definite), x standard normal, both from `seed`."""
    import torch

    n = params["size"]
    generator = torch.Generator().manual_seed(seed)
    g = torch.randn(n, n, generator=generator, dtype=torch.float64)
    a64 = torch.eye(n, dtype=torch.float64) + g @ g.T / n
    x64 = torch.randn(n, generator=generator, dtype=torch.float64)
    a = a64.to(dtype=dtype, device=device)
    return Instance(x=x64.to(dtype=dtype, device=device), loss=lambda x: 0.5 * x @ (a @ x), reference=a64 @ x64)


PROBLEM = Problem(
    name="quadratic",
    description="0.5 x^T A x with A symmetric positive definite (a plug-in example)",
    params=(Param("size", 32, "length of x", minimum=1),),
    build=build,
)


class ForwardDiff(Strategy):
    """g_i = (L(x + h e_i) - L(x)) / h, h = sqrt(eps) max(1, |x_i|): n + 1 losses, error about sqrt(eps)."""

    name = "forward-diff"
    description = "one-sided finite differences, step sqrt(eps) (a plug-in example)"

    def gradient(self, instance):
        import torch

        x = instance.x.detach().clone()
        flat = x.view(-1)
        steps = torch.finfo(x.dtype).eps ** 0.5 * flat.abs().clamp(min=1)
        gradient = torch.empty_like(flat)
        with torch.no_grad():
            base = instance.loss(x)
            for i in range(flat.numel()):
                original = flat[i].clone()
                flat[i] = original + steps[i]
                gradient[i] = (instance.loss(x) - base) / (flat[i] - original)
                flat[i] = original
        return gradient.view_as(x)


STRATEGY = ForwardDiff
