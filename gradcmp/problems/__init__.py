"""The problem registry: one line per problem. A new problem is one module plus one line here."""
from gradcmp.config import unknown
from gradcmp.problems.base import CAPABILITIES, Instance, Problem, ode_instance
from gradcmp.problems.brusselator import PROBLEM as BRUSSELATOR
from gradcmp.problems.cubic_regression import PROBLEM as CUBIC_REGRESSION
from gradcmp.problems.inv_norm import PROBLEM as INV_NORM
from gradcmp.problems.mlp import PROBLEM as MLP
from gradcmp.problems.linear_ode import PROBLEM as LINEAR_ODE
from gradcmp.problems.lotka_volterra import PROBLEM as LOTKA_VOLTERRA
from gradcmp.problems.neural_ode import PROBLEM as NEURAL_ODE
from gradcmp.problems.sin_wy import PROBLEM as SIN_WY
from gradcmp.problems.stiff_linear import PROBLEM as STIFF_LINEAR
from gradcmp.problems.gmm import PROBLEM as GMM
from gradcmp.problems.lstm import PROBLEM as LSTM
from gradcmp.problems.det import PROBLEM as DET
from gradcmp.problems.llsq import PROBLEM as LLSQ
from gradcmp.problems.lse import PROBLEM as LSE
from gradcmp.problems.kmeans import PROBLEM as KMEANS

PROBLEMS: dict[str, Problem] = {problem.name: problem for problem in (
    INV_NORM,
    SIN_WY,
    MLP,
    NEURAL_ODE,
    LINEAR_ODE,
    LOTKA_VOLTERRA,
    STIFF_LINEAR,
    BRUSSELATOR,
    CUBIC_REGRESSION,
    GMM,
    LSTM,
    DET,
    LLSQ,
    LSE,
    KMEANS,
)}



def get_problem(name: str) -> Problem:
    """A registered problem, or the user's own FILE.py:NAME / package.module:NAME (imported now);
    ConfigError listing the names when there is none."""
    from gradcmp.problems.user import is_user_problem, user_problem

    if is_user_problem(name):
        return user_problem(name)
    if name not in PROBLEMS:
        raise unknown("problem", name, PROBLEMS)
    return PROBLEMS[name]


__all__ = ["CAPABILITIES", "Instance", "Problem", "PROBLEMS", "get_problem", "ode_instance"]
