"""The LLM judge (`generators.llm.judge`): a second pass that scores each kept (question, chunk) pair.

The recipes that report gains from LLM questions keep only pairs a judge scores high (NVIDIA's Nemotron
embedding recipe: >= 7/10). The judge reads the chunk and the question and answers one JSON object: how
well the chunk alone answers the question (`answerable`) and how much the question is about this chunk
rather than anything a similar text could answer (`specific`), each 1-10, with a one-sentence reason. A
pair is kept when both scores reach `threshold`; a reply without two readable scores is dropped as
`judge_unreadable`, a request that failed after its retries as `judge_failed`. Requests go through the same
asking and checkpoint machinery as the questions (`embedlab.data.llm.asking`), one record per question id,
keyed by the judge's prompt hash, model and options: a killed run resumes without asking a judged pair
again, and changing only the threshold asks nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from embedlab.data.llm.asking import Ask

_SEP = "---------------------"
JUDGE_PROMPT = (
    "You are judging a question written for a search test collection: someone will type the question, and "
    "the search should find the passage below.\n\n"
    f"Passage:\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
    "Question: {question}\n\n"
    "Score the pair on two scales from 1 (worst) to 10 (best):\n"
    "- answerable: the passage alone answers the question completely;\n"
    "- specific: the question asks about this passage in particular, not about something any similar "
    "document would answer.\n"
    'Reply with one JSON object and nothing else, e.g. {"answerable": 8, "specific": 6, "reason": "one '
    'short sentence"}.\n'
)
SCALE = (1, 10)
SCORES = ("answerable", "specific")
_OBJECT = re.compile(r"\{.*?\}", re.S)


@dataclass(frozen=True)
class Verdict:
    """A judge's reply read: both scores and the reason, or None scores when the reply was unreadable."""

    answerable: int | None
    specific: int | None
    reason: str

    @property
    def readable(self) -> bool:
        return self.answerable is not None and self.specific is not None

    def keeps(self, threshold: int) -> bool:
        return self.readable and min(self.answerable, self.specific) >= threshold  # type: ignore[type-var]

    def provenance(self) -> dict[str, Any]:
        return {"answerable": self.answerable, "specific": self.specific, "reason": self.reason}


def template(prompt: str | None) -> str:
    """The configured judge prompt or the built-in one (both fill {context_str} and {question})."""
    return prompt or JUDGE_PROMPT


def ask(prompt_hash: str, templ: str, question: str, context: str) -> Ask:
    """One pair's request (placeholders filled literally: the chunk may hold braces)."""
    return Ask(prompt_hash, templ.replace("{question}", question).replace("{context_str}", context))


def options_hash(temperature: float, max_tokens: int, seed: int | None) -> str:
    """The judge's generation options: part of its checkpoint key (the threshold is not: it only filters)."""
    options = {"judge": True, "temperature": temperature, "max_tokens": max_tokens, "seed": seed}
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]


def read_verdict(reply: str) -> Verdict:
    """The first JSON object of the reply with both scores whole numbers on the scale (a model may wrap it
    in prose or a code fence; "7" and 7.0 read as 7); anything else is unreadable, the reply's start then
    standing as the reason."""
    for match in _OBJECT.finditer(reply or ""):
        try:
            obj = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        scores = [_score(obj.get(k)) for k in SCORES]
        if scores[0] is not None and scores[1] is not None:
            reason = " ".join(str(obj.get("reason") or "").split())
            return Verdict(scores[0], scores[1], reason)
    return Verdict(None, None, " ".join((reply or "").split())[:200])


def _score(value: Any) -> int | None:
    """A whole number on the scale (7, 7.0 or "7"), else None."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        return None
    return int(value) if SCALE[0] <= value <= SCALE[1] else None
