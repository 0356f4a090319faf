# module_problem.py: a small nn.Module compared like the built-in mlp (gradient w.r.t. all its weights).
#   gradcmp run --problem examples/module_problem.py:regression --param width=32
import torch

import gradcmp


def regression(dtype, device, seed, width=16, batch=32):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))
    model = model.to(dtype=dtype, device=device)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 4, generator=generator, dtype=torch.float64)
    targets = inputs.sin().sum(dim=1, keepdim=True)
    data = (inputs.to(dtype=dtype, device=device), targets.to(dtype=dtype, device=device))
    return gradcmp.ModuleProblem(
        module=model,
        loss_fn=lambda model, batch: torch.nn.functional.mse_loss(model(batch[0]), batch[1]),
        batch=data,
    )
