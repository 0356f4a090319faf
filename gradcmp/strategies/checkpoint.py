"""Backprop with checkpoints: keep some states, recompute the steps between them in backward."""
from gradcmp.strategies.backprop import Backprop, forward_evaluations, vector_field_saved_bytes
from gradcmp.strategies.base import Skip


def schedule_of(system):
    """The checkpoint schedule (gradcmp.ode.schedules) the system's options ask for."""
    from gradcmp.ode.replay import flat_grid
    from gradcmp.ode.schedules import make

    grid, observations = flat_grid(system)
    return make(system.options.schedule, len(grid), system.options.checkpoints, observations)


def one_state(method: str) -> None:
    """Raise Skip for a method that carries more than the state from step to step (reversible_heun):
    a checkpoint of x alone cannot restart it."""
    from gradcmp.ode import SOLVERS

    if not hasattr(SOLVERS[method], "step"):
        raise Skip(f"checkpoints restart a solve from x alone; method {method} carries a second state")


class Checkpoint(Backprop):
    """Backprop that keeps only checkpoints in the forward pass and reruns, recorded, what it needs
    in the backward pass (gradcmp.ode.replay): the same gradient as backprop, to rounding.

    schedule=uniform (default): segments of round(sqrt(N)) steps, or N / checkpoints with
    `checkpoints=K`; memory N / length states plus one segment's activations; the backward pass
    reruns each step once (nfe_bwd = nfe_fwd). schedule=binomial: Revolve's schedule for K slots
    (default round(sqrt(N))); memory K states plus one step's activations; the fewest reruns possible
    for K slots (Griewank & Walther). dopri5: the forward solve records its accepted steps and keeps
    the state at every k-th (`checkpoints=k`; 0: each, as ACA) and at each observation; the backward
    pass replays those steps exactly (six evaluations each, rejected attempts never rerun), so the
    gradient is backprop's through the same accepted steps. Uniform only there: Revolve needs the
    number of steps before the solve.
    """

    name = "checkpoint"
    declared = ("checkpoints", "schedule")
    description = "backprop keeping K checkpoints (uniform segments or Revolve's binomial schedule); recomputes in backward"

    def estimated_bytes(self, instance) -> float:
        """Checkpoints kept through the forward pass, plus the activations of the longest rerun."""
        from gradcmp.ode import SOLVERS
        from gradcmp.ode.schedules import peak_slots

        system = instance.ode
        state = system.x0.numel() * system.x0.element_size()
        if system.options.adaptive:  # dopri5: a state every k-th of the accepted steps, 6 evaluations each
            every = system.options.checkpoints or 1
            accepted = forward_evaluations(instance) // 6
            return (accepted // every + len(system.times)) * state + every * 6 * vector_field_saved_bytes(instance)
        actions = schedule_of(system)
        longest = max(action[2] - action[1] for action in actions if action[0] == "reverse")
        per_step = SOLVERS[system.options.method].stages
        return peak_slots(actions) * state + longest * per_step * vector_field_saved_bytes(instance)

    def check_budget(self, instance, budget):
        options = instance.ode.options
        one_state(options.method)
        if options.adaptive and options.schedule != "uniform":
            raise Skip(f"the binomial schedule needs the number of steps before solving; method "
                       f"{options.method} chooses its steps while solving (schedule=uniform replays them)")
        super().check_budget(instance, budget)

    def gradient(self, instance):
        from gradcmp.ode.replay import scheduled_trajectory

        return instance.ode.gradient_through(scheduled_trajectory, instance.x, instance.counters)


STRATEGY = Checkpoint()
