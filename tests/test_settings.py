"""The schema is the one source of defaults: typed settings built from a config that sets nothing equal the
schema's defaults field by field, and the workflow layer repeats no default of its own."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from embedlab.errors import EmbedlabError
from embedlab.settings import SCHEMA, Settings
from embedlab.workflow.config import validate_config

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
    settings = Settings.of(validate_config(yaml.safe_load(yaml.safe_dump(MINIMAL)), REPO))
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


def test_eval_options_of_an_empty_config_are_the_schema_defaults(monkeypatch):
    """The rules' EVAL_OPTIONS for a config that sets nothing, field by field, is the schema's, and so is
    `EvalOptions.default()` (what callers without a config take)."""
    from embedlab.evaluation.options import EvalOptions

    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    settings = Settings.of(validate_config(yaml.safe_load(yaml.safe_dump(MINIMAL)), REPO))
    options = EvalOptions.of(settings.evaluation, settings.seed)
    where = {"seed": ["seed"], "cache_dir": ["evaluation", "cache", "dir"]}  # the cache is on by default
    for name, value in options._asdict().items():
        if name == "index":
            for path, leaf in _fields(value, ("evaluation", "index")):
                assert leaf == _schema_default(schema, path), ".".join(path)
        else:
            want = _schema_default(schema, where.get(name, ["evaluation", name]))
            assert value == (tuple(want) if name == "ks" else want), name
    assert options == EvalOptions.default()
    assert EvalOptions.default(device="cpu").device == "cpu"


def test_chunking_settings_of_a_config_are_the_schema_defaults_with_the_corpus_overrides(monkeypatch):
    """Every chunking key of the schema is a ChunkingSettings field (chunk_corpus takes the object whole,
    so a key without a field would never reach it); a corpus's override replaces only its own key."""
    from embedlab.data.chunking import ChunkingSettings
    from embedlab.workflow.config import chunking

    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    keys = schema["properties"]["chunking"]["properties"]
    assert list(ChunkingSettings._fields) == list(keys)
    overrides = schema["properties"]["corpora"]["additionalProperties"]["properties"]["chunking"]
    assert list(overrides["properties"]) == list(keys)
    config = yaml.safe_load(yaml.safe_dump(MINIMAL))
    name = next(iter(config["corpora"]))
    config["corpora"][name]["chunking"] = {"chunk_size": 300}
    validated = validate_config(config, REPO)
    want = ChunkingSettings(**{k: _schema_default(schema, ["chunking", k]) for k in keys})
    assert ChunkingSettings.default() == want
    assert chunking(validated, name) == want._replace(chunk_size=300) != want
