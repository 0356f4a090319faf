"""diffrax (JAX, compiled by XLA) solving the very same ODE problem as gradcmp: the JIT-compiled peers.

One strategy, `diffrax`, with diffrax's adjoint as its option: `diffrax(adjoint=direct)` (DirectAdjoint),
`diffrax` (adjoint=checkpoint, diffrax's default RecursiveCheckpointAdjoint), `diffrax(adjoint=backsolve)`
(BacksolveAdjoint).
What is the same as gradcmp's solve:

- the problem: each ODE problem's OdeSystem.jax, its vector field and loss written with jax.numpy (the
  losses and unpacking are the very functions gradcmp uses, written for both), on the instance's own
  tensors converted once to JAX arrays (float64 stays float64: JAX runs with x64 enabled). A running
  cost is integrated as part of the state, as gradcmp does.
- euler, midpoint: diffrax's Euler and Midpoint, whose coefficients are gradcmp's; rk4: diffrax's explicit
  Runge-Kutta with the classic tableau (c = 1/2, 1/2, 1; b = 1/6, 1/3, 1/3, 1/6). All on gradcmp's grid
  (StepTo at the points of gradcmp.ode.fixed_step.fixed_grid), so both take identical steps.
- dopri5: diffrax's Dopri5 with the same rtol, atol and max_steps, the same I-controller (0.9 ratio^-1/5
  within [0.2, 10]) and error estimate, stepping exactly onto every observation time as gradcmp does.
  Still differs: the first step size (diffrax's own rule), and max_steps counts every attempted step.
  The backsolve's backward solve takes adjoint_rtol / adjoint_atol and, with `seminorm`, diffrax's
  adjoint_rms_seminorm; without it, diffrax's RMS over the whole augmented state.

What is measured differently from a torch row: the gradient function is jit-compiled once per instance
(ahead of time, its seconds reported as compile_s, never in the time); a timed call runs the compiled
function, waits for it (block_until_ready) and copies the gradient into a torch tensor. Peak memory is
what XLA's compiled memory analysis reports for the gradient function: temporary plus argument plus
output buffers (torch's profiler cannot see XLA's allocations). Counters: the forward solve's accepted
(and for dopri5 rejected) steps, as diffrax reports them; diffrax does not count evaluations.

JAX reads its thread setting once, when it first starts in a process: with one torch thread (--threads 1)
the peers ask XLA for a single-threaded CPU backend.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, ClassVar  # ClassVar here: the solver's dataclass fields read it by name

from gradcmp.config import ConfigError, Param
from gradcmp.strategies.adjoint import BACKWARD_OPTIONS, BACKWARD_SOLVER_OPTIONS
from gradcmp.strategies.base import Strategy

ADJOINTS = ("direct", "checkpoint", "backsolve")


@lru_cache(maxsize=1)
def _jax():
    """(jax, jax.numpy, diffrax), JAX set up for float64 and, with one torch thread, one XLA CPU thread
    (XLA reads its flags once, when JAX first starts in the process)."""
    import torch

    if torch.get_num_threads() == 1 and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    import diffrax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    return jax, jnp, diffrax


@lru_cache(maxsize=1)
def _classic_rk4():
    """diffrax's explicit Runge-Kutta solver with the classic RK4 tableau (no error estimate)."""
    import diffrax
    import numpy as np

    class ClassicRK4(diffrax.AbstractERK):
        tableau: ClassVar[diffrax.ButcherTableau] = diffrax.ButcherTableau(
            c=np.array([0.5, 0.5, 1.0]),
            b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
            b_error=np.zeros(4),
            a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
        )
        interpolation_cls: ClassVar[Callable] = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

        def order(self, terms):
            return 4

    return ClassicRK4()


def _grid(times, steps: int) -> list[float]:
    """gradcmp's fixed-step grid as a list of points, from times[0] to times[-1]."""
    from gradcmp.ode.fixed_step import fixed_grid

    points = [start + i * dt for start, dt, n in fixed_grid(times, steps) for i in range(n)]
    return points + [times[-1]]


def _solve_settings(options, times, adjoint: str, dtype) -> dict:
    """diffeqsolve's solver, step-size controller, max_steps and adjoint for gradcmp's SolverOptions,
    times in the state's dtype (so a float32 run solves in float32)."""
    _, jnp, diffrax = _jax()
    step_ts = jnp.asarray(times, dtype)
    if options.adaptive:
        settings = dict(solver=diffrax.Tsit5() if options.method == "tsit5" else diffrax.Dopri5(), dt0=None, max_steps=options.max_steps,
                        stepsize_controller=diffrax.ClipStepSizeController(
                            diffrax.PIDController(rtol=options.rtol, atol=options.atol), step_ts=step_ts))
    else:
        grid = _grid(times, options.steps)
        solver = {"euler": diffrax.Euler(), "midpoint": diffrax.Midpoint(), "rk4": _classic_rk4(),
                  "reversible_heun": diffrax.ReversibleHeun()}[options.method]
        settings = dict(solver=solver, dt0=None, max_steps=len(grid) - 1,
                        stepsize_controller=diffrax.StepTo(ts=jnp.asarray(grid, dtype)))
    if adjoint == "direct":
        settings["adjoint"] = diffrax.DirectAdjoint()
    elif adjoint == "checkpoint":
        settings["adjoint"] = diffrax.RecursiveCheckpointAdjoint()
    elif options.adaptive:
        norm = {"norm": diffrax.adjoint_rms_seminorm} if options.seminorm else {}
        controller = diffrax.PIDController(rtol=options.adjoint_rtol or options.rtol,
                                           atol=options.adjoint_atol or options.atol, **norm)
        settings["adjoint"] = diffrax.BacksolveAdjoint(
            stepsize_controller=diffrax.ClipStepSizeController(controller, step_ts=step_ts))
    else:
        settings["adjoint"] = diffrax.BacksolveAdjoint(stepsize_controller=diffrax.ConstantStepSize(),
                                                       dt0=-_backward_step(times, options.steps))
    return settings


def _backward_step(times, steps: int) -> float:
    """The step of gradcmp's grid, which diffrax's backsolve needs as one number: its backward solve
    runs interval by interval with one controller, so a StepTo grid cannot serve it."""
    from gradcmp.ode.fixed_step import fixed_grid

    return fixed_grid(times, steps)[0][1]  # one size over the grid: the "even-steps" need


def _loss_with_stats(system, twin, adjoint: str):
    """theta -> (J, the forward solve's step counts): the diffrax solve of `twin`, gradcmp's `system`'s
    JAX copy, with `system`'s times and solver options."""
    _, jnp, diffrax = _jax()
    options, dtype = system.options, twin.x0.dtype
    times = jnp.asarray(system.times, dtype)
    cost = twin.running_cost

    def field(t, y, params):
        if cost is None:
            return twin.vector_field(t, y, params)
        x, _ = y
        return twin.vector_field(t, x, params), cost(x)

    y0 = twin.x0 if cost is None else (twin.x0, jnp.zeros((), twin.x0.dtype))
    settings = _solve_settings(options, system.times, adjoint, dtype)

    def loss(theta):
        solution = diffrax.diffeqsolve(diffrax.ODETerm(field), t0=times[0], t1=times[-1], y0=y0,
                                       args=twin.parameters(theta), saveat=diffrax.SaveAt(ts=times),
                                       **settings)
        stats = {"steps_accepted": solution.stats["num_accepted_steps"]}
        if options.adaptive:
            stats["steps_rejected"] = solution.stats["num_rejected_steps"]
        if cost is None:
            return twin.terminal_loss(solution.ys), stats
        states, costs = solution.ys
        return twin.terminal_loss(states) + costs[-1], stats

    return loss


@dataclass
class _Compiled:
    """One instance's compiled gradient function and what was measured while making it."""

    gradient: Callable  # theta -> (dJ/dtheta, step counts)
    theta: Any  # the instance's x as a JAX array
    compile_s: float
    memory_bytes: int


class DiffraxPeer(Strategy):
    """A diffrax adjoint as a gradcmp strategy (see the module docstring for what is matched).

    adjoint "direct": DirectAdjoint, differentiating through diffrax's bounded while loop;
    "checkpoint": RecursiveCheckpointAdjoint (diffrax's default: binomial checkpointing, the number of
    checkpoints diffrax's default for max_steps); "backsolve": BacksolveAdjoint, the continuous adjoint
    solved backwards (like gradcmp's adjoint).
    """

    name = "diffrax"
    description = ("diffrax on JAX, compiled by XLA: adjoint=checkpoint (RecursiveCheckpointAdjoint, peer of "
                   "checkpoint), direct (peer of backprop) or backsolve (peer of adjoint); extra: jax")
    options = (Param("adjoint", "checkpoint", "diffrax's adjoint", choices=ADJOINTS), *BACKWARD_OPTIONS)
    solver_options = BACKWARD_SOLVER_OPTIONS
    needs = frozenset({"ode", "jax", "jax-twin", "jax-device", "diffrax-method"})

    def check_config(self):
        backward = {key: value for key, value in self.config.items() if key != "adjoint"}
        if self.config["adjoint"] != "backsolve" and any(value != option.default for option, value in
                                                          zip(self.options[1:], backward.values())):
            raise ConfigError("diffrax: rtol, atol and seminorm set the backward solve of adjoint=backsolve")

    def requirements(self):
        return self.needs | ({"even-steps"} if self.config["adjoint"] == "backsolve" else set())

    def _compile(self, instance) -> _Compiled:
        """The compiled gradient of this instance, made on first use and kept in the instance's scratch."""
        if self.label in instance.scratch:
            return instance.scratch[self.label]
        jax, jnp, _ = _jax()
        system = self.system(instance)
        convert = lambda tensor: jnp.asarray(tensor.detach().cpu().numpy())  # noqa: E731
        theta = convert(instance.x)
        gradient = jax.jit(jax.grad(_loss_with_stats(system, system.jax(convert), self.config["adjoint"]),
                                    has_aux=True))
        start = time.perf_counter()
        compiled = gradient.lower(theta).compile()
        compile_s = time.perf_counter() - start
        memory = compiled.memory_analysis()
        memory_bytes = memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
        instance.scratch[self.label] = _Compiled(compiled, theta, compile_s, memory_bytes)
        return instance.scratch[self.label]

    def own_measurements(self, instance) -> dict:
        compiled = self._compile(instance)
        return {"compile_s": compiled.compile_s, "peak_bytes": compiled.memory_bytes}

    def gradient(self, instance):
        import numpy as np
        import torch

        compiled = self._compile(instance)
        gradient, stats = compiled.gradient(compiled.theta)
        gradient.block_until_ready()
        for name, value in stats.items():
            instance.counters[name] += int(value)
        return torch.from_numpy(np.array(gradient)).to(instance.x.device, instance.x.dtype)


STRATEGY = DiffraxPeer
