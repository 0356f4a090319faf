"""backprop with its steps compiled by torch.compile (`--compile`): a discrete reverse sweep of chunks.

The forward pass advances the state chunk by chunk (compiled calls, no graph), keeping the state at the
start of every chunk; the backward pass walks the chunks in reverse, each one compiled call of the
chunk's VJP (gradcmp.strategies.compiled_sweep): lambda <- lambda J_x, theta_bar += lambda J_theta, with
dJ/dx(t_k) added at each observation time. The arithmetic is the solver's steps', so the gradient
equals backprop's to rounding. Memory: one state per chunk (steps / CHUNK), plus one chunk's
activations inside the compiled VJP.
"""
from __future__ import annotations

from gradcmp.strategies.compiled_sweep import CompiledSweep, chunks


class CompiledBackprop(CompiledSweep):
    def segment_steps(self, system) -> int | None:
        """Steps between the states the forward pass keeps (None: every chunk's start)."""
        return None

    def sweep(self, theta):
        import torch

        system = self.system
        segments = chunks(system, self.segment_steps(system))
        kept, observed, steps = self.forward(system, theta, segments)
        states = torch.stack(observed).requires_grad_(True)
        (state_bars,) = torch.autograd.grad(system.loss_of_trajectory(states), states)
        lam, theta_bar = state_bars[-1], torch.zeros_like(theta)
        with torch.no_grad():
            for (k, parts), z in zip(reversed(segments), reversed(kept)):
                if k is not None and k < len(state_bars) - 1:
                    lam = lam + state_bars[k]
                starts = [z]  # the segment's chunk starts, recomputed from its kept state
                for dt, ts, n in parts[:-1]:
                    starts.append(self.advance(system, dt, n)(starts[-1], theta, ts))
                for (dt, ts, n), start in zip(reversed(parts), reversed(starts)):
                    lam, theta_step = self.chunk_vjp(system, dt, n)(start, theta, ts, lam)
                    theta_bar += theta_step
        return theta_bar, steps
