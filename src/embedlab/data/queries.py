"""Synthetic queries per chunk: the generator interface, the offline `ict` and `headings` generators, and
the dataset files (llama-index EmbeddingQAFinetuneDataset JSON + provenance) built from their output.

A generator turns chunks into `Query` records; every record says which chunks answer it and how it was
made (generator, LLM model, prompt hash, raw LLM text), so a report can never mix up ICT, heading and LLM
queries. The `llm` generator (its own module) fills the LLM fields through the same interface.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from embedlab import io
from embedlab.data.chunking import split_sentences
from embedlab.data.labels import VerbatimIndex, normalize
from embedlab.data.markup import code_spans
from embedlab.data.outline import PATH_SEP, Heading
from embedlab.errors import EmbedlabError
from embedlab.text import CJK_CLASS, count_words, words

log = logging.getLogger(__name__)

QUERIES_FORMAT = "embedlab.data.queries/1"
PROVENANCE_FORMAT = "embedlab.provenance/1"
_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")


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
class IctQuery(Query):
    """An ICT query also records its draw: the k-th sentence drawn from its chunk (see IctGenerator)."""

    draw: int = 0


@dataclass
class GeneratorResult:
    queries: list[Query]
    stats: dict[str, int] = field(default_factory=dict)
    note: str | None = None  # why no queries were made (written to the queries file when there are none)
    draws: dict[str, int] | None = None  # side -> draws per chunk the split keeps (queries with a `draw`)


class Generator(Protocol):
    """What every generator offers: chunks of one corpus/language in, queries out (deterministic)."""

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult: ...


@dataclass
class IctGenerator:
    """Inverse cloze task: a sentence of the chunk is the query, the rest of the chunk the positive.

    Only a sentence found in no other chunk (word for word after whitespace normalisation) is drawn, so
    its chunk is its one right answer and the label is complete by construction. The alternative, marking
    every chunk that holds the sentence relevant, was not taken: such a sentence (the overlap shared with
    a neighbour, boilerplate repeated across articles) cannot tell its chunks apart, so as a val query it
    tests no choice between them, and as a training pair it would need one rewritten positive per chunk
    (each chunk without the sentence). Chunking has already made identical chunks one.

    Draws are per chunk, seeded by the chunk id: the candidates are shuffled once and the k-th query is
    the k-th of that order (`draw` = k). max(queries_per_chunk, val_queries_per_chunk) are drawn before
    the split; the split keeps the first `queries_per_chunk` on train chunks and the first
    `val_queries_per_chunk` on val chunks, so val can have more queries without training seeing more
    (a train chunk's queries are the same whatever val_queries_per_chunk is).
    """

    queries_per_chunk: int = 1
    val_queries_per_chunk: int | None = None  # None: queries_per_chunk
    min_words: int = 6
    max_words: int = 60
    keep_sentence_prob: float = 0.0

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult:
        draws = {"train": self.queries_per_chunk, "val": self.val_queries_per_chunk or self.queries_per_chunk}
        queries: list[Query] = []
        stats: Counter[str] = Counter()
        index = VerbatimIndex([c["text"] for c in chunks])
        for at, chunk in enumerate(chunks):
            rng = random.Random(f"{seed}:ict:{chunk['id']}")  # per chunk: other chunks never shift the draw
            sentences = [s for s in split_sentences(chunk["text"]) if s.strip()]
            headings = {h["label"] for h in chunk["headings"]} | {chunk["heading_path"].split(" › ")[-1]}
            in_code = _in_code(sentences, code_spans(chunk["text"]))
            fitting = [
                i
                for i, s in enumerate(sentences)
                if self.min_words <= count_words(s) <= self.max_words
                and s.strip() not in headings
                and not in_code[i]
            ]
            if len(sentences) < 2 or not fitting:
                stats["chunks_skipped_too_few_sentences"] += 1
                continue
            candidates = [i for i in fitting if index.containing(sentences[i]) == [at]]
            stats["sentences_skipped_in_other_chunks"] += len(fitting) - len(candidates)
            if not candidates:
                stats["chunks_skipped_sentences_in_other_chunks"] += 1
                continue
            rng.shuffle(candidates)
            for k, i in enumerate(candidates[: max(draws.values())]):
                keep = rng.random() < self.keep_sentence_prob
                positive = chunk["text"] if keep else "".join(sentences[:i] + sentences[i + 1 :]).strip()
                queries.append(
                    IctQuery(
                        id=f"ict.{chunk['id']}.{k}",
                        text=normalize(sentences[i]),
                        chunk_ids=[chunk["id"]],
                        generator="ict",
                        positive_text=positive,
                        draw=k,
                    )
                )
        stats["queries"] = len(queries)
        return GeneratorResult(queries, dict(stats), draws=draws)


def _in_code(sentences: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[bool]:
    """Per sentence (they concatenate to the chunk text): does it touch a code span? Code is no query."""
    flags, start = [], 0
    for sentence in sentences:
        end = start + len(sentence)
        flags.append(any(a < end and start < b for a, b in spans))
        start = end
    return flags


@dataclass
class HeadingsGenerator:
    """Human-written queries: each titled heading is a query whose positives are all chunks under it
    (its subsections included).

    A heading is used only at or below its chunks' split group (an article; a docs page's top section), so
    its positives never straddle train and val. A title that needs context is qualified by its parent's
    ("Serializers › Example", "发行 › 一般规定"), judged from the corpus itself, never a word list: it is
    repeated (several headings share it), short (`min_words`), or common (each of its words is in at
    least `common_share` of the corpus's headings). Still ambiguous, or generic without a parent: dropped.
    """

    min_positives: int = 1
    min_words: int = 2
    common_share: float = 0.02

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult:
        nodes = _heading_nodes(chunks)
        stats: Counter[str] = Counter(headings=len(nodes))
        if not nodes:
            return GeneratorResult([], {"headings": 0, "queries": 0}, "no titled headings in this corpus")
        titles = Counter(_norm(n.title) for n in nodes.values() if n.in_one_group)  # candidate queries
        df: Counter[str] = Counter()
        for n in nodes.values():
            df.update({w.casefold() for w in words(n.title)})
        common_df = max(3, math.ceil(self.common_share * len(nodes)))
        queries: list[Query] = []
        texts: dict[str, list[tuple[str, str]]] = defaultdict(list)  # query text -> (key, source)
        for key, node in nodes.items():
            if not node.in_one_group:
                stats["headings_dropped_spans_groups"] += 1
                continue
            if len(node.chunk_ids) < self.min_positives:
                stats["headings_dropped_too_few_chunks"] += 1
                continue
            title_terms = [w.casefold() for w in words(node.title)]
            reasons = [
                reason
                for reason, hit in (
                    ("repeated", titles[_norm(node.title)] > 1),
                    ("short", title_words(node.title) < self.min_words),
                    ("common", bool(title_terms) and all(df[w] >= common_df for w in title_terms)),
                )
                if hit
            ]
            text = node.title
            if reasons and node.parent:
                text = f"{node.parent}{PATH_SEP}{node.title}"
                stats[f"headings_qualified_{reasons[0]}"] += 1
            elif reasons and reasons != ["short"]:  # a short title of its own is kept as it is
                stats[
                    "headings_dropped_ambiguous" if "repeated" in reasons else "headings_dropped_generic"
                ] += 1
                continue
            texts[_norm(text)].append((key, text))
        for keyed in texts.values():
            if len(keyed) > 1:
                stats["headings_dropped_ambiguous"] += len(keyed)
                continue
            key, text = keyed[0]
            queries.append(
                Query(
                    id=f"headings.{_slug(key)}",
                    text=text,
                    chunk_ids=nodes[key].chunk_ids,
                    generator="headings",
                )
            )
        queries.sort(key=lambda q: q.id)
        stats["queries"] = len(queries)
        stats["positives"] = sum(len(q.chunk_ids) for q in queries)
        note = None if queries else f"none of {len(nodes)} headings is a usable query"
        return GeneratorResult(queries, dict(stats), note)


@dataclass
class _Node:
    title: str
    parent: str | None  # the nearest titled heading above with another title ("Codes of practice" twice)
    chunk_ids: list[str] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)
    in_one_group: bool = False


def _heading_nodes(chunks: Sequence[dict[str, Any]]) -> dict[str, _Node]:
    """Every titled heading of the corpus (per file) with every chunk under it, in document order.

    `in_one_group`: its chunks are one split group and the heading is that group's heading or below it
    (a chapter holding one section is above its group: its section is the query).
    """
    nodes: dict[str, _Node] = {}
    for chunk in chunks:
        path = [(h.get("label") or "", h.get("title")) for h in chunk["headings"]]
        shown = [_display(label, title) for label, title in path]
        above: list[str] = []
        for depth, (_, title) in enumerate(path, start=1):
            if not title:
                continue
            parent = next((t for t in reversed(above) if _norm(t) != _norm(title)), None)
            above.append(title)
            key = PATH_SEP.join([chunk["source"], *shown[:depth]])
            node = nodes.setdefault(key, _Node(title, parent))
            node.chunk_ids.append(chunk["id"])
            node.groups.add(chunk["group"])
            if not node.in_one_group:
                cuts = {PATH_SEP.join(shown[:j]) for j in range(1, depth + 1)}
                node.in_one_group = chunk["group"] in cuts | {f"{chunk['source']}{PATH_SEP}{c}" for c in cuts}
    for node in nodes.values():
        node.in_one_group = node.in_one_group and len(node.groups) == 1
    return nodes


def _display(label: str, title: str | None) -> str:
    return Heading(label, title).display() if label else title or ""


def title_words(text: str) -> float:
    """Length of a title in words: a run of CJK characters counts one word per two characters (a Chinese
    word is mostly two), so "示例" and "Example" are both one word."""
    cjk = _CJK_RUN.findall(text)
    rest = _CJK_RUN.sub(" ", text)
    return count_words(rest) + sum(math.ceil(len(run) / 2) for run in cjk)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _slug(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:12]


GENERATORS: dict[str, Callable[..., Generator]] = {"ict": IctGenerator, "headings": HeadingsGenerator}
# Generators whose query text is a title, not a statement: a chunk that mentions it is not labelled.
TITLE_GENERATORS = frozenset({"headings"})


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
            if _norm(q["text"]) in seen:
                dropped += 1
                continue
            seen.add(_norm(q["text"]))
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
            "generators": generators,
            "queries": provenance,
        },
    )
    log.info("dataset %s: %d queries over %d chunks", dataset_out, len(queries), len(corpus))
