"""The offline `ict` generator (inverse cloze task): a sentence cut out of its chunk is the query."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedlab.data.chunking import split_sentences
from embedlab.data.generator import GeneratorResult, Query
from embedlab.data.labels import VerbatimIndex
from embedlab.data.markup import code_spans
from embedlab.text import count_words, squash


@dataclass
class IctQuery(Query):
    """An ICT query also records its draw: the k-th sentence drawn from its chunk (see IctGenerator)."""

    draw: int = 0


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
                        text=squash(sentences[i]),
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
