"""backprop with its per-step work compiled by torch.compile (`--compile`): a discrete reverse sweep.

The forward pass runs the fixed-step solver without a graph, keeping the state after every step; the
backward pass walks the steps in reverse, each a call of one compiled function, the step's VJP
(torch.func.vjp of the solver's own step, theta unpacked inside it): lambda <- lambda J_x, theta_bar +=
lambda J_theta, with dJ/dx(t_k) added at each observation time. No per-step autograd graph is recorded.
The arithmetic is the solver step's, so the gradient equals backprop's to rounding.

Compile time (compile_s) is the first gradient's time less a warm one's: torch.compile compiles on first
call. t enters the compiled step as a 0-d tensor, so one compilation serves every step of a step size.
Fixed-step methods only: dopri5's step control reads values, which a compiled graph would break on.
"""
from __future__ import annotations

import time

from gradcmp.strategies.base import Strategy


class CompiledBackprop(Strategy):
    requires = frozenset({"ode"})
    name = "backprop-compiled"
    description = "backprop as a reverse sweep of torch.compile'd step VJPs, no per-step graph (--compile)"

    def __init__(self):
        self._compiled = None  # (instance, {dt: (step, step_vjp)}, compile_s)

    def own_measurements(self, instance) -> dict:
        return {"compile_s": self._functions(instance)[1]}

    def _functions(self, instance):
        """({dt: (compiled step, compiled step VJP)}, compile seconds) for this instance."""
        if self._compiled is not None and self._compiled[0] is instance:
            return self._compiled[1:]
        system = instance.ode
        if system.options.adaptive or system.options.method == "reversible_heun":
            raise ValueError("compiled backprop takes single-state fixed-step methods only (dopri5's step "
                             "control reads values; reversible_heun carries a second state)")
        self._compiled = (instance, {}, 0.0)
        start = time.perf_counter()
        self._sweep(instance)
        first = time.perf_counter() - start
        start = time.perf_counter()
        self._sweep(instance)
        self._compiled = (instance, self._compiled[1], max(0.0, first - (time.perf_counter() - start)))
        return self._compiled[1:]

    def _step_functions(self, instance, dt: float):
        import torch
        from torch.func import vjp

        from gradcmp.ode import SOLVERS

        functions = self._compiled[1]
        if dt not in functions:
            system = instance.ode
            solver_step = SOLVERS[system.options.method].step
            rhs, _ = system.solver_field()

            def step(z, theta, t):
                params = system.parameters(theta)
                return solver_step(lambda s, y: rhs(s, y, params), t, z, dt)

            def step_vjp(z, theta, t, lam):
                return vjp(lambda z, theta: step(z, theta, t), z, theta)[1](lam)

            functions[dt] = (torch.compile(step, dynamic=False), torch.compile(step_vjp, dynamic=False))
        return functions[dt]

    def _sweep(self, instance):
        import torch

        from gradcmp.ode.fixed_step import fixed_grid

        system = instance.ode
        theta = instance.x.detach()
        _, z = system.solver_field()
        grid = fixed_grid(system.times, system.options.steps)
        zs, observed = [z], [z]
        with torch.no_grad():
            for start, dt, n in grid:
                step, _ = self._step_functions(instance, dt)
                for i in range(n):
                    z = step(z, theta, torch.tensor(start + i * dt, dtype=theta.dtype, device=theta.device))
                    zs.append(z)
                observed.append(z)
        states = torch.stack(observed).requires_grad_(True)
        (state_bars,) = torch.autograd.grad(system.loss_of_trajectory(states), states)
        lam, theta_bar = state_bars[-1], torch.zeros_like(theta)
        index = len(zs) - 1
        with torch.no_grad():
            for k in range(len(grid) - 1, -1, -1):
                start, dt, n = grid[k]
                _, step_vjp = self._step_functions(instance, dt)
                for i in range(n - 1, -1, -1):
                    index -= 1
                    t = torch.tensor(start + i * dt, dtype=theta.dtype, device=theta.device)
                    lam, theta_step = step_vjp(zs[index], theta, t, lam)
                    theta_bar += theta_step
                lam = lam + state_bars[k]
        return theta_bar, len(zs) - 1

    def gradient(self, instance):
        self._functions(instance)
        theta_bar, steps = self._sweep(instance)
        instance.counters["steps_accepted"] += steps
        return theta_bar


STRATEGY = CompiledBackprop()
