"""Reverse mode in gradcmp's own numpy engine: a tape and a loop of VJPs, no torch involved."""
from gradcmp.strategies.base import Strategy


class NumpyVjp(Strategy):
    """engine.grad on the problem's numpy twin: record the loss on a tape, then one VJP per input of
    every recorded primitive, in reverse topological order (gradcmp/engine/reverse.py).

    Cost: like torch's vjp, a small multiple of the loss, plus Python's overhead per primitive
    (a dictionary lookup and a few calls), which matters only when the arrays are small.
    Memory: every intermediate array of the forward pass.
    """

    name = "numpy-vjp"
    description = "reverse mode in gradcmp's numpy engine: tape + VJP rules table"
    needs = frozenset({"numpy"})
    numpy_memory = True

    def gradient(self, instance):
        import torch

        from gradcmp.engine import grad

        return torch.from_numpy(grad(instance.numpy_loss, instance.numpy_x))


STRATEGY = NumpyVjp
