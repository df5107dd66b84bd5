"""Cost growth from 10k to 1M chunks: time and peak RSS per stage, BM25 and a tiny dense model, with the
fitted exponent of time ~ N^b (goal: b ≈ 1 — linear — and peak memory flat beyond the vectors themselves),
and HNSW vs exact search (speed, recall@10 against exact) at the largest size.

The corpus is synthetic, made from the real chunks of tests/corpora (AI Act EN, product docs, NIST PDFs,
chunked as the pipeline does): copy j of a chunk drops ~15 % of its words and swaps a few neighbours (seeded),
so no two chunks are identical and the vocabulary is a real one. Queries: 1,000 sentences sampled from chunks
of the smallest size's corpus (every size holds that corpus as its first rows, so the relevant chunk exists at
every size), relevant = the chunk the sentence came from.

Every (size, stage) runs in a fresh subprocess. `base_mb` is its resident memory after imports, the model and
the corpus texts; `index_peak_mb` how far resident memory rose while encoding/indexing the corpus (the vectors
themselves, `vectors_mb`, included), `search_peak_mb` how far it rose while searching (working memory
only: the
vectors are already resident) — the number that must stay flat as N grows. Sampled every 5 ms from
/proc/self/statm.

Stages: bm25 (index = encode the corpus into sparse BM25 rows with the encoder's two-pass indexer; search =
exact ranks of the 1,000 queries' relevant chunks, query blocks × the sparse matrix), bm25s (index only: the
same rows through bm25s's own `index`, the alternative the indexer replaced), dense (encode the corpus with
the tiny model, 2 layers × 64 dims, max 64 tokens; search = exact streaming search over corpus tiles,
`evaluation.search`), and at the largest size also HNSW (faiss build + search, recall@10 against the exact
top-10, both timed).

    .venv/bin/python benchmarks/scale_growth.py [--sizes 10000 30000 100000 300000 1000000]
        [--stages bm25 bm25s dense]
        [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
CORPORA = REPO / "tests" / "corpora"
SOURCES = [("eu_ai_act/EN.md", "en"), ("product_docs", "en"), ("report_pdf", "en")]
N_QUERIES = 1000
KS = [1, 3, 5, 10]


def base_chunks(work: Path) -> list[str]:
    """The real chunks the synthetic corpus grows from (cached in `work`)."""
    cached = work / "base_chunks.json"
    if cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))
    from embedlab.data.chunking import chunk_corpus

    texts: list[str] = []
    for i, (rel, lang) in enumerate(SOURCES):
        out = work / f"chunks{i}.json"
        chunk_corpus(CORPORA / rel, out, f"c{i}", lang)
        texts += [c["text"] for c in json.loads(out.read_text(encoding="utf-8"))["chunks"]]
    cached.write_text(json.dumps(texts), encoding="utf-8")
    return texts


def perturb(text: str, rng: random.Random) -> str:
    words = [w for w in text.split() if rng.random() >= 0.15]
    for _ in range(max(1, len(words) // 20)):
        if len(words) > 2:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def synthetic(base: list[str], n: int, seed: int = 13) -> list[str]:
    """n chunks: the base chunks first (as they are), then perturbed copies; row i is the same at every n."""
    out = list(base[:n])
    for i in range(len(out), n):
        out.append(perturb(base[i % len(base)], random.Random(f"{seed}:{i}")))
    return out


def queries(base: list[str], seed: int = 7) -> tuple[list[str], list[list[int]]]:
    """Sentences of the base chunks (the first rows at every size) and the chunk each came from."""
    rng = random.Random(seed)
    texts, relevant = [], []
    for row in rng.sample(range(len(base)), N_QUERIES):
        sentences = [s for s in base[row].split(". ") if len(s.split()) >= 6]
        texts.append(rng.choice(sentences) if sentences else base[row][:200])
        relevant.append([row])
    return texts, relevant


def rss_mb() -> float:
    """Resident memory now (not the high-water mark: imports would hide every stage below it)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


class PeakRss:
    """The highest resident memory seen (sampled every 5 ms) while the block runs."""

    def __enter__(self) -> PeakRss:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back first, or the block reuses it unseen
        self.before = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def grew_mb(self) -> float:
        return round(self.peak - self.before, 1)


# ---------------------------------------------------------------------------------------- one stage


def bm25s_index(corpus: list[str]) -> object:
    """The same rows through bm25s's `index` (what the `bm25` kind did before its two-pass indexer)."""
    import bm25s
    import scipy.sparse as sp

    from embedlab.models.bm25 import tokenize

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in (tokenize(x) or [""])] for x in corpus]
    index = bm25s.BM25()
    index.index((ids, vocab), show_progress=False)
    s = index.scores
    shape = (s["num_docs"], len(s["indptr"]) - 1)
    return sp.csc_matrix((s["data"], s["indices"], s["indptr"]), shape=shape).tocsr()


def run_stage(stage: str, n: int, work: Path, ann: bool = False) -> dict:
    """One (stage, size) in this process: seconds per step, peak RSS and the index size."""
    import bm25s  # noqa: F401  (imported before the probes: the stages' lazy imports are not their memory)
    import scipy.sparse  # noqa: F401

    from embedlab.evaluation import metrics, search
    from embedlab.evaluation.encoding import encode_rows
    from embedlab.evaluation.results import index_bytes
    from embedlab.models.encoders import load_encoder
    from embedlab.models.spec import ModelSpec
    from embedlab.settings import schema_default

    base = base_chunks(work)
    corpus = synthetic(base, n)
    qtexts, relevant = queries(base)
    ties = np.arange(n)
    tiny = ModelSpec(name="tiny", source=str(work / "tiny" / "tiny-st"), batch_size=256, max_seq_length=64)
    spec = ModelSpec(name="bm25", kind="bm25") if stage.startswith("bm25") else tiny
    encoder = load_encoder(spec, "cpu")
    result: dict = {"stage": stage, "n": n, "base_mb": round(rss_mb(), 1)}
    if stage == "bm25s":  # the alternative: bm25s's own index over every document's token-id list
        with PeakRss() as mem:
            t0 = time.perf_counter()
            d = bm25s_index(corpus)
            result["index_s"] = time.perf_counter() - t0
        result["vectors_mb"] = round(index_bytes(d) / 2**20, 1)
        result["index_peak_mb"] = mem.grew_mb
        return result
    with PeakRss() as mem:
        t0 = time.perf_counter()
        if stage == "bm25":  # one index over the whole corpus (its statistics are corpus-wide)
            d = encoder.encode_corpus(corpus)
        else:  # what evaluate_retrieval and encode_shard do: calls of evaluation.shard_block rows
            d = encode_rows(encoder, corpus, schema_default("evaluation", "shard_block"))
        result["index_s"] = time.perf_counter() - t0
    result["vectors_mb"] = round(index_bytes(d) / 2**20, 1)
    result["index_peak_mb"] = mem.grew_mb  # includes the vectors it made
    del corpus
    q = encoder.encode_queries(qtexts)
    with PeakRss() as mem:
        t0 = time.perf_counter()
        if stage == "bm25":  # sparse rows: query blocks against the whole sparse matrix
            ranks = metrics.relevant_ranks(q, d, relevant, ties)
        else:
            ranks = search.exact_search(q, [search.Shard(0, d)], ties, relevant=relevant).ranks
        result["search_s"] = time.perf_counter() - t0
    result["search_peak_mb"] = mem.grew_mb  # working memory beyond the vectors, already resident
    result["mrr@10"] = float(metrics.per_query(ranks, KS)["mrr@10"].mean())
    if ann:
        shards = [search.Shard(0, d)]
        t0 = time.perf_counter()
        exact = search.exact_search(q, shards, ties, k=10).top
        result["exact_top10_s"] = time.perf_counter() - t0
        with PeakRss() as mem:
            t0 = time.perf_counter()
            index = search.build_ann(shards, search.index_settings(kind="hnsw", min_corpus=1), seed=42)
            result["hnsw_build_s"] = time.perf_counter() - t0
        result["hnsw_build_peak_mb"] = mem.grew_mb
        t0 = time.perf_counter()
        approx = search.ann_search(index, q, ties, 10)
        result["hnsw_search_s"] = time.perf_counter() - t0
        result["recall@10"] = float(search.recall_at(approx, exact, 10).mean())
        result["hnsw_mb"] = round(search.index_bytes(index) / 2**20, 1)
    return result


# ---------------------------------------------------------------------------------------------- driver


def fit_exponent(ns: list[int], ts: list[float]) -> float:
    """b of t = a·N^b, least squares in log-log."""
    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(ts, float))
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000, 1_000_000])
    stages = ["bm25", "bm25s", "dense"]
    ap.add_argument("--stages", nargs="+", default=stages, choices=stages)
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ann", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help="folder for the base chunks and the tiny model (default: a temp dir)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.stage:  # child: one stage, result on stdout's last line
        print(json.dumps(run_stage(args.stage, args.n, Path(args.work), args.ann)))
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="scale-"))
    base_chunks(work)
    if not (work / "tiny" / "tiny-st").exists():
        from ft_fixtures import build_tiny_model

        build_tiny_model(CORPORA, work / "tiny")
    rows = []
    for n in args.sizes:
        for stage in args.stages:
            cmd = [sys.executable, __file__, "--stage", stage, "--n", str(n), "--work", str(work)]
            cmd += ["--ann"] if stage == "dense" and n == max(args.sizes) else []
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"{stage} at {n}: failed\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                flush=True,
            )
    fits = {}
    for stage in args.stages:
        mine = [r for r in rows if r["stage"] == stage]
        for step in ("index_s", "search_s") if stage != "bm25s" else ("index_s",):
            fits[f"{stage}.{step}"] = round(fit_exponent([r["n"] for r in mine], [r[step] for r in mine]), 2)
    print(json.dumps({"exponents": fits}))
    print(f"work folder (base chunks, tiny model): {work}")
    if args.json:
        meta = {"machine": platform.platform(), "python": platform.python_version(), "cores": 2}
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows, "exponents": fits}, indent=1))


if __name__ == "__main__":
    main()
