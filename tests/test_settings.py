"""The schema is the one source of defaults: typed settings built from a config that sets nothing equal the
schema's defaults field by field, and the workflow layer repeats no default of its own."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from embedlab.errors import EmbedlabError
from embedlab.workflow.config import validate_config
from embedlab.workflow.settings import SCHEMA, Settings

from conftest import REPO

MINIMAL = {"corpora": {"c": {"languages": {"en": {"file": "x.md"}}}}}


def _schema_default(schema: dict, path: list[str]):
    node = schema
    for key in path:
        node = node["properties"][key]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] | {
                k: v for k, v in node.items() if k != "$ref"
            }
    return node["default"]


def _fields(obj, path=()):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _fields(value, (*path, f.name))
        else:
            yield [*path, f.name], value


def test_settings_of_an_empty_config_are_the_schema_defaults(monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    settings = Settings.of(validate_config(yaml.safe_load(yaml.safe_dump(MINIMAL)), SCHEMA))
    seen = 0
    for path, value in _fields(settings):
        assert value == _schema_default(schema, path), ".".join(path)
        seen += 1
    assert seen > 30
    # every key of the sections the settings cover is a field: nothing read from the config bypasses them
    for section in ("resources", "split", "evaluation", "mteb", "report"):
        props = set(schema["properties"][section]["properties"])
        assert props == {f.name for f in dataclasses.fields(getattr(settings, section))}, section


def test_settings_refuse_a_config_that_was_not_validated():
    with pytest.raises(EmbedlabError, match="was not validated"):
        Settings.of(MINIMAL)


def test_no_default_tables_in_the_library_or_rules():
    """Defaults live in the schema: no DEFAULTS table in the library, no config.get in the workflow layer
    or the rules (the validated config has every key)."""
    for path in (REPO / "src" / "embedlab").rglob("*.py"):
        assert not re.search(r"^DEFAULTS\b", path.read_text(encoding="utf-8"), re.M), path
    for path in (REPO / "src" / "embedlab" / "workflow").glob("*.py"):
        if path.name != "config.py":  # the validator itself reads the raw, not yet validated config
            assert "config.get(" not in path.read_text(encoding="utf-8"), path
    for path in (REPO / "rules").glob("*.smk"):
        assert "config.get(" not in path.read_text(encoding="utf-8"), path


def test_library_entry_points_take_their_defaults_from_the_schema():
    from embedlab.data.llm.generation import LlmGenerator
    from embedlab.word2vec.settings import resolve_settings

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    llm = schema["properties"]["generators"]["properties"]["llm"]["properties"]
    gen = LlmGenerator()
    for key in ("provider", "num_questions_per_chunk", "temperature", "timeout_s", "near_duplicate_ratio"):
        assert getattr(gen, key) == llm[key]["default"], key
    assert gen.round_trip == {k: v["default"] for k, v in llm["round_trip"]["properties"].items()}
    run = schema["$defs"]["word2vec_run"]["properties"]
    s = resolve_settings({})
    assert (
        all(s[k] == run[k]["default"] for k in run if k != "seed")
        and s["seed"] == schema["properties"]["seed"]["default"]
    )


def _code_strings(path: Path) -> list[str]:
    """The string literals of a module that are code (docstrings excluded), f-strings as their first part."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.append(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            out.append(str(node.values[0].value))
    return out


def test_every_output_path_comes_from_the_layout():
    """Only workflow/layout.py spells where outputs go: no `results/` or `logs/` literal elsewhere in the
    library, and none in the rules (which call layout.*)."""
    for path in (REPO / "src" / "embedlab").rglob("*.py"):
        if path.name == "layout.py":
            continue
        spelled = [s for s in _code_strings(path) if s.startswith(("results/", "logs/"))]
        assert not spelled, f"{path}: {spelled}"
    for path in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]:
        assert not re.search(r"[\"'](results|logs)/", path.read_text(encoding="utf-8")), path
