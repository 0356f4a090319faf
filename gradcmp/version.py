"""gradcmp's version, from the installed package's metadata (the one place pyproject.toml names it)."""
from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("gradcmp")
except PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"
