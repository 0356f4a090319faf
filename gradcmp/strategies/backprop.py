"""Backprop through the ODE solver (discretise-then-optimise): autograd records every step."""
from gradcmp.strategies.base import Strategy


def vector_field_saved_bytes(instance) -> int:
    """Bytes autograd saves for backward in one vector-field evaluation at x0 (measured, not guessed)."""
    import torch

    from gradcmp.probes import call_with_saved_bytes

    system = instance.ode
    theta = instance.x.detach().requires_grad_(True)
    with torch.enable_grad():
        params = system.parameters(theta)
        _, saved = call_with_saved_bytes(lambda: system.vector_field(system.times[0], system.x0, params))
    return saved


def forward_evaluations(instance) -> int:
    """Vector-field calls of one forward solve (one solve without a graph for dopri5)."""
    import torch

    system = instance.ode
    if not system.options.adaptive:
        from gradcmp.ode import SOLVERS
        from gradcmp.ode.fixed_step import fixed_grid

        steps = sum(n for _, _, n in fixed_grid(system.times, system.options.steps))
        return steps * SOLVERS[system.options.method].stages
    from collections import Counter

    counters = Counter()
    with torch.no_grad():
        system.trajectory(instance.x, counters)
    return counters["nfe_fwd"]


class Backprop(Strategy):
    """torch.autograd.grad through every stage of every solver step: the exact gradient of the
    discrete solution (dopri5: with the accepted step sizes held fixed).

    Memory: what each vector-field evaluation saves, times the number of evaluations: linear in
    steps. Time: about 2-3 forward solves. The backward pass replays the recorded graph and calls
    no vector field (nfe_bwd = 0).
    """

    name = "backprop"
    description = "autograd through every ODE solver step; memory grows with the steps"
    needs = frozenset({"ode"})
    autograd = True

    def estimated_bytes(self, instance) -> float:
        """What one vector-field call saves, times the calls of one solve."""
        return forward_evaluations(instance) * vector_field_saved_bytes(instance)

    def gradient(self, instance):
        import torch

        counters = instance.counters
        theta = instance.x.detach().requires_grad_(True)
        loss = instance.ode.objective(theta, counters)
        forward = counters["nfe_fwd"]
        (theta_bar,) = torch.autograd.grad(loss, theta)
        counters["nfe_bwd"] += counters["nfe_fwd"] - forward  # calls made while backward ran
        counters["nfe_fwd"] = forward
        return theta_bar


STRATEGY = Backprop
