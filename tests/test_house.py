"""The house rules of src/embedlab (CONTRIBUTING.md): no import cycles between modules; the layers import
downward only (workflow -> stages -> base modules); the package works installed (its schema is package
data); no module over ~400 lines and no function over ~80 lines unless its docstring says why ("Why this
long")."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

SRC = REPO / "src"
MODULE_LINES, FUNCTION_LINES = 450, 85  # "~400", "~80": a little slack, then a reason is due
REASON = "Why this long"
WORKFLOW = "embedlab.workflow"
STAGES = {f"embedlab.{p}" for p in ("data", "evaluation", "models", "report", "train", "word2vec")}
APART = {"embedlab.evaluation", "embedlab.train"}  # siblings that share through data and models instead


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "embedlab").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules this one imports anywhere: at load time, inside a function or under TYPE_CHECKING (an import
    deferred into a function still ties the two modules together, it only hides the cycle until a call)."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("embedlab"):
            deps.add(node.module)
            deps |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names}
    return {d for d in deps if d in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
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
    return cycles


def test_no_import_cycles():
    modules = _modules()
    assert _cycles({name: _imports(path, modules) for name, path in modules.items()}) == []


def _layer(module: str) -> str:
    """`embedlab.<package>` for a module of a subpackage; "base" for the modules directly in embedlab."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (SRC / "embedlab" / parts[1]).is_dir() else "base"


def _upward(importer: str, imported: str) -> bool:
    """Whether a module of layer `importer` may not import layer `imported` (the direction CONTRIBUTING.md
    draws: the workflow layer on top, the stages below it, the base modules at the bottom)."""
    if importer in (imported, WORKFLOW):
        return False
    if importer == "base":
        return True  # settings, io, text, errors, ...: nothing above them
    return imported == WORKFLOW or (importer in APART and imported in APART)


def test_layers_import_downward_only():
    """No stage imports the workflow layer, evaluation and train not each other, the base modules no
    subpackage; and the subpackages import each other without a cycle."""
    modules = _modules()
    assert {_layer(m) for m in modules} == {"base", WORKFLOW, *STAGES}  # a new subpackage gets a place here
    edges = {(name, dep) for name, path in modules.items() for dep in _imports(path, modules)}
    assert sorted(f"{a} -> {b}" for a, b in edges if _upward(_layer(a), _layer(b))) == []
    packages: dict[str, set[str]] = {}
    for a, b in edges:
        if _layer(a) != _layer(b):
            packages.setdefault(_layer(a), set()).add(_layer(b))
    assert _cycles({p: packages.get(p, set()) for p in {_layer(m) for m in modules}}) == []


@pytest.mark.slow
def test_the_schema_loads_from_an_installed_wheel(tmp_path):
    """A wheel of the package carries the config schema, and the library reads its defaults from there,
    with no checkout around (the wheel's files first on sys.path, run from an empty folder)."""
    tree = tmp_path / "tree"
    shutil.copytree(SRC / "embedlab", tree / "src" / "embedlab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path / "dist"), str(tree)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("embedlab-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        assert "embedlab/config.schema.yaml" in z.namelist()
        z.extractall(site)
    probe = (
        f"import sys; sys.path.insert(0, {str(site)!r}); import embedlab.settings as s; "
        f"assert s.__file__.startswith({str(site)!r}), s.__file__; print(s.schema_default('seed'))"
    )
    (tmp_path / "elsewhere").mkdir()
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path / "elsewhere", check=True, capture_output=True, text=True
    )
    from embedlab.settings import schema_default

    assert out.stdout.strip() == str(schema_default("seed"))


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
