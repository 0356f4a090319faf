"""The strategy registry: one line per strategy. A new strategy is one module plus one line here."""
from gradcmp.strategies.adjoint import STRATEGY as ADJOINT
from gradcmp.strategies.adjoint_checkpoint import STRATEGY as ADJOINT_CHECKPOINT
from gradcmp.strategies.backprop import STRATEGY as BACKPROP
from gradcmp.strategies.base import Skip, Strategy
from gradcmp.strategies.checkpoint import STRATEGY as CHECKPOINT
from gradcmp.strategies.compiled_backprop import STRATEGY as COMPILED_BACKPROP
from gradcmp.strategies.diffrax_backsolve import STRATEGY as DIFFRAX_BACKSOLVE
from gradcmp.strategies.diffrax_checkpoint import STRATEGY as DIFFRAX_CHECKPOINT
from gradcmp.strategies.diffrax_direct import STRATEGY as DIFFRAX_DIRECT
from gradcmp.strategies.finite_diff import STRATEGY as FINITE_DIFF
from gradcmp.strategies.jacobian import STRATEGY as JACOBIAN
from gradcmp.strategies.jvp import STRATEGY as JVP
from gradcmp.strategies.numpy_jvp import STRATEGY as NUMPY_JVP
from gradcmp.strategies.numpy_vjp import STRATEGY as NUMPY_VJP
from gradcmp.strategies.peer_adjoint import STRATEGY as TORCHDIFFEQ_ADJOINT
from gradcmp.strategies.peer_backprop import STRATEGY as TORCHDIFFEQ_BACKPROP
from gradcmp.strategies.vjp import STRATEGY as VJP

STRATEGIES: dict[str, Strategy] = {strategy.name: strategy for strategy in (
    JACOBIAN,
    VJP,
    JVP,
    FINITE_DIFF,
    NUMPY_VJP,
    NUMPY_JVP,
    BACKPROP,
    CHECKPOINT,
    ADJOINT,
    ADJOINT_CHECKPOINT,
    TORCHDIFFEQ_BACKPROP,
    TORCHDIFFEQ_ADJOINT,
    DIFFRAX_DIRECT,
    DIFFRAX_CHECKPOINT,
    DIFFRAX_BACKSOLVE,
)}

# Compiled forms, measured right after the strategy they compile when `--compile` is given.
COMPILED: dict[str, Strategy] = {"backprop": COMPILED_BACKPROP}

__all__ = ["COMPILED", "Skip", "Strategy", "STRATEGIES"]
