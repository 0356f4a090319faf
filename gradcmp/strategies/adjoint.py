"""The continuous adjoint, backsolve (optimise-then-discretise, seed 3): x integrated backwards too."""
import functools

from gradcmp.strategies.base import Strategy


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
    requires = frozenset({"ode"})
    autograd = True
    checkpointed = False

    def gradient(self, instance):
        from gradcmp.ode.adjoint import adjoint_trajectory

        trajectory = functools.partial(adjoint_trajectory, checkpointed=self.checkpointed)
        return instance.ode.gradient_through(trajectory, instance.x, instance.counters)


STRATEGY = Adjoint()
