"""Forward mode: the gradient assembled from one Jacobian-vector product per input direction."""
from gradcmp import deadline
from gradcmp.strategies.base import Strategy, check_time

# Directions pushed through at once under vmap: the basis chunk holds CHUNK_ENTRIES numbers,
# so memory stays bounded (tens of MiB in float64) whatever the number of inputs.
CHUNK_ENTRIES = 2 ** 22
# Directions timed together to estimate the whole gradient's time before the budget check.
PROBE_DIRECTIONS = 32


def _chunk_size(instance) -> int:
    """Directions per batch: one when the loss branches on values (vmap cannot trace it)."""
    numel = instance.x.numel()
    if instance.branches_on_values:
        return 1
    return max(1, min(numel, CHUNK_ENTRIES // numel))


def _basis(x, start: int, stop: int):
    import torch

    basis = torch.zeros(stop - start, x.numel(), dtype=x.dtype, device=x.device)
    basis[torch.arange(stop - start), torch.arange(start, stop)] = 1
    return basis


def _directional_derivatives(instance, start: int, stop: int):
    """<grad, e_i> for i in [start, stop): torch.func.jvp along each basis vector, batched by vmap;
    or, when the loss branches on tensor values (dopri5's step control), dual numbers
    (torch.autograd.forward_ad), one direction at a time."""
    import torch
    from torch.func import jvp, vmap

    x = instance.x.detach()
    basis = _basis(x, start, stop)
    if not instance.branches_on_values:
        return vmap(lambda x_dot: jvp(instance.loss, (x,), (x_dot.view_as(x),))[1])(basis)
    import torch.autograd.forward_ad as forward_ad

    tangents = []
    for x_dot in basis:
        with forward_ad.dual_level():
            loss = instance.loss(forward_ad.make_dual(x, x_dot.view_as(x)))
            tangents.append(forward_ad.unpack_dual(loss).tangent)
    return torch.stack(tangents)


class Jvp(Strategy):
    """One JVP per input entry, vmapped over chunks of the standard basis.

    Cost: about (number of inputs) x (a small multiple of the loss) -- forward mode pays per input,
    which is why it loses to reverse mode for a scalar loss of many inputs and wins for few.
    Through an ODE solver this is forward sensitivity analysis: the tangent of every state is
    carried along each step, nothing is kept for a backward pass.
    """

    name = "jvp"
    description = "forward mode: one JVP per input direction (torch.func.jvp under vmap, chunked)"

    def estimated_bytes(self, instance) -> float:
        """One chunk of basis vectors and its tangents of x, twice (the vmapped loss's own tangents
        come on top: a lower bound)."""
        return 2 * _chunk_size(instance) * instance.x.numel() * instance.x.element_size()

    def check_budget(self, instance, budget):
        from gradcmp.probes import warm_time

        # A probe of up to PROBE_DIRECTIONS directions, scaled to all of them. One direction alone
        # overstated the total up to 100x (the fixed cost of each vmapped call dominates it
        # through an ODE solve); 32 came within 1.5x on every problem.
        numel = instance.x.numel()
        probe = min(PROBE_DIRECTIONS, _chunk_size(instance), numel)
        seconds = warm_time(lambda: _directional_derivatives(instance, 0, probe), instance.x.device)
        check_time(f"{numel} JVPs", seconds * numel / probe, budget)

    def gradient(self, instance):
        import torch

        numel = instance.x.numel()
        chunk = _chunk_size(instance)
        parts = []
        for start in range(0, numel, chunk):
            deadline.check(start / numel)
            parts.append(_directional_derivatives(instance, start, min(numel, start + chunk)))
        return torch.cat(parts).view_as(instance.x)


STRATEGY = Jvp
