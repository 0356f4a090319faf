"""The continuous adjoint, backsolve (optimise-then-discretise, seed 3): x integrated backwards too."""
import functools

from gradcmp.config import Param
from gradcmp.strategies.base import Strategy


# The backward solve's settings, for every strategy that solves an adjoint backwards (the peers' too).
BACKWARD_OPTIONS = (
    Param("rtol", 0.0, "relative tolerance of the backward dopri5 solve (0: the forward rtol)", minimum=0),
    Param("atol", 0.0, "absolute tolerance of the backward dopri5 solve (0: the forward atol)", minimum=0),
    Param("seminorm", False, "dopri5: leave the parameter gradient out of the backward error norm"),
)
BACKWARD_SOLVER_OPTIONS = {"rtol": "adjoint_rtol", "atol": "adjoint_atol", "seminorm": "seminorm"}


class Adjoint(Strategy):
    """A forward solve that records nothing, then one backward solve of (x, lambda, theta_bar)
    from t_K to t_0, lambda jumping at each observation time (gradcmp.ode.adjoint).

    Memory: the states at the observation times and a few augmented states, flat in the number of
    steps (it grows with `obs`). Time: about 2-3 forward solves (each backward stage is one f and
    one VJP). Not for dissipative or stiff systems: x solved backwards blows up (try stiff-linear).
    The gradient is the continuous one, so it differs from backprop's by the solver's error.
    """

    name = "adjoint"
    description = "continuous adjoint, backsolve: x solved backwards with lambda; memory flat in steps"
    options = BACKWARD_OPTIONS
    solver_options = BACKWARD_SOLVER_OPTIONS
    needs = frozenset({"ode", "explicit-method"})
    autograd = True
    checkpointed = False

    def gradient(self, instance):
        from gradcmp.ode.adjoint import adjoint_trajectory

        trajectory = functools.partial(adjoint_trajectory, checkpointed=self.checkpointed)
        return self.system(instance).gradient_through(trajectory, instance.x, instance.counters)


STRATEGY = Adjoint
