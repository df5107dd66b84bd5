"""conda environments (envs/*.yaml) pin what pyproject.toml pins, and `snakemake --lint` is clean.

Every pip requirement of an env file must be either
- a pyproject dependency with the same version specifier (extras aside), or an exact pin inside
  pyproject's range that equals the version installed here (torch: the Makefile's TORCH pin), or
- required, directly or not, by a pyproject dependency (numpy, scipy, ...): then pinned to exactly the version
  that pyproject's pins installed here, or
- a documented exception below.
Conda packages must carry a version (`python=3.11`, which must satisfy requires-python), except `pip`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# Envs that cannot follow pyproject: their header comment must say why (checked below).
SEPARATE_ENVS = {
    "autotrain.yaml": "autotrain-advanced pins transformers/sentence-transformers/datasets that conflict",
}
# Packages an env may pin although pyproject does not require them: name -> why (none at present).
OPTIONAL: dict[str, str] = {}


def _env(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pip_requirements(path: Path) -> list[Requirement]:
    deps = _env(path)["dependencies"]
    pip = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    return [Requirement(r) for r in (pip[0] if pip else [])]


@cache
def _pyproject() -> dict[str, Requirement]:
    """The dependencies and every optional extra's (an env may install an extra's packages, e.g. formats)."""
    extras = [r for deps in PYPROJECT.get("optional-dependencies", {}).values() for r in deps]
    reqs = [*PYPROJECT["dependencies"], *(r for r in extras if not r.startswith("embedlab"))]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


@cache
def _required_by_pyproject() -> frozenset[str]:
    """Every distribution that pyproject's dependencies pull in (with extras), from installed metadata."""
    seen: set[str] = set()
    todo = [(r.name, frozenset(r.extras)) for r in _pyproject().values()]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in done:
            continue
        done.add((canonicalize_name(name), extras))
        seen.add(canonicalize_name(name))
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        for req in map(Requirement, reqs):
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((req.name, frozenset(req.extras)))
    return frozenset(seen)


def _installed(name: str) -> Version | None:
    try:
        return Version(Version(version(name)).public)
    except PackageNotFoundError:
        return None


def _exact(spec: SpecifierSet) -> Version | None:
    pins = [s for s in spec if s.operator == "=="]
    return Version(pins[0].version) if len(spec) == 1 and pins else None


def _torch_pin() -> str:
    return re.search(r"^TORCH \?= torch==(\S+)", (REPO / "Makefile").read_text(), re.M)[1]


@pytest.mark.parametrize("path", [p for p in ENVS if p.name not in SEPARATE_ENVS], ids=lambda p: p.name)
def test_env_pins_match_pyproject(path: Path) -> None:
    problems = []
    for req in _pip_requirements(path):
        name = canonicalize_name(req.name)
        pinned = _exact(req.specifier)
        ours = _pyproject().get(name)
        installed = _installed(name)
        if name in OPTIONAL:
            if pinned is None:
                problems.append(f"{req}: pin an exact version")
        elif ours is not None:
            if req.specifier == ours.specifier:
                continue
            if _exact(ours.specifier) is not None:
                problems.append(f"{req}: pyproject pins {ours}")
            elif pinned is None or pinned not in ours.specifier or pinned != installed:
                problems.append(f"{req}: pyproject says {ours}, installed {installed}: pin =={installed}")
            elif name == "torch" and str(pinned) != _torch_pin():
                problems.append(f"{req}: the Makefile installs torch=={_torch_pin()}")
        elif name in _required_by_pyproject():
            if pinned is None or pinned != installed:
                problems.append(f"{req}: required by pyproject's dependencies, installed {installed}: pin it")
        else:
            problems.append(f"{req}: not in pyproject.toml (add it there, or document it in this test)")
    assert problems == [], f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_conda_packages_are_pinned(path: Path) -> None:
    conda = [d for d in _env(path)["dependencies"] if isinstance(d, str) and d != "pip"]
    assert all(re.fullmatch(r"[\w.-]+=[\w.*-]+", d) for d in conda), conda
    python = [d.split("=", 1)[1] for d in conda if d.startswith("python=")]
    assert len(python) == 1, f"{path.name}: python=X.Y"
    if path.name not in SEPARATE_ENVS:
        assert Version(python[0]) in SpecifierSet(PYPROJECT["requires-python"]), python


def test_separate_envs_say_why() -> None:
    for name in SEPARATE_ENVS:
        header = (REPO / "envs" / name).read_text(encoding="utf-8").split("\nname:")[0]
        assert "conflict" in header, f"envs/{name}: its header comment must say why it is separate"


@pytest.mark.slow
def test_snakemake_lint_is_clean(corpora: Path, tmp_path: Path) -> None:
    """Snakemake's own linter on the whole workflow (test config): it wants a conda env per rule, log files,
    no absolute paths, and so on. Exits non-zero on any lint."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--lint",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / ".test" / "config.yaml"),
            "--config",
            f"corpus_root={corpora}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
