"""Backprop with checkpoints: keep some states, recompute the steps between them in backward."""
from gradcmp.strategies.backprop import Backprop, forward_evaluations, vector_field_saved_bytes
from gradcmp.strategies.base import Skip


def schedule_of(system):
    """The checkpoint schedule (gradcmp.ode.schedules) the system's options ask for."""
    from gradcmp.ode.replay import flat_grid
    from gradcmp.ode.schedules import make

    grid, observations = flat_grid(system)
    return make(system.options.schedule, len(grid), system.options.checkpoints, observations)


class Checkpoint(Backprop):
    """Backprop that keeps only checkpoints in the forward pass and reruns, recorded, what it needs
    in the backward pass (gradcmp.ode.replay): the same gradient as backprop, to rounding.

    schedule=uniform (default): segments of round(sqrt(N)) steps, or N / checkpoints with
    `checkpoints=K`; memory N / length states plus one segment's activations; the backward pass
    reruns each step once (nfe_bwd = nfe_fwd). schedule=binomial: Revolve's schedule for K slots
    (default round(sqrt(N))); memory K states plus one step's activations; the fewest reruns possible
    for K slots (Griewank & Walther). Fixed-step methods only: dopri5 chooses its steps as it goes.
    """

    name = "checkpoint"
    knobs = ("checkpoints", "schedule")
    description = "backprop keeping K checkpoints (uniform segments or Revolve's binomial schedule); recomputes in backward"

    def estimated_bytes(self, instance) -> float:
        """Checkpoints kept through the forward pass, plus the activations of the longest rerun."""
        from gradcmp.ode.schedules import peak_slots

        system = instance.ode
        actions = schedule_of(system)
        longest = max(action[2] - action[1] for action in actions if action[0] == "reverse")
        per_step = forward_evaluations(instance) / system.options.steps  # the method's stages
        state = system.x0.numel() * system.x0.element_size()
        return peak_slots(actions) * state + longest * per_step * vector_field_saved_bytes(instance)

    def check_budget(self, instance, budget):
        if instance.ode.options.adaptive:
            raise Skip(f"checkpoint segments a fixed grid; method {instance.ode.options.method} "
                       "chooses its steps while solving")
        super().check_budget(instance, budget)

    def gradient(self, instance):
        import torch

        from gradcmp.ode.replay import scheduled_trajectory

        system = instance.ode
        theta = instance.x.detach().requires_grad_(True)
        states = scheduled_trajectory(system, theta, instance.counters, schedule_of(system))
        (theta_bar,) = torch.autograd.grad(system.loss_of_trajectory(states), theta)
        return theta_bar


STRATEGY = Checkpoint()
