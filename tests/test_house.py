"""The house rules of src/embedlab (CONTRIBUTING.md): no import cycles between modules, no module over ~400
lines and no function over ~80 lines unless its docstring says why ("Why this long")."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
MODULE_LINES, FUNCTION_LINES = 450, 85  # "~400", "~80": a little slack, then a reason is due
REASON = "Why this long"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "embedlab").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules this one imports at load time (imports inside functions are not cycles at import)."""
    deps = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("embedlab"):
            deps.add(node.module)
            deps |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names}
    return {d for d in deps if d in modules}


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_long_modules_and_functions_say_why():
    too_long = []
    for path in _modules().values():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if len(text.splitlines()) > MODULE_LINES and REASON not in (ast.get_docstring(tree) or ""):
            too_long.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES and REASON not in (ast.get_docstring(node) or ""):
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {lines} lines")
    assert too_long == []
