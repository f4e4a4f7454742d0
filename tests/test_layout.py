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
