"""Backprop with checkpoints: keep some states, recompute the steps between them in backward."""
from gradcmp.config import Param
from gradcmp.ode.schedules import SCHEDULES
from gradcmp.strategies.backprop import Backprop, forward_evaluations, vector_field_saved_bytes

CHECKPOINT_OPTIONS = (
    Param("checkpoints", 0, "states kept (0: about sqrt(steps)); with dopri5, keep every k-th accepted step "
          "(0: each)", minimum=0),
    Param("schedule", "uniform", "where the checkpoints go (binomial: Revolve's, fewest reruns; needs a "
          "fixed-step method)", choices=SCHEDULES),
)


def checkpoint_needs(strategy) -> frozenset[str]:
    """A checkpoint restarts the solve from x alone; Revolve's schedule needs the steps before solving."""
    fixed = {"fixed-step"} if strategy.config["schedule"] != "uniform" else set()
    return strategy.needs | {"single-state"} | fixed


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
    for K slots (Griewank & Walther). dopri5: the forward solve records its accepted steps and keeps
    the state at every k-th (`checkpoints=k`; 0: each, as ACA) and at each observation; the backward
    pass replays those steps exactly (six evaluations each, rejected attempts never rerun), so the
    gradient is backprop's through the same accepted steps. Uniform only there: Revolve needs the
    number of steps before the solve.
    """

    name = "checkpoint"
    options = CHECKPOINT_OPTIONS
    solver_options = {"checkpoints": "checkpoints", "schedule": "schedule"}
    description = "backprop keeping K checkpoints (uniform segments or Revolve's binomial schedule); recomputes in backward"

    def estimated_bytes(self, instance) -> float:
        """Checkpoints kept through the forward pass, plus the activations of the longest rerun."""
        from gradcmp.ode import SOLVERS
        from gradcmp.ode.schedules import peak_slots

        system = self.system(instance)
        state = system.x0.numel() * system.x0.element_size()
        if system.options.adaptive:  # dopri5: a state every k-th of the accepted steps, 6 evaluations each
            every = system.options.checkpoints or 1
            accepted = forward_evaluations(instance) // 6
            return (accepted // every + len(system.times)) * state + every * 6 * vector_field_saved_bytes(instance)
        actions = schedule_of(system)
        longest = max(action[2] - action[1] for action in actions if action[0] == "reverse")
        per_step = SOLVERS[system.options.method].stages
        return peak_slots(actions) * state + longest * per_step * vector_field_saved_bytes(instance)

    def requirements(self):
        return checkpoint_needs(self)

    def gradient(self, instance):
        from gradcmp.ode.replay import scheduled_trajectory

        return self.system(instance).gradient_through(scheduled_trajectory, instance.x, instance.counters)


STRATEGY = Checkpoint
