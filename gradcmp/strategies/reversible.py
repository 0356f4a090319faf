"""A reversible solve (McCallum & Foster 2024) differentiated by rebuilding its states backwards."""
from gradcmp.config import Param
from gradcmp.strategies.base import Strategy


class Reversible(Strategy):
    """Solves with the reversible pair built around the problem's fixed-step method (coupling l,
    `coupling=`; gradcmp.ode.reversible), then rebuilds each state from the next in the backward
    pass: the exact gradient of that discrete solve, at memory flat in the steps (the observed states
    and one pair), no checkpoint kept.

    Time: two base steps a step forward and four backward (two to rebuild, two recorded), about
    twice backprop's evaluations. The solution is the pair's, not the base method's: its error
    differs from backprop's by the pair's own truncation error. Fixed-step methods only.
    """

    name = "reversible"
    options = (Param("coupling", 0.999, "the coupling l of the solver pair, 0 < l <= 1", above=0, maximum=1),)
    solver_options = {"coupling": "coupling"}
    description = "reversible solver pair (McCallum & Foster); states rebuilt backwards, memory flat in steps"
    needs = frozenset({"ode", "fixed-step"})
    autograd = True

    def gradient(self, instance):
        from gradcmp.ode.reversible import reversible_trajectory

        return self.system(instance).gradient_through(reversible_trajectory, instance.x, instance.counters)


STRATEGY = Reversible
