"""Config validation: the schema decides what is allowed, this module says it in one line.

`validate_config` runs snakemake's own `validate` (which also fills the schema's defaults) and rewrites a
jsonschema error as "config error at <key path>: <what is wrong> (allowed: …)", then checks what a schema
cannot express (overlap below size, a corpus_root that exists). `Plan.of` (workflow/plan.py) calls it
before it plans anything; what a config means beyond this (names that must exist, sets that must match) is
checked there, by `workflow.checks`.
"""

from __future__ import annotations

import os
from importlib.resources import as_file
from pathlib import Path
from typing import Any

from embedlab.data.chunking import ChunkingSettings
from embedlab.data.corpus import locate_corpus_root
from embedlab.errors import EmbedlabError
from embedlab.settings import SCHEMA
from embedlab.text import invalid_reason, is_language_code

CORPUS_ROOT_ENV = "EMBEDLAB_CORPUS_ROOT"


def _describe(error: Any) -> str:
    """One line for a jsonschema ValidationError: where, what, and what would be accepted."""
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f"allowed: {', '.join(allowed)}" if allowed else "no keys are allowed here"
        return f"config error at {path}: unknown key {', '.join(map(repr, extra))} ({hint})"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"config error at {path}: {error.instance!r} is not allowed (allowed: {allowed})"
    if error.validator == "required":
        return f"config error at {path}: {error.message}"
    if error.validator == "type":
        return f"config error at {path}: {error.instance!r} is not of type {error.validator_value}"
    if error.validator == "pattern" and error.absolute_path and isinstance(error.instance, str):
        key = str(error.absolute_path[-1]).lower()
        shown = "(value hidden)" if "key" in key or "token" in key else repr(error.instance)  # pasted secret
        return f"config error at {path}: {shown} does not match {error.validator_value!r}"
    return f"config error at {path}: {error.message}"


def _deepest(error: Any) -> Any:
    """jsonschema reports `$ref`/anyOf failures at the outer level; the useful message is the innermost."""
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def _check_language_codes(config: dict[str, Any]) -> None:
    """Corpus language keys must be language codes (langcodes decides, not a list of ours); checked before
    the schema so that "english" or "xx" is called what it is, not a pattern mismatch."""
    corpora = config.get("corpora")
    for corpus, spec in corpora.items() if isinstance(corpora, dict) else ():
        languages = spec.get("languages") if isinstance(spec, dict) else None
        for lang in languages if isinstance(languages, dict) else ():
            if not is_language_code(lang):
                raise EmbedlabError(
                    f"config error at corpora.{corpus}.languages.{lang}: {invalid_reason(lang)}"
                )


def validate_config(config: dict[str, Any], workflow_dir: str | Path) -> dict[str, Any]:
    """Validate in place against the package's schema (defaults filled) and return `config`; raise
    EmbedlabError with one line. `workflow_dir` (the Snakefile's folder) is where a relative corpus_root such
    as the default data/corpora is also looked for when the working directory is elsewhere."""
    import jsonschema
    import yaml
    from snakemake.utils import validate

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    _check_language_codes(config)
    # jsonschema first, for a one-line message; snakemake's validate then fills the defaults.
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise EmbedlabError(_describe(_deepest(error)))
    with as_file(SCHEMA) as schema_path:  # snakemake reads the schema from a file
        validate(config, str(schema_path))
    if not config["corpus_root"]:
        config["corpus_root"] = os.environ.get(CORPUS_ROOT_ENV) or None
    root = config["corpus_root"] = locate_corpus_root(config["corpus_root"], workflow_dir)
    if root and not Path(root).is_dir():
        raise EmbedlabError(
            f"config error at corpus_root: {root!r} is not a folder (set it to where the corpus files are)"
        )
    for corpus in config["corpora"]:
        settings = chunking(config, corpus)
        if settings.chunk_overlap >= settings.chunk_size:
            raise EmbedlabError(
                f"config error at corpora.{corpus}.chunking: chunk_overlap ({settings.chunk_overlap}) "
                f"must be smaller than chunk_size ({settings.chunk_size})"
            )
    return config


def chunking(config: dict[str, Any], corpus: str) -> ChunkingSettings:
    """Top-level chunking settings with the corpus's overrides applied."""
    return ChunkingSettings(**{**config["chunking"], **config["corpora"][corpus].get("chunking", {})})
