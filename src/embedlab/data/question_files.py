"""Reading a questions file (CSV/TSV, JSON, JSONL, spreadsheet) into questions with labels: which column holds
the question and which hold labels of which kind, from the config or guessed from the column names; rows
with the same question merged into one question with all their labels."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.settings import schema_def_default
from embedlab.text import fold

LABEL_KINDS = ("quote", "section", "unit", "file", "chunk")


@dataclass(frozen=True)
class Label:
    """Where an answer is: `kind` one of LABEL_KINDS; `series` names a numbered unit's series ("Article")
    when the label itself does not (a bare "50"); `page` narrows a file label to one page."""

    kind: str
    value: str
    series: str | None = None
    page: int | None = None


@dataclass(frozen=True)
class Question:
    """One question with every label its rows gave it; `rows` are the 1-based records it came from."""

    id: str
    text: str
    labels: tuple[Label, ...]
    rows: tuple[int, ...]


# Column names tried when the config names none (case-insensitive), most specific first.
QUESTION_GUESSES = ("question", "query", "questions", "queries", "q", "prompt", "text")
LABEL_GUESSES = {
    "quote": ("quote", "evidence", "answer_text", "context", "passage", "span"),
    "section": ("section", "heading", "heading_path", "title"),
    "unit": ("article", "relevant_article", "unit", "paragraph", "clause"),
    "file": ("file", "source", "document", "doc", "doc_id", "corpus-id", "corpus_id"),
    "chunk": ("chunk", "chunk_id", "chunk_ids"),
}
PAGE_GUESSES = ("page", "page_number", "page_no")
SEPARATOR = ";"  # several labels in one CSV cell


@dataclass(frozen=True)
class QuestionSource:
    """How to read a questions file: which column holds the question and which hold labels of which kind."""

    file: str
    question: str | None = schema_def_default("questions", "question")
    labels: dict[str, str] | None = None  # column -> kind; None (the schema default) guesses
    page: str | None = schema_def_default("questions", "page")
    series: str | None = schema_def_default("questions", "series")
    records: str | None = schema_def_default("questions", "records")  # JSON: the key holding the records
    min_mapped: float = schema_def_default("questions", "min_mapped")
    training: str = schema_def_default("questions", "training")  # read by the split rule
    # A BEIR folder's only: MTEB's rule for tasks whose queries are documents (ArguAna, Quora, …)
    ignore_identical_ids: bool = schema_def_default("questions", "ignore_identical_ids")


def read_records(path: Path, records: str | None = None) -> list[dict[str, Any]]:
    """Rows of a CSV/TSV, JSON (a list, or an object holding one), JSONL or spreadsheet, as dicts."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise EmbedlabError(f"questions file {path} not found: fix questions.file (relative to the workdir)")
    if suffix in (".json", ".jsonl"):
        text = path.read_text(encoding="utf-8-sig")
        if suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
        if isinstance(data, dict):
            lists = {k: v for k, v in data.items() if isinstance(v, list)}
            key = records or (next(iter(lists)) if len(lists) == 1 else None)
            if key not in lists:
                raise EmbedlabError(
                    f"questions file {path}: which key holds the records? set questions.records to one of "
                    f"{', '.join(lists) or '(no list in the file)'}"
                )
            data = lists[key]
        if not all(isinstance(r, dict) for r in data):
            raise EmbedlabError(f"questions file {path}: records must be JSON objects (one per question)")
        return data
    import pandas as pd

    if suffix in (".csv", ".tsv", ".txt"):
        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else None, engine="python", dtype=str)
    elif suffix in (".xlsx", ".xlsm", ".ods", ".xls"):
        try:
            frame = pd.read_excel(path, dtype=str)
        except ImportError as exc:
            raise EmbedlabError(
                f"questions file {path} needs a spreadsheet reader ({exc}): pip install 'embedlab[office]'"
            ) from None
    else:
        raise EmbedlabError(
            f"questions file {path}: unknown format {suffix!r}: use .csv, .tsv, .json, .jsonl or .xlsx"
        )
    return [{k: v for k, v in row.items() if isinstance(v, str)} for row in frame.to_dict("records")]


def _guess(columns: Sequence[str], names: Iterable[str]) -> str | None:
    by_fold = {c.casefold().strip(): c for c in columns}
    return next((by_fold[n] for n in names if n in by_fold), None)


def resolve_columns(source: QuestionSource, columns: Sequence[str], path: Path) -> tuple[str, dict[str, str]]:
    """(question column, {label column: kind}) from the config, else guessed from the column names."""
    question = source.question or _guess(columns, QUESTION_GUESSES)
    if question not in columns:
        raise EmbedlabError(
            f"questions file {path}: no question column {source.question or '(guessed)'!r} among "
            f"{', '.join(columns)}: set questions.question"
        )
    labels = dict(source.labels or {})
    if not labels:
        for kind, names in LABEL_GUESSES.items():
            if (col := _guess([c for c in columns if c != question], names)) is not None:
                labels.setdefault(col, kind)
    missing = [c for c in labels if c not in columns]
    bad = [k for k in labels.values() if k not in LABEL_KINDS]
    if missing or bad or not labels:
        raise EmbedlabError(
            f"questions file {path}: label columns {missing or '(none found)'} kinds {bad} among "
            f"{', '.join(columns)}: set questions.labels as {{column: kind}}, kinds {', '.join(LABEL_KINDS)}"
        )
    return question, labels


def _cell_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [v.strip() for v in str(value).split(SEPARATOR) if v.strip()]


def read_questions(source: QuestionSource, path: Path) -> tuple[list[Question], dict[str, Any]]:
    """The file's questions, rows with the same text merged into one question with all their labels."""
    rows = read_records(path, source.records)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    question_col, label_cols = resolve_columns(source, columns, path)
    page_col = source.page or _guess(columns, PAGE_GUESSES)
    merged: dict[str, tuple[str, list[Label], list[int]]] = {}
    empty = 0
    for n, row in enumerate(rows, 1):
        text = " ".join(str(row.get(question_col) or "").split())
        if not text:
            empty += 1
            continue
        pages = _cell_values(row.get(page_col)) if page_col else []
        labels = [
            Label(kind, value, source.series, int(pages[0]) if kind == "file" and pages else None)
            for col, kind in label_cols.items()
            for value in _cell_values(row.get(col))
        ]
        entry = merged.setdefault(fold(text), (text, [], []))
        entry[1].extend(lab for lab in labels if lab not in entry[1])
        entry[2].append(n)
    questions = [
        Question(f"real.{rws[0]}", text, tuple(labs), tuple(rws)) for text, labs, rws in merged.values()
    ]
    facts = {
        "question_column": question_col,
        "label_columns": label_cols,
        "page_column": page_col,
        "rows": len(rows),
        "empty_rows": empty,
        "merged_rows": len(rows) - empty - len(questions),
    }
    return questions, facts
