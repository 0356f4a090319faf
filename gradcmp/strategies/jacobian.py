"""The naive way: materialise the Jacobian of every map in the chain, then multiply them (seed 2)."""
from functools import reduce

from gradcmp.strategies.base import Skip, Strategy, check_memory, check_time

# torch.func.jacrev / jacfwd hold the batch of basis vectors (as large as a square Jacobian) and
# batched intermediates beside each Jacobian: the profiler measured 4.0x the Jacobians' bytes on
# inv-norm (n = 16, 32, 48) and 1.0x on sin-wy, so 4x is the estimate.
WORKSPACE_FACTOR = 4


def _link_shapes(instance):
    """(output numel, input numel) of each map in the chain, from one forward pass."""
    import torch

    shapes, value = [], instance.x
    with torch.no_grad():
        for link in instance.chain:
            output = link(value)
            shapes.append((output.numel(), value.numel()))
            value = output
    return shapes


class Jacobian(Strategy):
    """Builds each dy_k/dy_{k-1} as a dense matrix (jacrev when it has fewer rows than columns,
    jacfwd otherwise) and multiplies them from the loss end.

    Memory: the sum of the Jacobians' sizes, n^4 entries for inv-norm, m^2 n for sin-wy.
    Time: one VJP or JVP per row or column of every Jacobian.
    """

    name = "jacobian"
    description = "explicit Jacobians of each map (torch.func.jacrev/jacfwd), multiplied"
    needs = frozenset({"chain"})

    def estimated_bytes(self, instance) -> float:
        """Every link's dense Jacobian, times the workspace the transforms need around them."""
        entries = sum(rows * cols for rows, cols in _link_shapes(instance))
        return WORKSPACE_FACTOR * entries * instance.x.element_size()

    def check_budget(self, instance, budget):
        from gradcmp.probes import warm_time

        if instance.branches_on_values:
            raise Skip("torch.func cannot trace a loss that branches on tensor values "
                       "(an adaptive ODE solver's step control)")
        shapes = _link_shapes(instance)
        matrices = " + ".join(f"{rows} x {cols}" for rows, cols in shapes)
        check_memory(f"the Jacobians ({matrices})", self.estimated_bytes(instance), budget)
        per_direction = warm_time(lambda: instance.loss(instance.x), instance.x.device)
        directions = sum(min(shape) for shape in shapes)
        check_time(f"{directions} Jacobian rows/columns", per_direction * directions, budget)

    def gradient(self, instance):
        from torch.func import jacfwd, jacrev

        jacobians, value = [], instance.x.detach()
        for link in instance.chain:
            output = link(value)
            differentiate = jacrev if output.numel() <= value.numel() else jacfwd
            jacobians.append(differentiate(link)(value).reshape(output.numel(), value.numel()))
            value = output
        row = reduce(lambda product, jacobian: product @ jacobian, reversed(jacobians))
        return row.reshape(instance.x.shape)


STRATEGY = Jacobian
