"""What every solver shares: the error it raises, the counts it returns, the default error norm."""
from dataclasses import dataclass


class OdeError(RuntimeError):
    """A solve that cannot finish (too many steps, step size underflow); its message is one line."""


class MethodUnsupported(OdeError):
    """A way of differentiating a solve that cannot take this method (the adjoint with an implicit
    one). Measurement reports the row skipped with this one-line message, as a strategy's Skip (which
    gradcmp.ode, below the strategies, cannot import)."""


@dataclass
class OdeStats:
    """Work one solve did: vector-field evaluations and steps (rejected: adaptive methods only)."""

    nfe: int = 0
    accepted: int = 0
    rejected: int = 0


def rms_norm(scaled_error):
    """Root mean square over every entry: the default size of an error already divided by its tolerance."""
    return scaled_error.pow(2).mean().sqrt()
