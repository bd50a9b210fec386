"""The package's layers: data flows one way, and every module imports on its own.

A module that must reach "back up" a layer is a sign the boundary is in the wrong
place (queries importing services was one: it worked only because the package's
``__init__`` happened to import services first). The ranks below are the architecture
in one table: a module may import from its own unit or from units of a lower rank.
"""

from __future__ import annotations

import ast
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import gallery_analytics
from tests.unit import fresh_interpreters

PACKAGE = Path(gallery_analytics.__file__).resolve().parent

# unit (a top-level module or subpackage of gallery_analytics) -> rank
RANKS: dict[str, int] = {
    "errors": 0,
    "domain": 1,
    "config": 1,
    "concurrency": 1,
    "outputs": 1,
    "unfinished": 1,  # a file named only once complete (Parquet extracts)
    "extras": 1,
    "db": 2,
    "charts": 2,
    "sync": 3,
    "repositories": 3,
    "queries": 3,
    "demo": 3,
    "pitfalls": 3,
    "frames": 3,  # below panels (panels.draw uses to_frame) and services
    "panels": 4,
    "notebooks": 4,
    "imports": 4,
    "services": 5,
    "reports": 7,
    "serving": 7,  # the dashboard app's Voila settings (notebooks_dir; the app extra)
    "widgets": 8,
    "api": 8,  # the HTTP API: routes over services (the api extra)
    "cli": 9,
    "__init__": 10,
}


# Run by Alembic inside its migration context, never imported by the package.
NOT_IMPORTABLE_ALONE = {"gallery_analytics.db.migrations.env"}


def _module_name(path: Path) -> str:
    parts = ["gallery_analytics", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(path) for path in PACKAGE.rglob("*.py"))


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imported_modules(module: str, *, lazy_too: bool = False) -> set[str]:
    """Project modules ``module`` imports at load time (module level), and with
    ``lazy_too`` also inside functions and ``TYPE_CHECKING`` blocks: a lazy import saves
    import time, it does not make an upward dependency acceptable."""
    path = PACKAGE.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree) if lazy_too else tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import module` imports that module
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are imported too.
    with_parents = found | {
        ".".join(name.split(".")[:end]) for name in found for end in range(2, name.count(".") + 1)
    }
    # ...but a module's own ancestors are already initialising when it runs.
    own_ancestors = {".".join(module.split(".")[:end]) for end in range(1, module.count(".") + 1)}
    return {name for name in with_parents - own_ancestors if name in MODULES and name != module}


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for target in _imported_modules(module, lazy_too=True):
            if _unit(target) != _unit(module):
                graph[_unit(module)].add(_unit(target))
    return graph


def test_every_unit_has_a_rank() -> None:
    unranked = sorted({_unit(module) for module in MODULES} - set(RANKS))
    assert not unranked, f"give {unranked} a rank in RANKS (which layers may they import?)"


def test_units_import_only_lower_layers() -> None:
    upward = sorted(
        f"{source} (rank {RANKS[source]}) imports {target} (rank {RANKS[target]})"
        for source, targets in _unit_graph().items()
        for target in targets
        if RANKS.get(target, 99) >= RANKS.get(source, -1)
    )
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_the_domain_does_no_io() -> None:
    """The domain imports no database, HTTP or notebook machinery, only the errors."""
    for module in [name for name in MODULES if _unit(name) == "domain"]:
        path = PACKAGE / "domain" / (module.split(".")[-1] + ".py")
        if module.endswith("domain"):
            path = PACKAGE / "domain" / "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        roots = {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        forbidden = roots & {"sqlalchemy", "asyncpg", "httpx", "ipywidgets", "plotly", "pandas"}
        assert not forbidden, f"{module} imports {sorted(forbidden)}"


def test_no_module_import_cycles() -> None:
    """Module-level import cycles work or fail depending on which module is imported
    first; none is allowed (the package's ``__init__`` facade aside)."""
    graph = {module: _imported_modules(module) - {"gallery_analytics"} for module in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module)


# Third-party libraries the package uses, loaded once before forking so each child only
# pays for the project's own modules; the project is never imported in the parent.
_PRELOAD = (
    *fresh_interpreters.CORE_LIBRARIES,
    "ipywidgets",
    "anywidget",
    "nbformat",
    "nbconvert",
    "papermill",
)


# Run in the background from collection on (tests/unit/conftest.py), read by the test below.
_FRESH_IMPORTS_SCRIPT = (
    "import importlib, os, sys\n"
    f"for name in {_PRELOAD!r}:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except ImportError:\n"
    "        pass  # an optional extra not installed: its modules are tested elsewhere\n"
    "assert not any(m.startswith('gallery_analytics') for m in sys.modules)\n"
    "def start(module, then=None):\n"
    "    read, write = os.pipe()\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        os.close(read)\n"
    "        try:\n"
    "            importlib.import_module(module)\n"
    "            if then is not None:\n"
    "                os.write(write, then().encode())\n"
    "        except BaseException as exc:\n"
    "            os.write(write, f'{type(exc).__name__}: {exc}'.encode()[:2000])\n"
    "            os._exit(1)\n"
    "        os._exit(0)\n"
    "    os.close(write)\n"
    "    return pid, read, module\n"
    "def finish(pid, read):\n"
    "    chunks = []\n"
    "    while chunk := os.read(read, 65536):\n"
    "        chunks.append(chunk)\n"
    "    os.close(read)\n"
    "    return os.waitpid(pid, 0)[1] == 0, b''.join(chunks).decode()\n"
    "def the_rest():  # in the child that imported the package alone\n"
    "    failures, running = [], []\n"
    "    waiting = [m for m in sys.argv[1:] if m not in sys.modules]\n"
    "    while waiting or running:\n"
    "        while waiting and len(running) < (os.cpu_count() or 1) + 1:\n"
    "            running.append(start(waiting.pop()))\n"
    "        pid, read, module = running.pop(0)\n"
    "        ok, message = finish(pid, read)\n"
    "        if not ok:\n"
    "            failures.append(f'{module}: {message}')\n"
    "    return '\\n'.join(failures)\n"
    "pid, read, _ = start('gallery_analytics', then=the_rest)\n"
    "ok, failures = finish(pid, read)\n"
    "if not ok:  # the package itself: importing any module first fails this way\n"
    "    failures = f'every module (gallery_analytics: {failures})'\n"
    "print(failures)\n"
    "sys.exit(1 if failures else 0)\n"
)
fresh_interpreters.register(
    "package_structure",
    [sys.executable, "-c", _FRESH_IMPORTS_SCRIPT]
    + [name for name in MODULES if name not in NOT_IMPORTABLE_ALONE],
    env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"},
    used_by=("tests/unit/test_package_structure.py::test_every_module_imports_on_its_own",),
)


def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    """Each module is imported first, alone, in an interpreter that has never imported
    gallery_analytics (a child forked from a parent that only preloaded third-party
    libraries, which keeps this to a few seconds).

    Importing ``gallery_analytics.x.y`` first runs the package's ``__init__`` to the end,
    then ``x``, then ``y``. So one child imports ``gallery_analytics`` alone: if that
    fails, every module fails the same way; every module it loaded has then been imported
    exactly as importing it first would; and each remaining module is imported in its own
    grandchild forked from that state, which is what importing it first does next."""
    result = fresh_interpreters.finish("package_structure")
    assert result.returncode == 0, result.stdout + result.stderr
