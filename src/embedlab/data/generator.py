"""The query generator interface: what every generator (ict, headings, llm) returns, and how a query is keyed.

A generator turns chunks into `Query` records; every record says which chunks answer it and how it was
made (generator, LLM model, prompt hash, raw LLM text), so a report can never mix up ICT, heading and LLM
queries. This module imports no generator, so each generator module (the LLM one included) and the
generator table in `embedlab.data.queries` import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

QUERIES_FORMAT = "embedlab.queries/1"
# Generators whose query text is a title, not a statement: a chunk that mentions it is not labelled.
TITLE_GENERATORS = frozenset({"headings"})


@dataclass
class Query:
    """One synthetic query and where it came from."""

    id: str
    text: str
    chunk_ids: list[str]
    generator: str
    positive_text: str | None = None  # training positive when it is not the chunk itself (ICT)
    llm_model: str | None = None
    prompt_hash: str | None = None
    raw_text: str | None = None


@dataclass
class GeneratorResult:
    queries: list[Query]
    stats: dict[str, int] = field(default_factory=dict)
    note: str | None = None  # why no queries were made (written to the queries file when there are none)
    draws: dict[str, int] | None = None  # side -> draws per chunk the split keeps (queries with a `draw`)


class Generator(Protocol):
    """What every generator offers: chunks of one corpus/language in, queries out (deterministic)."""

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult: ...
