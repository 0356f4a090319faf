"""checkpoint with its steps compiled by torch.compile (`--compile`): backprop-compiled's reverse sweep,
keeping only the uniform schedule's checkpoints (one state every round(sqrt(steps)) steps, or steps /
checkpoints); the backward pass reruns each segment's chunks from its checkpoint (compiled calls) before
the segment's chunk VJPs. The same gradient as checkpoint's, to rounding."""
from __future__ import annotations

import math

from gradcmp.strategies.compiled_backprop import CompiledBackprop


class CompiledCheckpoint(CompiledBackprop):
    def segment_steps(self, system) -> int:
        return uniform_segment(system.options)


def uniform_segment(options) -> int:
    """Steps between the uniform schedule's checkpoints (checkpoint's and adjoint-checkpoint's)."""
    return -(-options.steps // options.checkpoints) if options.checkpoints else max(1, round(math.sqrt(options.steps)))
