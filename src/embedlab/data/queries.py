"""The query stage: the generator table, one generator's queries file, and the dataset files
(llama-index EmbeddingQAFinetuneDataset JSON + provenance) merged from every generator's output.

The generators live in their own modules (`ict`, `headings`, `llm.generation`) and share the interface of
`embedlab.data.generator`; the table below is the one place that names them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.data.generator import QUERIES_FORMAT, TITLE_GENERATORS, Generator
from embedlab.data.headings import HeadingsGenerator
from embedlab.data.ict import IctGenerator
from embedlab.data.labels import VerbatimIndex
from embedlab.data.llm.generation import LlmGenerator
from embedlab.errors import EmbedlabError
from embedlab.text import fold

log = logging.getLogger(__name__)

PROVENANCE_FORMAT = "embedlab.provenance/1"
GENERATORS: dict[str, Callable[..., Generator]] = {
    "ict": IctGenerator,
    "headings": HeadingsGenerator,
    "llm": LlmGenerator,
}


def make_generator(name: str, settings: dict[str, Any]) -> Generator:
    if name not in GENERATORS:
        raise EmbedlabError(f"unknown query generator {name!r}; choose one of {sorted(GENERATORS)}")
    return GENERATORS[name](**settings)


def generate_queries(
    chunks_path: str | Path, output: str | Path, generator: str, settings: dict[str, Any], seed: int
) -> dict[str, Any]:
    """Run one generator over a chunk file and write its queries file; one that finds nothing writes zero
    queries and a `note` saying why (the dataset records it as skipped)."""
    chunks_doc = io.read_json(chunks_path)
    gen = make_generator(generator, settings)
    result = gen.generate(chunks_doc["chunks"], chunks_doc["lang"], seed)
    doc = {
        "format": QUERIES_FORMAT,
        "corpus": chunks_doc["corpus"],
        "lang": chunks_doc["lang"],
        "generator": generator,
        "settings": settings,
        "seed": seed,
        "stats": result.stats,
        "queries": [asdict(q) for q in result.queries],
    }
    if result.draws:
        doc["draws"] = result.draws
    if not result.queries:  # skipped for this corpus, never an error: another generator may have queries
        doc["note"] = result.note or f"no queries ({result.stats})"
        log.warning("%s/%s %s skipped: %s", doc["corpus"], doc["lang"], generator, doc["note"])
    io.write_json(output, doc)
    log.info("%s/%s %s: %s", doc["corpus"], doc["lang"], generator, result.stats)
    return doc


def verbatim_in(query: dict[str, Any], index: VerbatimIndex, chunk_ids: Sequence[str]) -> list[str]:
    """Chunks (ids, in corpus order) that hold the query's text word for word and are not its positives."""
    return [chunk_ids[i] for i in index.containing(query["text"]) if chunk_ids[i] not in query["chunk_ids"]]


def build_dataset(
    chunks_path: str | Path,
    query_paths: Sequence[str | Path],
    dataset_out: str | Path,
    provenance_out: str | Path,
) -> None:
    """Merge generators' queries into one EmbeddingQAFinetuneDataset file plus its provenance.

    The corpus is every chunk; a query text already asked (by any generator) is dropped and counted. A
    generator without queries is recorded as `skipped` with its note; no query at all is an error.
    Labels are completed: every chunk that holds a query's text word for word (labels.VerbatimIndex) is
    relevant to it, except for title queries (TITLE_GENERATORS), whose text names a topic: "AI Office" is
    mentioned in 57 articles of the AI Act, and none of them is the section about it.
    """
    chunks_doc = io.read_json(chunks_path)
    corpus = {c["id"]: c["text"] for c in chunks_doc["chunks"]}
    chunk_ids = list(corpus)
    index = VerbatimIndex(list(corpus.values()))
    queries: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    provenance: dict[str, dict[str, Any]] = {}
    generators: dict[str, Any] = {}
    seen: set[str] = set()
    for path in query_paths:
        doc = io.read_json(path)
        dropped = completed = 0
        for q in doc["queries"]:
            missing = [cid for cid in q["chunk_ids"] if cid not in corpus]
            if missing:
                raise EmbedlabError(
                    f"{path}: query {q['id']} points at unknown chunk {missing[0]}: rerun its rule"
                )
            if fold(q["text"]) in seen:
                dropped += 1
                continue
            seen.add(fold(q["text"]))
            queries[q["id"]] = q["text"]
            provenance[q["id"]] = {k: v for k, v in q.items() if k not in ("id", "text")}
            added = [] if doc["generator"] in TITLE_GENERATORS else verbatim_in(q, index, chunk_ids)
            if added:
                provenance[q["id"]]["verbatim_chunk_ids"] = added
                completed += 1
            relevant[q["id"]] = q["chunk_ids"] + added
        generators[doc["generator"]] = {
            "settings": doc["settings"],
            "seed": doc["seed"],
            "stats": doc["stats"],
            "duplicates_dropped": dropped,
            "labels_completed": completed,
        }
        if "draws" in doc:
            generators[doc["generator"]]["draws"] = doc["draws"]
        if not doc["queries"]:
            generators[doc["generator"]]["skipped"] = doc.get("note") or "no queries"
    if not queries:
        notes = "; ".join(f"{name}: {g.get('skipped', 'only duplicates')}" for name, g in generators.items())
        raise EmbedlabError(
            f"corpus {chunks_doc['corpus']}/{chunks_doc['lang']}: no generator made a query ({notes}): add "
            f"documents with more text or headings, or add a generator to generators.use (e.g. llm)"
        )
    io.write_json(
        dataset_out, {"queries": queries, "corpus": corpus, "relevant_docs": relevant, "mode": "text"}
    )
    io.write_json(
        provenance_out,
        {
            "format": PROVENANCE_FORMAT,
            "corpus": chunks_doc["corpus"],
            "lang": chunks_doc["lang"],
            "left_out": chunks_doc.get("left_out", {}),
            "generators": generators,
            "queries": provenance,
        },
    )
    log.info("dataset %s: %d queries over %d chunks", dataset_out, len(queries), len(corpus))
