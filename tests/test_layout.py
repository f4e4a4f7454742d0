"""The package's shape: no import cycle, no module too long (start-up: test_startup.py)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "qbroles"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_at_load(path: Path) -> set[str]:
    """Return the qbroles modules a module imports when it is loaded.

    Imports inside functions (made when a command runs) and under TYPE_CHECKING (never
    made) cannot form a cycle at load time, so they are left out.
    """
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qbroles"):
            found.add(node.module)
            if node.module == "qbroles":  # from qbroles import engine: a submodule
                found |= {f"qbroles.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("qbroles")}
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: imports_at_load(path) & set(modules) for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = [*trail[trail.index(name) :], name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert len(done) == len(modules) > 40


# A module a reader takes in at one sitting. A few sit just over 300 lines, where
# splitting them would part what belongs together; past this, split by what changes together.
MAX_LINES = 330


def test_no_module_is_longer_than_a_reader_takes_in_at_once() -> None:
    long = {
        module_name(path): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# The layers, bottom first: a module may import its own layer and those below, never one
# above (the vocabulary every layer shares sits in model/, below the stages that use it).
LAYERS = (
    (
        "base",
        (
            "qbroles",
            "qbroles.catalog",
            "qbroles.errors",
            "qbroles.files",
            "qbroles.streams",
            "qbroles.partitions",
        ),
    ),
    ("policy documents", ("qbroles.policy",)),
    ("spec", ("qbroles.spec",)),
    ("model", ("qbroles.model",)),
    ("iam", ("qbroles.iam",)),
    ("reconcile", ("qbroles.reconcile",)),
    ("report", ("qbroles.report",)),
    (
        "features",
        (
            "qbroles.explain",
            "qbroles.export",
            "qbroles.outputs",
            "qbroles.permissions",
            "qbroles.demo",
            "qbroles.stackset",
        ),
    ),
    (
        "commands",
        (
            "qbroles.session",
            "qbroles.accounts",
            "qbroles.commands",
            "qbroles.group",
            "qbroles.cli",
            "qbroles.__main__",
        ),
    ),
)


def layer_of(module: str) -> int:
    """Return the rank of a module's layer: the longest prefix that names it decides."""
    best = max(
        (len(prefix), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    )
    return best[1]


def every_import(path: Path) -> set[str]:
    """Return every qbroles module a module imports: at load, in functions, for types."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qbroles"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("qbroles")}
    return found


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    upward = sorted(
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, path in modules.items()
        for target in every_import(path)
        if layer_of(target) > layer_of(name)
    )
    assert not upward, "\n".join(upward)


def test_counts_say_1_role_and_2_roles_never_role_s() -> None:
    """Issue 23, §4: a count is read "1 role", "2 roles" (model.report.plural), never "role(s)"."""
    import ast
    import re

    found = [
        f"{module.relative_to(PACKAGE)}:{node.lineno}"
        for module in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.search(r"\w\(s\)", node.value.replace("http(s)", ""))
    ]
    assert found == []
