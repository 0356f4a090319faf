"""Quick probes a strategy runs on its instance before the real work (to estimate its cost for a
budget check) and that measurement reuses: one warm call's time, autograd's saved bytes.

Kept apart from gradcmp.measure, which imports the strategies, so strategies need not import it.
"""
from __future__ import annotations

import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_time(fn, device: torch.device) -> float:
    """Seconds for one warm call of fn: the faster of two calls, so first-call costs (torch.func
    set-up, lazy initialisation) and a passing stall of a shared machine do not inflate it.
    Used by strategies to estimate their cost before a budget check."""
    seconds = []
    for _ in range(2):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def call_with_saved_bytes(fn):
    """Call fn under saved-tensor hooks; return (its result, bytes of distinct storages autograd saved)."""
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return result, sum(storages.values())
