"""BEIR folders read as they are: `corpus.jsonl` + `queries.jsonl` + `qrels/{split}.tsv`.

A public benchmark (SciFact, NFCorpus, ArguAna, …, and every MTEB retrieval task that ships this layout) is
then a corpus like any other: each record is one document (`source` = its id, so a chunk names its document;
its title heads the block and opens its text, since BEIR and MTEB score title + text), the test qrels are real
questions labelled with whole documents (their grades, where the qrels are graded, kept for nDCG:
`beir_grades`), and the train qrels training questions (rule map_questions). Scores stay comparable with the
published ones only when documents are scored whole (chunking.whole_documents) or, chunked, per document
(evaluation.documents).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from embedlab.data.outline import Block, Heading
from embedlab.data.question_files import Label, Question
from embedlab.errors import EmbedlabError

log = logging.getLogger(__name__)

CORPUS = "corpus.jsonl"
QUERIES = "queries.jsonl"
QRELS = "qrels"


def is_beir_folder(path: str | Path) -> bool:
    """A folder holding corpus.jsonl, queries.jsonl and qrels/: read as BEIR, not as a folder of files."""
    path = Path(path)
    return (
        path.is_dir() and (path / CORPUS).is_file() and (path / QUERIES).is_file() and (path / QRELS).is_dir()
    )


@dataclass(frozen=True)
class Document:
    """One corpus record."""

    id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and text joined by a space, as MTEB encodes a document."""
        return f"{self.title} {self.text}".strip()


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) of a JSON Lines file; a broken line is an error naming it."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EmbedlabError(
                    f"{path}:{number}: not JSON ({exc.msg}): fix or remove the line"
                ) from None
            if not isinstance(record, dict) or "_id" not in record:
                raise EmbedlabError(f'{path}:{number}: a BEIR record needs an "_id": fix the line')
            yield number, record


def read_documents(folder: str | Path) -> list[Document]:
    """The corpus records in file order, as they are (ids as strings, a missing title or text empty)."""
    path = Path(folder) / CORPUS
    docs = [
        Document(str(r["_id"]), str(r.get("title") or ""), str(r.get("text") or ""))
        for _, r in _records(path)
    ]
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise EmbedlabError(f"{path}: document id {doc.id!r} appears twice: BEIR ids are unique")
        seen.add(doc.id)
    return docs


def read_queries(folder: str | Path) -> dict[str, str]:
    """Query id -> text."""
    return {str(r["_id"]): str(r.get("text") or "") for _, r in _records(Path(folder) / QUERIES)}


def splits(folder: str | Path) -> list[str]:
    """The qrels splits the folder has (test, train, dev, …)."""
    return sorted(p.stem for p in (Path(folder) / QRELS).glob("*.tsv"))


def read_qrels(folder: str | Path, split: str) -> dict[str, dict[str, tuple[int, int]]]:
    """query id -> {document id: (score, line number)} of qrels/{split}.tsv (tab-separated query-id,
    corpus-id, score; the header line is optional; BEIR's files end lines with CRLF)."""
    path = Path(folder) / QRELS / f"{split}.tsv"
    if not path.is_file():
        have = ", ".join(splits(folder)) or "none"
        raise EmbedlabError(f"{path} does not exist: this BEIR folder has splits {have}")
    out: dict[str, dict[str, tuple[int, int]]] = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            cells = line.rstrip("\r\n").split("\t")
            if (number == 1 and cells[0] == "query-id") or not line.strip():
                continue
            try:
                qid, did, score = cells[0], cells[1], int(cells[2])
            except (IndexError, ValueError):
                raise EmbedlabError(
                    f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score' with an integer score"
                ) from None
            out.setdefault(qid, {})[did] = (score, number)
    return out


def load_beir(folder: str | Path) -> tuple[list[Block], list[str]]:
    """One block per corpus record, and the ids of records with neither title nor text (left out): `source`
    is the document id, the title (when there is one) its heading and first paragraph, the text its second.
    """
    blocks, empty = [], []
    for doc in read_documents(folder):
        paragraphs = [p.strip() for p in (doc.title, doc.text) if p.strip()]
        if not paragraphs:
            empty.append(doc.id)
            continue
        headings = (Heading("", doc.title.strip()),) if doc.title.strip() else ()
        blocks.append(Block(doc.id, headings, paragraphs))
    return blocks, empty


def _positives(folder: str | Path, split: str) -> Iterator[tuple[str, str, list[tuple[str, int]]]]:
    """(query id, query text, [(document id, qrels line)]) for each query with a positive judgement (score
    > 0), in qrels order; a query without text in queries.jsonl is an error, one judged 0 only is skipped."""
    queries = read_queries(folder)
    skipped = 0
    for qid, docs in read_qrels(folder, split).items():
        positives = [(did, line) for did, (score, line) in docs.items() if score > 0]
        if not positives:
            skipped += 1
            continue
        if qid not in queries:
            raise EmbedlabError(f"{folder}: qrels/{split}.tsv judges query {qid!r}, which {QUERIES} lacks")
        yield qid, queries[qid], positives
    if skipped:
        log.warning("%s: %d %s queries have no positive judgement and are skipped", folder, skipped, split)


def beir_questions(folder: str | Path, split: str = "test") -> list[Question]:
    """The split's queries as questions labelled with their relevant documents (`file` labels: a document
    is the `source` of its chunks); `rows` are the qrels lines they came from."""
    return [
        Question(qid, text, tuple(Label("file", did) for did, _ in docs), tuple(line for _, line in docs))
        for qid, text, docs in _positives(folder, split)
    ]


def beir_grades(folder: str | Path, split: str = "test") -> dict[str, dict[str, int]]:
    """query id -> {document id: grade} of the split's positive judgements (score > 0, the documents
    `beir_questions` labels): graded qrels (NFCorpus, TREC-COVID: 1, 2) weigh nDCG's gains by the grade, as
    pytrec_eval does for BEIR and MTEB, while every other metric counts a positive as relevant."""
    return {
        qid: {did: score for did, (score, _) in docs.items() if score > 0}
        for qid, docs in read_qrels(folder, split).items()
    }
