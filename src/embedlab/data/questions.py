"""Questions users bring (a support inbox, an FAQ, a benchmark), labelled at whatever level they have, mapped
onto the chunks of their own documents so that every model is scored on questions the pipeline did not make.

A label says where an answer is: a quote of the document, a section (heading, title or heading path), a
numbered unit ("Article 50", "第五十条", "§ 3.2", or a bare number of the document's main numbered series), a
source file of a folder corpus (with a page), or chunk ids. Each is mapped onto every chunk that holds it,
from the structure the chunker recorded (headings, sources, pages) and the chunk texts, never from a word
list. What cannot be mapped is counted by reason and listed, never dropped silently.

A BEIR folder's labels name whole documents, so its real.json also records them: `documents` (question id ->
its relevant document ids, the chunks' `source`), `ignore_identical_ids` (questions.ignore_identical_ids,
MTEB's rule) and, for graded qrels, `grades` (nDCG's gains); the evaluations then rank documents by their best
chunk (evaluation.documents), which keeps a chunked BEIR corpus comparable with the published numbers.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from embedlab import io
from embedlab.data.beir import beir_grades, beir_questions, is_beir_folder, splits
from embedlab.data.outline import ZH_NUMERALS, parse_marker, zh_number
from embedlab.data.question_files import LABEL_KINDS, Label, Question, QuestionSource, read_questions
from embedlab.data.split import assign_groups, by_side, held_out_groups
from embedlab.errors import EmbedlabError
from embedlab.text import fold, loose

log = logging.getLogger(__name__)

FORMAT = "embedlab.real_questions/1"
MIN_QUOTE_CHARS = 12  # a shorter quote (after normalisation) matches by accident

_ZH_UNIT = re.compile(rf"^第\s*([{ZH_NUMERALS}]+|\d+)\s*([章节条编款项])$")
_SIGN_UNIT = re.compile(r"^(§{1,2}|¶|#)\s*(\d+[a-z]?(?:\.\d+)*)$")
_BARE_UNIT = re.compile(r"^(\d+[a-z]?(?:\.\d+)*)\.?$")
_WORD_PAREN = re.compile(r"^([^\W\d_]{2,30})\s*\((\d+[a-z]?)\)$")


def unit_key(label: str) -> tuple[str | None, str] | None:
    """A numbered unit's (series, number), language-free: "Article 50" -> ("article", "50"), "第五十条" ->
    ("第条", "50"), "§ 3.2" -> ("§", "3.2"), "Recital (60)" -> ("recital", "60"), "CHAPTER III" ->
    ("chapter", "3"), a bare "50" or "2.1" -> (None, ...); None when the text is not one."""
    text = " ".join(str(label).split())
    if m := _ZH_UNIT.match(text):
        number = m.group(1)
        return f"第{m.group(2)}", str(int(number) if number.isdigit() else zh_number(number))
    if m := _SIGN_UNIT.match(text):
        return m.group(1), m.group(2)
    if m := _BARE_UNIT.match(text):
        return None, m.group(1)
    if m := _WORD_PAREN.match(text):
        return m.group(1).casefold(), m.group(2)
    if marker := parse_marker(text):
        return marker.key, f"{marker.number[0]}{marker.number[1]}"
    return None


class ChunkMap:
    """Finds the chunks a label names, from one chunk file (docs/formats.md)."""

    def __init__(self, chunks: Sequence[dict[str, Any]], series: str | None = None) -> None:
        self.chunks = chunks
        self.ids = [c["id"] for c in chunks]
        self._loose = [loose(c["text"]) for c in chunks]
        self._units: dict[tuple[str | None, str], list[str]] = defaultdict(list)
        self._sections: dict[str, list[str]] = defaultdict(list)
        self._files: dict[str, list[int]] = defaultdict(list)
        deepest: Counter[str | None] = Counter()
        for i, chunk in enumerate(chunks):
            keys = [k for h in chunk["headings"] if (k := unit_key(h.get("label") or "")) is not None]
            for key in dict.fromkeys(keys):
                self._units[key].append(chunk["id"])
            if keys:
                deepest[keys[-1][0]] += 1
            for name in self._section_names(chunk):
                self._sections[name].append(chunk["id"])
            for loc in chunk.get("locations") or [{"source": chunk["source"]}]:
                self._files[loc["source"]].append(i)
        # A bare number names a unit of the series that holds the most chunks as their deepest numbered unit
        # (the AI Act's articles, not its chapters or recitals); the config may name it instead.
        self.series = series.casefold() if series else (deepest.most_common(1)[0][0] if deepest else None)

    @staticmethod
    def _section_names(chunk: dict[str, Any]) -> set[str]:
        names = set()
        for h in chunk["headings"]:
            label, title = h.get("label") or "", h.get("title") or ""
            names.update(fold(x) for x in (label, title, f"{label} — {title}" if label and title else ""))
        parts = [p for p in (chunk.get("heading_path") or "").split(" › ") if p]
        names.update(fold(" › ".join(parts[: i + 1])) for i in range(len(parts)))
        names.update(fold(" › ".join(parts[i:])) for i in range(len(parts)))
        names.discard("")
        return names

    def unit(self, label: Label) -> list[str]:
        key = unit_key(label.value)
        if key is None:
            return []
        series, number = key
        if series is None:
            series = label.series.casefold() if label.series else self.series
            if series is not None and not series.startswith("第"):
                series = unit_key(f"{series} 1")[0] if unit_key(f"{series} 1") else series
        return self._units.get((series, number), [])

    def section(self, label: Label) -> list[str]:
        return self._sections.get(fold(label.value)) or self.unit(label)

    def file(self, label: Label) -> list[str]:
        value = label.value.strip().replace("\\", "/")
        found = [
            i
            for src, idx in self._files.items()
            if src == value or src.endswith("/" + value) or PurePosixPath(src).stem == value
            for i in idx
        ]
        if label.page is None:
            return [self.ids[i] for i in dict.fromkeys(found)]
        on_page = [i for i in found if self.chunks[i].get("page") == label.page]
        if not on_page:  # no chunk starts on that page: the one running into it
            before = [i for i in found if (self.chunks[i].get("page") or 0) < label.page]
            on_page = before[-1:]
        return [self.ids[i] for i in on_page]

    def chunk(self, label: Label) -> list[str]:
        return [label.value] if label.value in set(self.ids) else []

    def quote(self, label: Label) -> list[str]:
        needle = loose(label.value)
        if len(needle) < MIN_QUOTE_CHARS:
            return []
        whole = [cid for cid, hay in zip(self.ids, self._loose, strict=True) if needle in hay]
        return whole or self._spanning(needle)

    def _spanning(self, needle: str) -> list[str]:
        """Consecutive chunks of one source whose joined text (overlap counted once) holds the quote."""
        for i in range(len(self.chunks) - 1):
            if self.chunks[i]["source"] != self.chunks[i + 1]["source"]:
                continue
            a, b = self._loose[i], self._loose[i + 1]
            joined = a + b[_overlap(a, b) :]
            at = joined.find(needle)
            if at >= 0 and at < len(a) < at + len(needle):
                return [self.ids[i], self.ids[i + 1]]
        return []

    def chunks_of(self, label: Label) -> list[str]:
        return getattr(self, label.kind)(label)


def _overlap(a: str, b: str, anchor: int = 40) -> int:
    """Length of the longest end of `a` that starts `b` (chunks of one source share their overlap)."""
    head = b[: min(anchor, len(b))]
    pos = a.rfind(head)
    while pos >= 0:
        if b.startswith(a[pos:]):
            return len(a) - pos
        pos = a.rfind(head, 0, pos)
    return 0


REASONS = ("no_label", "wrong_language", *(f"{k}_not_found" for k in LABEL_KINDS))


def map_questions(
    questions: Sequence[Question],
    chunks: Sequence[dict[str, Any]],
    series: str | None = None,
    language_ok: Callable[[str], bool] | None = None,
) -> tuple[dict[str, list[str]], list[dict[str, Any]], dict[str, Any]]:
    """(question id -> relevant chunk ids, unmapped [{id, rows, question, labels, reason}], stats).

    A question keeps every label that mapped; it is unmapped when none did (reason: its first label's kind
    `<kind>_not_found`, or `no_label`, or `wrong_language` when `language_ok` says so)."""
    index = ChunkMap(chunks, series)
    relevant: dict[str, list[str]] = {}
    unmapped: list[dict[str, Any]] = []
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for q in questions:
        reason = None
        if language_ok is not None and not language_ok(q.text):
            reason = "wrong_language"
        elif not q.labels:
            reason = "no_label"
        else:
            found: list[str] = []
            for label in q.labels:
                hit = index.chunks_of(label)
                per_kind[label.kind]["mapped" if hit else "not_found"] += 1
                found.extend(hit)
            if found:
                relevant[q.id] = list(dict.fromkeys(found))
            else:
                reason = f"{q.labels[0].kind}_not_found"
        if reason:
            unmapped.append(
                {"id": q.id, "rows": list(q.rows), "question": q.text, "reason": reason,
                 "labels": [_label_json(lab) for lab in q.labels]}
            )  # fmt: skip
    stats = {
        "questions": len(questions),
        "mapped": len(relevant),
        "unmapped": len(unmapped),
        "unmapped_by_reason": dict(sorted(Counter(u["reason"] for u in unmapped).items())),
        "labels_by_kind": {k: dict(sorted(v.items())) for k, v in sorted(per_kind.items())},
        "series": index.series,
    }
    return relevant, unmapped, stats


def _label_json(label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": label.kind, "value": label.value}
    if label.series:
        out["series"] = label.series
    if label.page is not None:
        out["page"] = label.page
    return out


def question_languages(questions: Sequence[Question], lang: str) -> dict[str, bool]:
    """Question text -> whether it may be in `lang` (False only when lingua is confident it is another
    language: a person's question is not refused on a guess); empty when lingua does not know `lang`."""
    from embedlab.text_language import detectable, other_language

    if not detectable(lang):
        log.warning("language %s is not one the language detector knows: questions are not checked", lang)
        return {}
    texts = [q.text for q in questions]
    return {t: not other for t, other in zip(texts, other_language(texts, lang), strict=True)}


def prepare_questions(
    source: QuestionSource | dict[str, Any],
    questions_path: str | Path,
    chunks_path: str | Path,
    out_set: str | Path,
    out_mapping: str | Path,
    out_train: str | Path,
    *,
    val_fraction: float,
    seed: int,
    questions: Sequence[Question] | None = None,
) -> dict[str, Any]:
    """Rule `map_questions`: a corpus language's real questions -> `real.json` (EmbeddingQAFinetuneDataset
    JSON over every chunk: the questions evaluated), `real.train.json` (the questions trained on, often none)
    and `real.mapping.json` (columns, counts by reason, each unmapped question, what went where).

    `questions_path` is a questions file, or a BEIR folder whose test qrels are the questions (labelled with
    their documents) and whose train qrels, where present, are training questions; `questions` skips reading
    either. Chunk sides are the split's own (`split.assign_groups` on the same chunks, `val_fraction` and
    `seed`): under `questions.training: split` the questions on the train side are trained on and the rest
    evaluated; questions that would be trained on (split, BEIR train qrels) are kept only on the train side.
    """
    if isinstance(source, dict):
        source = QuestionSource(**source)
    doc = io.read_json(chunks_path)
    path = Path(questions_path)
    lang = doc["lang"]
    where = f"questions file {path} ({doc['corpus']}/{lang})"
    beir = questions is None and is_beir_folder(path)
    if source.ignore_identical_ids and not beir:
        raise EmbedlabError(
            f"{where}: questions.ignore_identical_ids applies to BEIR folders only: remove it or point "
            "questions.file at one"
        )
    if beir:
        questions, facts = beir_questions(path, "test"), {}
    elif questions is None:
        questions, facts = read_questions(source, path)
    else:
        facts = {}
    facts.setdefault("rows", len(questions))
    detected = question_languages(questions, lang)
    relevant, unmapped, stats = map_questions(
        questions, doc["chunks"], source.series, lambda text: detected.get(text) is not False
    )
    _check_mapped(where, len(questions), relevant, unmapped, facts, source.min_mapped)
    held_out = held_out_groups(doc["chunks"], relevant) if source.training == "strict" else set()
    side = assign_groups(doc["chunks"], val_fraction, seed, held_out)
    texts = {q.id: q.text for q in questions}
    evaluated, trained, placement = _placement(relevant, side, source.training)
    if beir and "train" in splits(path):
        extra, placement["beir_train"] = _beir_training(path, doc["chunks"], source.series, side, texts)
        trained.update(extra)
    stats["placement"] = placement
    if not evaluated:
        raise EmbedlabError(
            f"{where}: no question is left to evaluate ({placement}): raise split.val_fraction or set "
            "questions.training to shared"
        )
    qa = {
        "queries": {qid: texts[qid] for qid in evaluated},
        "corpus": {c["id"]: c["text"] for c in doc["chunks"]},
        "relevant_docs": evaluated,
        "mode": "text",
    }
    if beir:  # labels name whole documents: the evaluations rank documents (evaluation.documents)
        qa.update(_beir_labels(path, questions, evaluated, source.ignore_identical_ids))
    train = {"queries": {q: texts[q] for q in trained}, "relevant_docs": trained, "mode": "text"}
    mapping = {
        "format": FORMAT, "corpus": doc["corpus"], "lang": lang, "file": str(path), **facts, "stats": stats,
        "unmapped": unmapped, "questions": _mapped_labels(questions, relevant),
    }  # fmt: skip
    io.write_json(out_set, qa)
    io.write_json(out_train, train)
    io.write_json(out_mapping, mapping)
    reasons = ", ".join(f"{r}={n}" for r, n in stats["unmapped_by_reason"].items()) or "none"
    log.info(
        "%s: %d questions, %d mapped onto chunks, %d not (%s) -> %s",
        where, len(questions), len(relevant), len(unmapped), reasons, out_set,
    )  # fmt: skip
    if trained:
        log.info("%d real questions trained on -> %s (%s)", len(trained), out_train, placement)
    return mapping


def _beir_labels(
    folder: Path, questions: Sequence[Question], evaluated: dict[str, list[str]], ignore_identical_ids: bool
) -> dict[str, Any]:
    """real.json's keys for a BEIR folder: the evaluated questions' `documents`, the identical-id rule and,
    only where the test qrels are graded (some positive grade is not 1), their `grades`, nDCG's gains."""
    named = {q.id: [lab.value for lab in q.labels] for q in questions}
    out: dict[str, Any] = {
        "documents": {q: named[q] for q in evaluated},
        "ignore_identical_ids": ignore_identical_ids,
    }
    grades = beir_grades(folder, "test")
    if any(g != 1 for q in evaluated for g in grades[q].values()):
        out["grades"] = {q: grades[q] for q in evaluated}
    return out


def _mapped_labels(questions: Sequence[Question], relevant: dict[str, list[str]]) -> dict[str, Any]:
    """real.mapping.json's `questions`: the rows and labels of each mapped question."""
    return {
        q.id: {"rows": list(q.rows), "labels": [_label_json(lab) for lab in q.labels]}
        for q in questions
        if q.id in relevant
    }


def _check_mapped(
    where: str,
    n: int,
    relevant: dict[str, list[str]],
    unmapped: list[dict[str, Any]],
    facts: dict[str, Any],
    min_mapped: float,
) -> None:
    """Stop when the file has no questions, or fewer than `min_mapped` of its `n` map onto chunks (the
    label columns and the commonest reason named: most likely a wrong column)."""
    if not n:
        raise EmbedlabError(f"{where}: no questions in it: check questions.question names the right column")
    if len(relevant) < min_mapped * n:
        reason, count = Counter(u["reason"] for u in unmapped).most_common(1)[0]
        column = ", ".join(f"{c} ({k})" for c, k in facts.get("label_columns", {}).items())
        raise EmbedlabError(
            f"{where}: only {len(relevant)} of {n} questions map onto chunks ({count} "
            f"{reason}; label columns {column or 'given'}): fix questions.labels / questions.series "
            f"or lower questions.min_mapped"
        )


def _placement(
    relevant: dict[str, list[str]], side: dict[str, str], training: str
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, Any]]:
    """(questions evaluated, questions trained on, counts), each as id -> chunk ids: all evaluated, unless
    `training` is `split`: then each goes to the side its chunks lie on (straddling ones are dropped and
    counted, as for generated queries)."""
    if training != "split":
        return relevant, {}, {"training": training, "evaluated": len(relevant), "trained_on": 0}
    sides = by_side(relevant, side)
    return sides["val"], sides["train"], {
        "training": training, "evaluated": len(sides["val"]), "trained_on": len(sides["train"]),
        "dropped_straddling": len(sides["straddling"]),
    }  # fmt: skip


def _beir_training(
    folder: Path,
    chunks: Sequence[dict[str, Any]],
    series: str | None,
    side: dict[str, str],
    texts: dict[str, str],
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """A BEIR folder's train qrels as training questions (id -> chunk ids; their texts added to `texts`):
    those whose documents' chunks all lie on the train side, the rest counted."""
    questions = beir_questions(folder, "train")
    relevant, unmapped, _ = map_questions(questions, chunks, series)
    texts.update({q.id: q.text for q in questions if q.id in relevant})
    trained = by_side(relevant, side)["train"]
    return trained, {
        "questions": len(questions), "unmapped": len(unmapped), "trained_on": len(trained),
        "on_val_side": len(relevant) - len(trained),
    }  # fmt: skip
