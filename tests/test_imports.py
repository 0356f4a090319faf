"""Every gradcmp module imports on its own, and no imports (module level or lazy) form a cycle."""
import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import gradcmp

PACKAGE = Path(gradcmp.__file__).parent


def module_files() -> dict[str, Path]:
    """Every gradcmp module's dotted name -> its source file."""
    files = {"gradcmp": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="gradcmp."):
        relative = Path(*info.name.split(".")[1:])
        files[info.name] = PACKAGE / relative / "__init__.py" if info.ispkg else PACKAGE / f"{relative}.py"
    return files


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The gradcmp modules `name` imports, at module level or inside a function (a lazy import still
    ties the two modules together), each with the packages above it (importing gradcmp.a.b runs
    gradcmp/a/__init__.py first). The root package, the package face, counts too: a module inside
    that imports it (for its version, say) ties itself to everything the face reaches."""
    found, face = set(), False
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            face = face or any(alias.name == "gradcmp" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, if it is one
            # `from gradcmp import __version__` reads the face; `from gradcmp import deadline` a module
            face = face or node.module == "gradcmp" and any(f"gradcmp.{alias.name}" not in modules
                                                            for alias in node.names)
    imported = {"gradcmp"} if face else set()
    for target in found & modules - {"gradcmp"}:
        parts = target.split(".")
        imported.update(".".join(parts[:end]) for end in range(2, len(parts) + 1))
    own_packages = {".".join(name.split(".")[:end]) for end in range(2, name.count(".") + 1)}
    return imported - {name} - own_packages  # a module's own packages are already being imported


def test_no_import_cycle():
    """The modules form layers: what a module imports never imports it back, directly or not."""
    files = module_files()
    graph = {name: imported_modules(name, path, set(files)) for name, path in files.items()}
    state: dict[str, str] = {}

    def cycle_from(name, path):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = cycle_from(target, path + [target])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = cycle_from(name, [name])
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_imports_alone():
    """Each module imported first, in an interpreter with no gradcmp module loaded (torch stays loaded,
    so the subprocess takes seconds)."""
    script = """
import importlib, pkgutil, sys, traceback
import gradcmp
names = ["gradcmp"] + [info.name for info in pkgutil.walk_packages(gradcmp.__path__, prefix="gradcmp.")]
failures = []
for name in names:
    for loaded in [module for module in sys.modules if module == "gradcmp" or module.startswith("gradcmp.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError:
        failures.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failures))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_api_functions_are_not_shadowed_by_submodules():
    """Importing every submodule sets package attributes: none may be named as an API function."""
    for info in pkgutil.walk_packages(gradcmp.__path__, prefix="gradcmp."):
        __import__(info.name)
    for name in ("run", "bench", "compare", "show", "strategy"):
        assert callable(getattr(gradcmp, name)) and not isinstance(getattr(gradcmp, name), type(gradcmp)), name
