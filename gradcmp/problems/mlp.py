"""A small multilayer perceptron (seed 4): layers f(h, W) = h W with tanh between them, a squared loss,
differentiated with respect to all weights at once, as one flat vector."""
from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem


def forward(weights, inputs, target, tanh):
    """mean((tanh(...tanh(inputs W_1)...) W_L - target)^2) over a stack of weights (layers x width x width).

    Written once for torch tensors and for the engine's Values: `tanh` is the library's own.
    """
    hidden, layers = inputs, weights.shape[0]
    for layer in range(layers):
        hidden = hidden @ weights[layer]
        if layer < layers - 1:
            hidden = tanh(hidden)
    error = hidden - target
    return (error * error).mean()


def draw(params, seed):
    """(weights as one flat vector, inputs, target) in float64, drawn from `seed`.

    Inputs and target are standard normal, each W_l = G / sqrt(width): every layer's
    pre-activations stay of order 1, so tanh is neither linear nor saturated.
    """
    import torch

    width, layers, batch = params["size"], params["layers"], params["batch"]
    generator = torch.Generator().manual_seed(seed)
    theta = torch.randn(layers, width, width, generator=generator, dtype=torch.float64) / width ** 0.5
    inputs = torch.randn(batch, width, generator=generator, dtype=torch.float64)
    target = torch.randn(batch, width, generator=generator, dtype=torch.float64)
    return theta.reshape(-1), inputs, target


def build(params, dtype, device, seed) -> Instance:
    """The weights of draw(params, seed) are x. There is no closed form: the reference is float64
    torch autograd on the same data (tests/test_mlp.py checks it against hand-written backprop)."""
    import torch

    from gradcmp import engine

    shape = (params["layers"], params["size"], params["size"])
    theta64, inputs64, target64 = draw(params, seed)
    theta_leaf = theta64.clone().requires_grad_(True)
    (reference,) = torch.autograd.grad(forward(theta_leaf.view(shape), inputs64, target64, torch.tanh),
                                       theta_leaf)
    inputs, target = inputs64.to(dtype=dtype, device=device), target64.to(dtype=dtype, device=device)
    inputs_np, target_np = inputs64.to(dtype).numpy(), target64.to(dtype).numpy()
    return Instance(
        x=theta64.to(dtype=dtype, device=device),
        loss=lambda theta: forward(theta.view(shape), inputs, target, torch.tanh),
        numpy_loss=lambda theta: forward(theta.reshape(shape), inputs_np, target_np, engine.tanh),
        numpy_x=theta64.to(dtype).numpy(),
        reference=reference,
        info={"weights": f"{' x '.join(map(str, shape))} ({theta64.numel()} entries)"},
    )


def estimate(params) -> tuple[float, float]:
    """The weights four times (float64, its leaf, the run's dtype, numpy's copy) and the reference's
    activations kept for backward; flops: the reference's forward and backward products."""
    width, layers, batch = params["size"], params["layers"], params["batch"]
    return (4 * layers * width * width + 4 * layers * batch * width) * 8, 6 * layers * batch * width * width


PROBLEM = Problem(
    name="mlp",
    description="mean squared error of a tanh MLP, w.r.t. all its weights as one flat vector",
    params=(
        Param("size", 32, "width: every layer maps width -> width", minimum=1),
        Param("layers", 3, "number of weight matrices", minimum=1),
        Param("batch", 16, "rows of the input batch", minimum=1),
    ),
    test_params={"size": 4, "layers": 3, "batch": 5},
    build=build,
    provides=frozenset({"numpy"}),
    estimate=estimate,
)
