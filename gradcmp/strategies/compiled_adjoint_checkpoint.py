"""adjoint-checkpoint with its steps compiled by torch.compile (`--compile`): the continuous adjoint on x
recomputed forwards from the uniform schedule's checkpoints, never solved backwards.

The forward pass keeps x at each checkpoint (one every round(sqrt(steps)) steps, or steps / checkpoints)
in compiled chunks. The backward pass walks the segments in reverse: the segment's chunks rerun from its
checkpoint, each one compiled call returning x at every step; then each chunk's backward steps are one
compiled call that restarts x from the recomputed state before every step, as gradcmp.ode.adjoint's
scheduled backward does, so x's backward instability never builds up (stiff-linear). Memory: the
checkpoints plus one segment's states. The same gradient as adjoint-checkpoint's, to rounding.
"""
from __future__ import annotations

from gradcmp.strategies.compiled_adjoint import CompiledAdjoint, augmented_field
from gradcmp.strategies.compiled_checkpoint import uniform_segment
from gradcmp.strategies.compiled_sweep import chunks


class CompiledAdjointCheckpoint(CompiledAdjoint):
    def segments(self, system):
        return chunks(system, uniform_segment(system.options))

    def _backward(self, system, theta, y, states, states_bar, segments, kept, leaves, single):
        n = states[0].numel()
        for (k, parts), start in zip(reversed(segments), reversed(kept)):
            if k is not None:
                y[n:2 * n] += states_bar[k].reshape(-1)
            paths = []  # x at every step of each chunk, recomputed from the segment's checkpoint
            for dt, ts, steps in parts:
                paths.append(self.path(system, dt, steps)(start, theta, ts))
                start = paths[-1][-1]
            for (dt, ts, steps), path in zip(reversed(parts), reversed(paths)):
                back = self.compiled(("restarting", dt, steps), lambda: _restarting(system, single, dt, steps))
                y = back(y, path, leaves, ts)
        return y


def _restarting(system, single: bool, dt: float, steps: int):
    """(y, path, leaves, ts) -> y after the chunk's steps backwards, x set to path[i + 1] before step i."""
    import torch

    from gradcmp.ode import SOLVERS

    solver_step = SOLVERS[system.options.method].step
    field = augmented_field(system, single)
    n = system.solver_field()[1].numel()  # the solver's state: x, and the running cost's integral if any

    def backward(y, path, leaves, ts):
        for i in reversed(range(steps)):
            y = torch.cat([path[i + 1].reshape(-1), y[n:]])
            y = solver_step(lambda t, y: field(t, y, leaves), ts[i] + dt, y, -dt)
        return y

    return backward
