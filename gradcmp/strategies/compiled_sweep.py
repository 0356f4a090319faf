"""What the torch.compile'd ODE strategies share (`--compile`): chunks of solver steps as compiled calls.

A fixed-step grid is cut into chunks of at most CHUNK steps, never across an observation time. One
compiled call advances a state by a whole chunk (its steps unrolled into one graph), another gives the
chunk's VJP (the compiled chunk rerun under autograd: its forward and backward are compiled graphs, one
autograd node per chunk, none per step). Per chunk, not per step: the per-operation dispatch is what
eager torch spends its time on at these sizes, and a compiled chunk of steps pays it once.

Compiled functions are cached per (kind, dt, steps): t enters as a tensor of the chunk's times (computed
in Python as the eager solver computes them), so one compilation serves every chunk of that shape.
Compile time (compile_s) is the first gradient's time less a warm one's: torch.compile compiles on first
call; it is never part of time_s. Fixed-step methods only: dopri5's step control reads values, which a
compiled graph would break on.
"""
from __future__ import annotations

import abc
import types

CHUNK = 10  # steps per compiled call: 20 ran 4% faster (adjoint, 1000 RK4 steps) but compiled twice as long (95 s cold)


class CompiledSweep(abc.ABC):
    """The compiled form of one strategy on one instance's system: its gradient is a Python sweep of compiled
    chunk calls (subclasses implement sweep), and it keeps the compiled functions it made. Kept in the
    instance's scratch by gradcmp.strategies.compiled.Compiled, so nothing outlives the instance."""

    def __init__(self, system):
        self.system = system  # the instance's system with the eager strategy's solver options
        self.functions: dict = {}

    @abc.abstractmethod
    def sweep(self, theta):
        """(theta_bar, forward steps taken) by compiled calls (self.compiled)."""

    def compiled(self, key, build):
        """The compiled form of build() for `key`, compiled once per instance."""
        import torch

        from gradcmp.strategies.compile_backend import inductor

        functions = self.functions
        if key not in functions:
            function = build()
            # A code object of its own: dynamo caches compilations per code object, so closures of one
            # function (another dt, chunk length or problem) would share one cache and its recompile limit.
            code = function.__code__.replace(co_name=f"{function.__code__.co_name}_{len(functions)}")
            function = types.FunctionType(code, function.__globals__, code.co_name, function.__defaults__,
                                          function.__closure__)
            functions[key] = _eager_under_modes(torch.compile(function, dynamic=False, backend=inductor), function)
        return functions[key]

    def advance(self, system, dt: float, steps: int):
        """Compiled (z, theta, ts) -> z after `steps` solver steps of size dt at times ts."""
        return self.compiled(("advance", dt, steps), lambda: _advance(system, dt, steps))

    def path(self, system, dt: float, steps: int):
        """Compiled (z, theta, ts) -> z and the state after each of `steps` solver steps, stacked."""
        return self.compiled(("path", dt, steps), lambda: _advance(system, dt, steps, path=True))

    def forward(self, system, theta, segments):
        """The forward solve through the compiled chunks, no graph: (state at each segment's start,
        states at the observation times with x0 first, steps taken)."""
        import torch

        _, z = system.solver_field()
        kept, observed, steps = [], [z], 0
        with torch.no_grad():
            for k, parts in segments:
                kept.append(z)
                for dt, ts, n in parts:
                    z = self.advance(system, dt, n)(z, theta, ts)
                    steps += n
                if k is not None:
                    observed.append(z)
        return kept, observed, steps

    def chunk_vjp(self, system, dt: float, steps: int):
        """(z, theta, ts, lam) -> (lam J_z, lam J_theta) of those steps: the compiled chunk run under
        autograd (AOTAutograd's compiled backward), one graph node per chunk. Not torch.func.vjp inside
        the compiled region: torch 2.13 compiles that wrong for linear-ode's x @ a.T (theta_bar off by 10%)."""
        import torch

        advance = self.advance(system, dt, steps)

        def chunk_vjp(z, theta, ts, lam):
            with torch.enable_grad():
                z, theta = z.detach().requires_grad_(True), theta.detach().requires_grad_(True)
                return torch.autograd.grad(advance(z, theta, ts), (z, theta), lam)

        return chunk_vjp


def _eager_under_modes(compiled, eager):
    """`compiled`, but `eager` while a dispatch mode is active (gradcmp's memory tracker): the tracker cannot
    see inside a compiled graph, and compiling under the mode would leave a slower cache entry that later
    calls pick first (backprop-compiled, 100 steps: 14 ms before a tracked call, 30 ms after)."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return lambda *args: (eager if _get_current_dispatch_mode() is not None else compiled)(*args)


def _advance(system, dt: float, steps: int, path: bool = False):
    import torch

    from gradcmp.ode import SOLVERS

    solver_step = SOLVERS[system.options.method].step
    rhs, _ = system.solver_field()

    def advance(z, theta, ts):
        params = system.parameters(theta)
        f = lambda t, y: rhs(t, y, params)  # noqa: E731
        states = [z]
        for i in range(steps):
            states.append(solver_step(f, ts[i], states[-1], dt))
        return torch.stack(states) if path else states[-1]

    return advance


def chunks(system, segment: int | None = None):
    """The grid as [(observation k, [(dt, ts, steps) per chunk])] per segment: each observation interval
    cut into segments of `segment` steps (None: one chunk each), each segment into chunks of at most
    CHUNK steps; k is set on the segment that ends at observation time t_k, else None. ts holds the
    chunk's step start times as a tensor, computed as the eager solver computes them (start + i dt)."""
    import torch

    from gradcmp.ode.fixed_step import fixed_grid

    x0 = system.x0
    segment = segment or CHUNK
    pieces = []
    for k, (start, dt, n) in enumerate(fixed_grid(system.times, system.options.steps), start=1):
        for first in range(0, n, segment):
            last = min(n, first + segment)
            parts = []
            for begin in range(first, last, CHUNK):
                end = min(last, begin + CHUNK)
                ts = torch.tensor([start + i * dt for i in range(begin, end)], dtype=x0.dtype, device=x0.device)
                parts.append((dt, ts, end - begin))
            pieces.append((k if last == n else None, parts))
    return pieces
