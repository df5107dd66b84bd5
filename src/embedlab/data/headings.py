"""The offline `headings` generator: the documents' own section titles are the queries."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from embedlab.data.generator import GeneratorResult, Query
from embedlab.data.outline import PATH_SEP, Heading
from embedlab.text import CJK_CLASS, count_words, fold, words

_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")


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
        titles = Counter(fold(n.title) for n in nodes.values() if n.in_one_group)  # candidate queries
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
                    ("repeated", titles[fold(node.title)] > 1),
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
            texts[fold(text)].append((key, text))
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
            parent = next((t for t in reversed(above) if fold(t) != fold(title)), None)
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


def _slug(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]
