"""Turn an LLM's reply into clean questions, and say what was dropped and why.

The tutorial split replies on newlines and kept the first N lines, so "Here are two questions…" became a
"question" and answers the model added became queries. Here every line is unwrapped (numbering, bullets,
Markdown, quotes) and judged: lead-ins and sign-offs, answers, fragments, lines in another language than
the corpus and near-duplicates are dropped, each drop counted under a reason so a report can show how noisy
a model is. Pure functions, no I/O: the checkpoint keeps raw replies, so cleaning can change without asking
the LLM again.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from embedlab.text import CJK_CHAR, cjk_ratio, count_words, fold_words, language
from embedlab.text_language import detectable, outweighed

# Every drop reason, in the order they are checked (the report lists them in this order).
DROP_REASONS = (
    "empty",
    "preamble",
    "answer",
    "too_short",
    "too_long",
    "wrong_language",
    "not_a_question",
    "near_duplicate",
    "over_quota",
    "duplicate_across_chunks",
    "near_duplicate_across_chunks",
    "semantic_duplicate_across_chunks",  # not cleaning either (data.llm.dedup)
    "round_trip_miss",  # not cleaning (data.llm.roundtrip): listed so that every report shows one order
    "judge_failed",  # nor these (data.llm.judge): the judge's request failed after its retries,
    "judge_unreadable",  # its reply had no two scores on the scale,
    "judge_below_threshold",  # or a score under generators.llm.judge.threshold
)
QUESTION_END = ("?", "？", "؟")

_BULLET = re.compile(r"^(?:[-*•·‣◦▪●–—+>]+\s*)+")
_HEADING = re.compile(r"^#{1,6}\s*")
_NUMBER = re.compile(
    r"^(?:\(?\d{1,3}\s*[.)．、:：]|\(\d{1,3}\)|（\d{1,3}）|[①-⑳]|[一二三四五六七八九十]{1,3}\s*[、.．]"
    r"|（[一二三四五六七八九十]{1,3}）|\(?[a-hA-H][.)](?=\s))\s*"
)
_LABEL = re.compile(
    r"^(?:Q|Questions?|Frage|Otázka|Kérdés|Pregunta|Domanda|问题|問題|题目|题|提问)\s*\d{0,3}\s*[:：.)．-]\s*",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"\*\*|__|`")
_QUOTE_PAIRS = {
    '"': '"',
    "“": "”",
    "”": "”",
    "„": "“",
    "«": "»",
    "»": "«",
    "「": "」",
    "『": "』",
    "'": "'",
    "‘": "’",
}
_ANSWER = re.compile(
    r"^\(?\s*(?:A|Ans|Answer|Antwort|Réponse|R|Rép|Odpověď|Válasz|Respuesta|Risposta|答|答案|回答|解答|参考答案)"
    r"\s*\d{0,3}\s*[:：]",
    re.IGNORECASE,
)
_INLINE_ANSWER = re.compile(
    r"(?<=[?？])\s*\(?\s*(?:Answer|Réponse|Odpověď|Válasz|Antwort|答案|答|回答)\s*[:：].*$", re.IGNORECASE
)
# A question followed by the next list number on the same line: "1. What…? 2. Which…?"
_INLINE_SPLIT = re.compile(r"(?<=[?？])\s+(?=(?:\d{1,2}[.)、]|[-*•])\s)")
_PREAMBLE = re.compile(
    r"^(?:"
    # English
    r"here(?:'s| is| are)\b|sure\b|certainly\b|of course\b|okay\b|ok\b|absolutely\b|great\b|below "
    r"(?:are|is)\b"
    r"|the following\b|these (?:are|questions)\b|i hope\b|hope (?:this|these)\b|let me know\b|feel free\b"
    r"|note\b|good luck\b|(?:two|three|2|3) questions\b|questions\b"
    # French
    r"|voici\b|voilà\b|bien sûr\b|d'accord\b|d’accord\b|certainement\b|ci-dessous\b|les questions suivantes\b"
    r"|j'espère\b|j’espère\b|n'hésitez\b|n’hésitez\b|bonne chance\b|remarque\b|deux questions\b"
    # Czech, Hungarian, German, Spanish, Italian
    r"|zde (?:jsou|je)\b|samozřejmě\b|jistě\b|následující\b|doufám\b|íme\b|itt (?:van|vannak)\b"
    r"|természetesen\b|persze\b|a következő\b|remélem\b|hier sind\b|natürlich\b|gerne\b|aquí\b|claro\b|ecco\b"
    # Chinese
    r"|以下是|以下为|下面是|这里是|这是|好的|当然|希望|如有|问题如下|请参考|根据(?:上述|以上|所给|提供的|给定的)?"
    r"(?:上下文|内容|信息|文本|材料|条文)[^？?]*(?:问题|如下)"
    r")",
    re.IGNORECASE,
)
_WORD_RUN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass
class Cleaned:
    """Questions kept from one reply, and the dropped lines by reason (with the lines, for reports)."""

    questions: list[str]
    drops: Counter[str] = field(default_factory=Counter)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (reason, line)

    def drop(self, reason: str, line: str) -> None:
        self.drops[reason] += 1
        self.dropped.append((reason, line))


def language_ok(text: str, lang: str) -> bool:
    """Whether `text` may be in `lang`: no other language outweighs it by lingua's confidences
    (embedlab.text_language.outweighed; lingua's top guess is 0.98-1.00 accurate on query-length sentences
    of the test corpora, benchmarks/README.md). For a language lingua does not know, only the script can
    tell: CJK text for a CJK language, little of it for another one."""
    if detectable(lang):
        return not outweighed([text], lang)[0]
    ratio = cjk_ratio(text)
    return ratio >= 0.5 if language(lang).cjk else ratio <= 0.2


def unwrap(line: str) -> str:
    """Strip list numbering, bullets, question labels, Markdown and surrounding quotes, repeatedly."""
    text = unicodedata.normalize("NFC", line).replace("\u00a0", " ").replace("\u202f", " ").strip()
    while True:
        before = text
        text = _EMPHASIS.sub("", text).strip()
        text = _HEADING.sub("", text)
        text = _BULLET.sub("", text)
        text = _NUMBER.sub("", text)
        text = _LABEL.sub("", text)
        text = _strip_quotes(text).strip()
        if text == before:
            break
    return " ".join(text.split())


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] in QUESTION_END:
        # «Question» ? / "Question"? : the quote closes before the question mark
        inner = text[1:-1].rstrip()
        if inner and inner[-1] == _QUOTE_PAIRS[text[0]]:
            return inner[:-1].rstrip() + text[-1]
    return text


def split_lines(reply: str) -> list[str]:
    lines: list[str] = []
    for raw in reply.replace("\r\n", "\n").split("\n"):
        lines.extend(_INLINE_SPLIT.split(raw))
    return lines


def clean_reply(
    reply: str,
    lang: str,
    num_questions: int,
    min_words: int = 3,
    max_words: int = 100,
    near_duplicate_ratio: float = 0.9,
) -> Cleaned:
    """The questions of one reply, at most `num_questions`, in reply order; every dropped line counted."""
    out = Cleaned([])
    candidates: list[str] = []
    for raw in split_lines(reply):
        if not raw.strip():
            continue  # blank lines are layout, not drops
        text = unwrap(raw)
        if not text or not any(ch.isalnum() for ch in text):
            out.drop("empty", raw.strip())
            continue
        if _ANSWER.match(text):
            out.drop("answer", raw.strip())
            continue
        if text.endswith((":", "：")) or (_PREAMBLE.match(text) and not text.endswith(QUESTION_END)):
            out.drop("preamble", raw.strip())
            continue
        stripped = _INLINE_ANSWER.sub("", text).strip()
        if stripped != text:
            out.drop("answer", text[len(stripped) :].strip())
            text = stripped
        n = count_words(text)
        if n < min_words:
            out.drop("too_short", raw.strip())
            continue
        if n > max_words:
            out.drop("too_long", raw.strip())
            continue
        if not language_ok(text, lang):
            out.drop("wrong_language", raw.strip())
            continue
        candidates.append(text)
    if any(c.endswith(QUESTION_END) for c in candidates):
        # Questions were asked for; when some lines are questions, the others are explanations or answers.
        for c in [c for c in candidates if not c.endswith(QUESTION_END)]:
            out.drop("not_a_question", c)
        candidates = [c for c in candidates if c.endswith(QUESTION_END)]
    kept: list[str] = []
    for c in candidates:
        if any(_similar(c, k, near_duplicate_ratio) for k in kept):
            out.drop("near_duplicate", c)
        elif len(kept) >= num_questions:
            out.drop("over_quota", c)
        else:
            kept.append(c)
    out.questions = kept
    return out


def _similar(a: str, b: str, ratio: float) -> bool:
    na, nb = fold_words(a), fold_words(b)
    if na == nb:
        return True
    return SequenceMatcher(None, na, nb, autojunk=False).ratio() >= ratio


def words(text: str) -> set[str]:
    """Case-folded words; a run of CJK characters gives its character pairs (no spaces to split on)."""
    out: set[str] = set()
    for w in _WORD_RUN.findall(text.casefold()):
        if CJK_CHAR.search(w):
            out.update(w[i : i + 2] for i in range(max(1, len(w) - 1)))
        else:
            out.add(w)
    return out


class QuestionIndex:
    """Questions kept so far across chunks, to tell whether a new one repeats one of them.

    Near duplicates across chunks need more than the within-reply notion (`_similar`): questions about
    parallel passages read alike ("What are the obligations of importers?" / "… of exporters?", ratio
    0.95) yet ask different things. So a similar pair counts as one question only when what sets them
    apart is not specific to their chunks: no word that one question has and the other lacks occurs in its
    own chunk but not in the other's. Derived from the text, no word lists.

    Fast and exact: a pair is skipped by the cheap tests first (lengths: ratio ≤ 2·min/sum; a specific word;
    shared characters, difflib's quick_ratio from cached counts), so few pairs pay for the full ratio.
    """

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self._exact: set[str] = set()
        self._by_len: dict[int, list[tuple[str, Counter[str], set[str], set[str]]]] = defaultdict(list)

    def add(self, text: str, chunk_words: set[str]) -> None:
        norm = fold_words(text)
        self._exact.add(norm)
        self._by_len[len(norm)].append((norm, Counter(norm), words(text), chunk_words))

    def exact(self, text: str) -> bool:
        return fold_words(text) in self._exact

    def near(self, text: str, chunk_words: set[str]) -> bool:
        """Whether a kept question of another chunk asks what `text` (a question of the chunk whose words
        are `chunk_words`) asks."""
        norm = fold_words(text)
        n, r = len(norm), self.ratio
        lo, hi = (math.floor(n * r / (2 - r)), math.ceil(n * (2 - r) / r)) if r > 0 else (0, math.inf)
        counts, own = Counter(norm), words(text)
        for length in sorted(k for k in self._by_len if lo <= k <= hi):
            for other, other_counts, other_words, other_chunk in self._by_len[length]:
                if any(w in chunk_words and w not in other_chunk for w in own - other_words) or any(
                    w in other_chunk and w not in chunk_words for w in other_words - own
                ):
                    continue  # set apart by a word of its own chunk (cheap: checked first)
                if r > 0 and 2.0 * sum((counts & other_counts).values()) / (n + length) < r:
                    continue  # difflib's own formula over an upper bound of the matches
                if SequenceMatcher(None, norm, other, autojunk=False).ratio() >= r:
                    return True
        return False


def ordered_counts(
    counts: Counter[str] | dict[str, int], reasons: Iterable[str] = DROP_REASONS
) -> dict[str, int]:
    """Drop counts in the documented reason order, every reason present (zeros included)."""
    return {r: int(counts.get(r, 0)) for r in reasons}
