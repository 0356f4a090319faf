__version__ = "0.1.0"

from gradcmp.problems.user import ModuleProblem, OdeProblem  # noqa: E402  (your own model or ODE)
