"""gradcmp: the same gradient by several strategies, side by side (time, memory, error).

The Python API has the commands' names: `gradcmp.run`, `gradcmp.bench`, `gradcmp.compare` (two results
files), `gradcmp.show` (one), and `gradcmp.strategy` makes a configured strategy (see gradcmp.api and
docs/api.md). They are imported on first use, so `import gradcmp` and the command line stay fast.
"""
from gradcmp.version import VERSION as __version__

__all__ = ["__version__", "bench", "compare", "run", "show", "strategy", "ModuleProblem", "OdeProblem"]


def __getattr__(name: str):
    if name in ("bench", "compare", "run", "show"):
        from gradcmp import api

        return getattr(api, name)
    if name == "strategy":
        from gradcmp.strategies import strategy

        return strategy
    if name in ("ModuleProblem", "OdeProblem"):  # your own model or ODE
        from gradcmp.problems import user

        return getattr(user, name)
    raise AttributeError(f"module 'gradcmp' has no attribute {name!r}")
