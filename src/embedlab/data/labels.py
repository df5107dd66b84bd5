"""Which chunks hold a text word for word: the test behind complete labels.

A query is "verbatim" in a chunk when its whitespace-normalised text is a substring of the chunk's
whitespace-normalised text (case and punctuation kept: word for word, not "about the same"). A chunk that
holds a query's exact sentence answers it, so a label set that leaves such a chunk out scores a model
that ranks it first as a miss. Chunking collapses identical chunks, ICT draws only sentences found in one
chunk, and the dataset stage adds every chunk that holds a sentence-like query (see queries.build_dataset).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from embedlab.text import squash


class VerbatimIndex:
    """All chunk texts normalised and joined once, so finding a text in all of them is one C-level scan
    per hit (str.find) instead of one Python call per chunk."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = [squash(t) for t in texts]
        self._starts: list[int] = []
        offset = 0
        for text in self._texts:
            self._starts.append(offset)
            offset += len(text) + 1
        self._hay = "\n".join(self._texts)  # normalised text holds no "\n": a hit never spans two chunks

    def containing(self, text: str) -> list[int]:
        """Indexes (in the order given) of the texts that hold `text` word for word."""
        needle = squash(text)
        if not needle:
            return []
        hits: list[int] = []
        pos = self._hay.find(needle)
        while pos >= 0:
            i = bisect_right(self._starts, pos) - 1
            hits.append(i)
            pos = self._hay.find(needle, self._starts[i] + len(self._texts[i]) + 1)
        return hits
