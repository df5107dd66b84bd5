"""Synthetic queries per chunk: the generator interface, the offline `ict` and `headings` generators, and
the dataset files (llama-index EmbeddingQAFinetuneDataset JSON + provenance) built from their output.

A generator turns chunks into `Query` records; every record says which chunks answer it and how it was
made (generator, LLM model, prompt hash, raw LLM text), so a report can never mix up ICT, heading and LLM
queries. The `llm` generator (its own module) fills the LLM fields through the same interface.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from embedlab import io
from embedlab.chunking import split_sentences
from embedlab.errors import EmbedlabError

log = logging.getLogger(__name__)

QUERIES_FORMAT = "embedlab.queries/1"
PROVENANCE_FORMAT = "embedlab.provenance/1"
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\d_][\w'’-]*", re.UNICODE)


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


class Generator(Protocol):
    """What every generator offers: chunks of one corpus/language in, queries out (deterministic)."""

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult: ...


def count_words(text: str) -> int:
    """Words for Latin scripts, characters for CJK: a length measure that means the same in every language."""
    return len(_WORD.findall(text))


@dataclass
class IctGenerator:
    """Inverse cloze task: a sentence of the chunk is the query, the rest of the chunk the positive."""

    queries_per_chunk: int = 1
    min_words: int = 6
    max_words: int = 60
    keep_sentence_prob: float = 0.0

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult:
        queries: list[Query] = []
        stats: Counter[str] = Counter()
        for chunk in chunks:
            rng = random.Random(f"{seed}:ict:{chunk['id']}")  # per chunk: other chunks never shift the draw
            sentences = [s for s in split_sentences(chunk["text"]) if s.strip()]
            headings = {h["label"] for h in chunk["headings"]} | {chunk["heading_path"].split(" › ")[-1]}
            candidates = [
                i
                for i, s in enumerate(sentences)
                if self.min_words <= count_words(s) <= self.max_words and s.strip() not in headings
            ]
            if len(sentences) < 2 or not candidates:
                stats["chunks_skipped_too_few_sentences"] += 1
                continue
            picks = sorted(rng.sample(candidates, min(self.queries_per_chunk, len(candidates))))
            for k, i in enumerate(picks):
                keep = rng.random() < self.keep_sentence_prob
                positive = chunk["text"] if keep else "".join(sentences[:i] + sentences[i + 1 :]).strip()
                queries.append(
                    Query(
                        id=f"ict.{chunk['id']}.{k}",
                        text=" ".join(sentences[i].split()),
                        chunk_ids=[chunk["id"]],
                        generator="ict",
                        positive_text=positive,
                    )
                )
        stats["queries"] = len(queries)
        return GeneratorResult(queries, dict(stats))


@dataclass
class HeadingsGenerator:
    """Human-written queries: each titled heading is a query whose positives are all chunks under it.

    A title used by several headings ("一般规定" in many chapters) is qualified by its parent's title;
    if it is still ambiguous it is dropped, since its positives would be a guess.
    """

    min_positives: int = 1

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for chunk in chunks:
            groups[chunk["group"]].append(chunk)
        titled: dict[str, list[str]] = {}
        for key, members in groups.items():
            titles = [h["title"] for h in members[0]["headings"] if h["title"]]
            if titles and members[0]["group"] != members[0]["id"]:
                titled[key] = titles
        stats: Counter[str] = Counter()
        by_text: dict[str, list[str]] = defaultdict(list)
        for key, titles in titled.items():
            by_text[_norm(titles[-1])].append(key)
        queries: list[Query] = []
        for key in sorted(titled):
            titles = titled[key]
            text = titles[-1]
            if len(by_text[_norm(text)]) > 1:
                qualified = " › ".join(titles[-2:]) if len(titles) > 1 else None
                others = [k for k in by_text[_norm(text)] if k != key]
                if qualified is None or any(" › ".join(titled[k][-2:]) == qualified for k in others):
                    stats["headings_dropped_ambiguous"] += 1
                    continue
                text = qualified
            members = groups[key]
            if len(members) < self.min_positives:
                stats["headings_dropped_too_few_chunks"] += 1
                continue
            queries.append(
                Query(
                    id=f"headings.{_slug(key)}",
                    text=text,
                    chunk_ids=[c["id"] for c in members],
                    generator="headings",
                )
            )
        queries.sort(key=lambda q: q.id)
        stats["queries"] = len(queries)
        stats["positives"] = sum(len(q.chunk_ids) for q in queries)
        return GeneratorResult(queries, dict(stats))


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _slug(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:12]


GENERATORS: dict[str, Callable[..., Generator]] = {"ict": IctGenerator, "headings": HeadingsGenerator}


def register_generator(name: str, factory: Callable[..., Generator]) -> None:
    """The seam for generators that live in their own module (the LLM one)."""
    GENERATORS[name] = factory


def make_generator(name: str, settings: dict[str, Any]) -> Generator:
    if name == "llm" and name not in GENERATORS:
        from embedlab import llm_queries  # noqa: F401  (registers itself)
    if name not in GENERATORS:
        raise EmbedlabError(f"unknown query generator {name!r}; choose one of {sorted(GENERATORS)}")
    return GENERATORS[name](**settings)


def generate_queries(
    chunks_path: str | Path, output: str | Path, generator: str, settings: dict[str, Any], seed: int
) -> dict[str, Any]:
    """Run one generator over a chunk file and write its queries file."""
    chunks_doc = io.read_json(chunks_path)
    gen = make_generator(generator, settings)
    result = gen.generate(chunks_doc["chunks"], chunks_doc["lang"], seed)
    if not result.queries:
        raise EmbedlabError(
            f"generator {generator} made no queries for {chunks_doc['corpus']}/{chunks_doc['lang']} "
            f"({result.stats}): loosen its settings or pick another generator"
        )
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
    io.write_json(output, doc)
    log.info("%s/%s %s: %s", doc["corpus"], doc["lang"], generator, result.stats)
    return doc


def build_dataset(
    chunks_path: str | Path,
    query_paths: Sequence[str | Path],
    dataset_out: str | Path,
    provenance_out: str | Path,
) -> None:
    """Merge generators' queries into one EmbeddingQAFinetuneDataset file plus its provenance.

    The corpus is every chunk; a query text already asked (by any generator) is dropped and counted.
    """
    chunks_doc = io.read_json(chunks_path)
    corpus = {c["id"]: c["text"] for c in chunks_doc["chunks"]}
    queries: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    provenance: dict[str, dict[str, Any]] = {}
    generators: dict[str, Any] = {}
    seen: set[str] = set()
    for path in query_paths:
        doc = io.read_json(path)
        dropped = 0
        for q in doc["queries"]:
            missing = [cid for cid in q["chunk_ids"] if cid not in corpus]
            if missing:
                raise EmbedlabError(
                    f"{path}: query {q['id']} points at unknown chunk {missing[0]}: rerun its rule"
                )
            if _norm(q["text"]) in seen:
                dropped += 1
                continue
            seen.add(_norm(q["text"]))
            queries[q["id"]] = q["text"]
            relevant[q["id"]] = q["chunk_ids"]
            provenance[q["id"]] = {k: v for k, v in q.items() if k not in ("id", "text")}
        generators[doc["generator"]] = {
            "settings": doc["settings"],
            "seed": doc["seed"],
            "stats": doc["stats"],
            "duplicates_dropped": dropped,
        }
    io.write_json(
        dataset_out, {"queries": queries, "corpus": corpus, "relevant_docs": relevant, "mode": "text"}
    )
    io.write_json(
        provenance_out,
        {
            "format": PROVENANCE_FORMAT,
            "corpus": chunks_doc["corpus"],
            "lang": chunks_doc["lang"],
            "generators": generators,
            "queries": provenance,
        },
    )
    log.info("dataset %s: %d queries over %d chunks", dataset_out, len(queries), len(corpus))
