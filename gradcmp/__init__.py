"""gradcmp: the same gradient by several strategies, side by side (time, memory, error).

The Python API is `gradcmp.compare` and `gradcmp.bench` (see gradcmp.api and docs/api.md). They are
imported on first use, so `import gradcmp` and the command line stay fast.
"""
__version__ = "0.1.0"

__all__ = ["__version__", "bench", "compare", "ModuleProblem", "OdeProblem"]


def __getattr__(name: str):
    if name in ("bench", "compare"):
        from gradcmp import api

        return getattr(api, name)
    if name in ("ModuleProblem", "OdeProblem"):  # your own model or ODE
        from gradcmp.problems import user

        return getattr(user, name)
    raise AttributeError(f"module 'gradcmp' has no attribute {name!r}")
