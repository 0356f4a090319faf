"""Forward mode in gradcmp's own numpy engine: dual numbers, one pass per input direction."""
from gradcmp import deadline
from gradcmp.strategies.base import Strategy, check_time


def _directional_derivative(instance, index: int) -> float:
    """<grad, e_index>: one pass of dual numbers with the tangent e_index."""
    import numpy as np

    from gradcmp.engine import jvp

    x = instance.numpy_x
    x_dot = np.zeros_like(x)
    x_dot.flat[index] = 1
    return float(jvp(instance.numpy_loss, x, x_dot)[1])


class NumpyJvp(Strategy):
    """engine.jvp on the problem's numpy twin along each basis vector e_i, one at a time
    (gradcmp/engine/forward.py): each pass gives one entry of the gradient.

    Cost: (number of inputs) x (about 2-3 losses), unbatched, so it is the slowest way here on
    large inputs. Memory: one loss's intermediates and their tangents, then the gradient.
    """

    name = "numpy-jvp"
    description = "forward mode in gradcmp's numpy engine: dual numbers, one JVP per input"
    needs = frozenset({"numpy"})
    numpy_memory = True

    def estimated_bytes(self, instance) -> float:
        """The tangent e_i and the gradient, each the size of x (one loss's intermediates on top)."""
        return 2 * instance.numpy_x.nbytes

    def check_budget(self, instance, budget):
        from gradcmp.probes import warm_time

        numel = instance.numpy_x.size
        seconds = warm_time(lambda: _directional_derivative(instance, 0), instance.x.device)
        check_time(f"{numel} JVPs", seconds * numel, budget)

    def gradient(self, instance):
        import numpy as np
        import torch

        gradient = np.empty_like(instance.numpy_x)
        for index in range(gradient.size):
            deadline.check(index / gradient.size)
            gradient.flat[index] = _directional_derivative(instance, index)
        return torch.from_numpy(gradient)


STRATEGY = NumpyJvp
