"""Streaming exact search and approximate indexes (evaluation/search.py), and sharded evaluation: the streamed
top-k and ranks equal the full-matrix ones with ties, an IVF index's recall on a planted case is the one
computed by hand, and a corpus encoded in shards (library, then rule encode_shard in a real snakemake run)
gives the same vectors, ranks and metrics as one job on real text."""

from __future__ import annotations

import csv
import itertools
import tracemalloc
from pathlib import Path

import faiss
import numpy as np
import pytest
import yaml
from eval_data import MINILM, build_split
from scipy import sparse

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics, search
from embedlab.evaluation.encoding import encode_qa
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import load_qa
from embedlab.evaluation.retrieval import evaluate, retrieve
from embedlab.evaluation.shards import encode_shard, shard_range
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import Settings
from embedlab.workflow.config import validate_config
from embedlab.workflow.plan import Plan

from conftest import CORPORA, REPO, run_snakemake

MINI = ModelSpec(name="minilm", source=MINILM, max_seq_length=128, batch_size=16)
BLOCK = 8  # evaluation.shard_block for the real slice (46 chunks): 6 blocks, so 3 shards of 2 blocks
KS = [1, 5, 10]


def planted(seed: int, n_docs: int, n_queries: int, dim: int = 6):
    """Small-integer vectors (every product and sum exact in float32, so many exactly equal scores), some
    duplicated chunk rows, shuffled ids (the tie order is not the row order) and 1-5 positives per query."""
    rng = np.random.default_rng(seed)
    d = rng.integers(-2, 3, size=(n_docs, dim)).astype(np.float32)
    d[n_docs // 2 :: 7] = d[3]  # exact duplicates of one chunk, in other tiles
    q = rng.integers(-2, 3, size=(n_queries, dim)).astype(np.float32)
    q[0] = 0  # a zero query: every chunk ties, the id order alone ranks
    ids = [f"c{v:05d}" for v in rng.permutation(n_docs)]
    rel = [
        sorted(rng.choice(n_docs, size=rng.integers(1, 6), replace=False).tolist()) for _ in range(n_queries)
    ]
    return q, d, metrics.tie_order(ids), rel


def cut(d: np.ndarray, bounds: list[int]) -> list[search.Shard]:
    return [search.Shard(a, d[a:b]) for a, b in itertools.pairwise(bounds)]


def full_matrix_top(q, d, ties, k):
    scores = q @ d.T
    order = np.lexsort((np.broadcast_to(ties, scores.shape), -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, 1)


@pytest.mark.parametrize(("tile", "bounds", "block"), [(1, [0, 50, 51, 103], 7), (16, [0, 32, 96, 103], 256),
                                                       (1024, [0, 103], 5)])  # fmt: skip
def test_streamed_top_k_equals_the_full_matrix_top_k_ties_included(tile, bounds, block):
    q, d, ties, _ = planted(1, 103, 37)
    want_ids, want_scores = full_matrix_top(q, d, ties, 10)
    assert (np.diff(want_scores, axis=1) == 0).any()  # the planted data does tie inside the top 10
    top = search.exact_search(q, cut(d, bounds), ties, k=10, block=block, tile=tile).top
    assert np.array_equal(top.ids, want_ids) and np.array_equal(top.scores, want_scores)
    everything = search.exact_search(q, cut(d, bounds), ties, k=500, block=block, tile=tile).top
    assert everything.ids.shape == (37, 103)  # k beyond the corpus: every chunk, in tie-rule order
    assert np.array_equal(everything.ids, full_matrix_top(q, d, ties, 103)[0])


@pytest.mark.parametrize("seed", [2, 3])
def test_streamed_exact_ranks_equal_the_full_computation(seed, monkeypatch):
    q, d, ties, rel = planted(seed, 211, 60)
    scores = q @ d.T
    by_hand = [
        np.sort([1 + (s > s[r]).sum() + ((s == s[r]) & (ties < ties[r])).sum() for r in rs]).astype(float)
        for s, rs in zip(scores, rel, strict=True)
    ]
    # relevant_ranks' full block x corpus computation (its sparse path) and the streamed dense one
    full = metrics.relevant_ranks(sparse.csr_matrix(q), sparse.csr_matrix(d), rel, ties)
    streamed = search.exact_search(q, cut(d, [0, 48, 160, 211]), ties, relevant=rel, block=16, tile=16).ranks
    assert all(np.array_equal(a, b) for a, b in zip(streamed, by_hand, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(full, by_hand, strict=True))
    monkeypatch.setattr(metrics, "SCORE_CELLS", 211)  # a large sparse corpus: 1 query per block, same ranks
    small = metrics.relevant_ranks(sparse.csr_matrix(q), sparse.csr_matrix(d), rel, ties)
    assert all(np.array_equal(a, b) for a, b in zip(small, by_hand, strict=True))
    assert streamed[0].tolist() == np.sort(ties[rel[0]] + 1).tolist()  # zero query: the id order
    dense = metrics.relevant_ranks(q, d, rel, ties)  # the dense callers' path is the streamed one
    assert all(np.array_equal(a, b) for a, b in zip(dense, by_hand, strict=True))
    cut_at = metrics.relevant_ranks(q, d, rel, ties, top=10)  # a top-10 list: inf beyond it
    assert all(np.array_equal(a, np.where(b > 10, np.inf, b)) for a, b in zip(cut_at, by_hand, strict=True))
    # random floats, no planted ties: the same as one full product, over shards of other sizes
    rng = np.random.default_rng(seed)
    fq, fd = rng.standard_normal((40, 32), dtype=np.float32), rng.standard_normal((300, 32), dtype=np.float32)
    fr = [sorted(rng.choice(300, size=3, replace=False).tolist()) for _ in range(40)]
    fties = np.arange(300)
    one = search.exact_search(fq, [search.Shard(0, fd)], fties, relevant=fr, tile=32).ranks
    many = search.exact_search(fq, cut(fd, [0, 32, 256, 300]), fties, relevant=fr, block=8, tile=32).ranks
    s = fq @ fd.T
    hand = [np.sort([1 + (s[i] > s[i, r]).sum() for r in fr[i]]).astype(float) for i in range(40)]
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(one, many, hand, strict=True))


def test_shards_must_tile_the_corpus():
    q, d, ties, rel = planted(4, 40, 3)
    with pytest.raises(EmbedlabError, match="ends at row 20, inside a 16-row tile"):
        search.exact_search(q, cut(d, [0, 20, 40]), ties, relevant=rel, tile=16)
    with pytest.raises(EmbedlabError, match="the corpus 40"):
        search.exact_search(q, cut(d, [0, 32]), ties, relevant=rel, tile=16)
    with pytest.raises(EmbedlabError, match="starts at row 32, the previous one ended at 0"):
        search.exact_search(q, [search.Shard(32, d[32:]), search.Shard(0, d[:32])], ties, tile=16)


def test_memory_grows_with_block_times_tile_not_queries_times_chunks():
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2000, 8), dtype=np.float32)
    d = rng.standard_normal((20000, 8), dtype=np.float32)
    rel = [[i] for i in range(2000)]
    tracemalloc.start()
    try:
        search.exact_search(
            q, [search.Shard(0, d)], np.arange(20000), relevant=rel, k=10, block=128, tile=1024
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2000 * 20000 * 4 / 20  # the score matrix would be 160 MB; a block x tile is 0.5 MB


def unit(degrees) -> np.ndarray:
    rad = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def test_ivf_recall_on_a_planted_case_is_the_hand_computed_one():
    """Two clusters of 20 unit vectors, A at 0..9.5 degrees and its mirror B at 80.5..90. A query at 2 degrees
    has its exact top 10 in A; a query at 44.9 degrees has the 5 A chunks at 35.4..37.4 degrees and the 5 B
    chunks at 35.6..37.6 degrees (the 11th is 37.9 away). IVF with 2 cells and nprobe 1 searches only A's cell
    for both (A's centroid is nearer), so it finds all of the first query's top 10 and half of the second's:
    recall@10 = (1 + 0.5) / 2; with nprobe 2 it searches everything: 1."""
    a = np.arange(20) * 0.5
    d = unit(np.concatenate([a, 90 - a]))
    q = unit([2.0, 44.9])
    ties = np.arange(40)
    exact = search.exact_search(q, [search.Shard(0, d)], ties, k=10, tile=8).top
    assert set(exact.ids[1]) == {15, 16, 17, 18, 19, 35, 36, 37, 38, 39}
    recall = {}
    for nprobe in (1, 2):
        settings = search.index_settings(kind="ivf", min_corpus=1, ivf={"nlist": 2, "nprobe": nprobe})
        index = search.build_ann([search.Shard(0, d)], settings, seed=0, tile=8)
        assert sorted(index.invlists.list_size(i) for i in range(2)) == [20, 20]  # the two clusters
        found = search.ann_search(index, q, ties, 10)
        recall[nprobe] = search.recall_at(found, exact, 10).tolist()
    assert recall == {1: [1.0, 0.5], 2: [1.0, 1.0]}
    with pytest.raises(EmbedlabError, match=r"ivf\.nlist is 41"):
        search.build_ann([search.Shard(0, d)], search.index_settings(kind="ivf", ivf={"nlist": 41}), 0, 8)
    with pytest.raises(EmbedlabError, match=r"hnsw\.ef_serach is unknown"):
        search.index_settings(hnsw={"ef_serach": 8})


def test_hnsw_is_reproducible_and_its_size_is_counted():
    rng = np.random.default_rng(6)
    d = rng.standard_normal((3000, 16), dtype=np.float32)
    q = rng.standard_normal((50, 16), dtype=np.float32)
    settings = search.index_settings(kind="hnsw", min_corpus=1, hnsw={"m": 8, "ef_search": 16})
    runs = [
        search.build_ann(shards, settings, seed=3, tile=512)
        for shards in ([search.Shard(0, d)], cut(d, [0, 1024, 3000]))
    ]
    found = [search.ann_search(index, q, np.arange(3000), 20) for index in runs]
    assert np.array_equal(found[0].ids, found[1].ids)  # the same graph, sharded or not
    exact = search.exact_search(q, [search.Shard(0, d)], np.arange(3000), k=10, tile=512).top
    assert 0.8 < search.recall_at(found[0], exact, 10).mean() <= 1.0
    for index in (runs[0], search.flat_index([search.Shard(0, d)])):
        assert search.index_bytes(index) == pytest.approx(faiss.serialize_index(index).size, rel=0.01)


# --- sharded evaluation on real text ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def split(corpora, tmp_path_factory) -> Path:
    return build_split(corpora, "en", tmp_path_factory.mktemp("search") / "en")


def test_shard_ranges_are_whole_blocks_covering_the_corpus():
    for n_rows, shards, block in ((46, 3, 8), (1000, 16, 64), (5, 4, 8), (1, 1, 1024)):
        ranges = [shard_range(n_rows, i, shards, block) for i in range(shards)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n_rows
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        assert all(start % block == 0 for start, stop in ranges if stop > start)
    assert [shard_range(46, i, 3, 8) for i in range(3)] == [(0, 16), (16, 32), (32, 46)]
    assert [shard_range(5, i, 4, 8) for i in range(4)] == [(0, 0), (0, 0), (0, 0), (0, 5)]


@pytest.mark.slow
def test_sharded_and_unsharded_runs_are_identical(split, tmp_path):
    files = [(tmp_path / f"{i}.npy", tmp_path / f"{i}.json") for i in range(3)]
    for i, (vec, meta) in enumerate(files):
        encode_shard(
            split / "val.json", vec, meta, MINI, corpus="c", lang="en", shard=i, shards=3, block=BLOCK,
            device="cpu", cache_dir=None,
        )  # fmt: skip
    shards = [search.read_shard(v, m)[0] for v, m in files]
    assert [(s.start, s.stop) for s in shards] == [(0, 16), (16, 32), (32, 46)]
    stale = {**io.read_json(files[0][1]), "fingerprint": "0" * 64}  # as if the model was retrained since
    io.write_json(tmp_path / "stale.json", stale)
    qa = load_qa(split / "val.json")
    hnsw = search.index_settings(kind="hnsw", min_corpus=1, hnsw={"m": 4, "ef_search": 4})
    enc = open_encoder(MINI, "cpu", None, BLOCK)
    try:
        whole = encode_qa(enc, qa, BLOCK).corpus
        runs = {
            (index, sharded): retrieve(enc, qa, KS, block=BLOCK, index=index, shards=files if sharded else ())
            for index in (None, hnsw)
            for sharded in (False, True)
        }
        with pytest.raises(EmbedlabError, match=r"shard 1/3 of rows 16..32 .* but shard 0/3"):
            retrieve(enc, qa, KS, block=BLOCK, shards=[files[1], files[0], files[2]])
        with pytest.raises(EmbedlabError, match="encoded by another version of model minilm"):
            retrieve(enc, qa, KS, block=BLOCK, shards=[(files[0][0], tmp_path / "stale.json"), *files[1:]])
    finally:
        enc.close()
    assert np.array_equal(np.concatenate([np.asarray(s.vectors) for s in shards]), whole)  # bit for bit
    for index in (None, hnsw):  # an approximate index is built tile by tile: the same graph either way
        one, sharded = runs[index, False], runs[index, True]
        assert all(np.array_equal(a, b) for a, b in zip(one.ranks, sharded.ranks, strict=True))
        assert all(np.array_equal(one.per_query[k], sharded.per_query[k]) for k in one.per_query)
        assert (one.index, one.index_recall) == (sharded.index, sharded.index_recall)
        assert one.encoded == sharded.encoded == len(qa.corpus) + len(qa.queries)
    exact, approx = runs[None, False], runs[hnsw, False]
    assert exact.index == "exact" and exact.index_recall == 1.0 and exact.per_query["mrr@10"].mean() > 0.5
    assert approx.index == "hnsw" and 0 < approx.index_recall <= 1.0
    # with ef_search 4 the graph misses some of the exact top 10; ranks past its list are inf
    assert approx.index_recall < 1.0 and np.isinf(np.concatenate(approx.ranks)).any()


@pytest.mark.slow
def test_shard_jobs_feed_the_embedding_cache_when_asked(split, tmp_path):
    """cache.shard_jobs: encode_shard reads and feeds the embedding cache (same vectors as without it), so
    a rerun of a shard and the evaluation's own encoding of the corpus are served from it; off by default."""
    config = {"corpora": {"c": {"languages": {"en": {"file": "x.md"}}}}}
    assert Settings.of(validate_config(config, REPO)).evaluation.shard_cache_dir is None
    config["evaluation"] = {"cache": {"shard_jobs": True, "dir": str(tmp_path / "cache")}}
    cache = Settings.of(validate_config(config, REPO)).evaluation.shard_cache_dir
    assert cache == str(tmp_path / "cache")

    def shard(i: int, cache_dir: str | None, tag: str) -> tuple[np.ndarray, dict]:
        vec, meta = tmp_path / f"{tag}{i}.npy", tmp_path / f"{tag}{i}.json"
        encode_shard(
            split / "val.json", vec, meta, MINI, corpus="c", lang="en", shard=i, shards=2, block=BLOCK,
            device="cpu", cache_dir=cache_dir,
        )  # fmt: skip
        return np.load(vec), io.read_json(meta)

    plain = [shard(i, None, "plain") for i in range(2)]
    fed = [shard(i, cache, "fed") for i in range(2)]
    rows = [m["stop"] - m["start"] for _, m in fed]
    assert [(m["encoded_texts"], m["cached_texts"]) for _, m in fed] == [(r, 0) for r in rows]
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(plain, fed, strict=True))
    again, meta = shard(0, cache, "again")
    assert (meta["encoded_texts"], meta["cached_texts"]) == (0, rows[0]) and np.array_equal(again, fed[0][0])
    qa = load_qa(split / "val.json")
    enc = open_encoder(MINI, "cpu", cache, BLOCK)
    try:
        e = encode_qa(enc, qa, BLOCK)
    finally:
        enc.close()
    assert e.cached == len(qa.corpus) and e.encoded == len(qa.queries)
    assert np.array_equal(e.corpus, np.concatenate([v for v, _ in fed]))


def test_only_dense_local_kinds_shard():
    plan = Plan.of(
        {
            "corpus_root": str(CORPORA),
            "corpora": {"c": {"languages": {"en": {"file": "eu_ai_act/EN.md"}}}},
            "models": {"bm25": {"kind": "bm25"}, "minilm": {"source": MINILM},
                       "api": {"kind": "openai", "source": "text-embedding-3-small"}},
            "evaluation": {"shards": 4},
        },
        REPO,
    )  # fmt: skip
    assert plan.sharded_models == ["minilm"]
    assert [len(plan.corpus_shards(m, "c", "en")) for m in ("bm25", "minilm", "api")] == [0, 4, 0]
    assert plan.corpus_shards("minilm", "c", "en")[3] == (
        "results/vectors/minilm/c/en/3-of-4.npy",
        "results/vectors/minilm/c/en/3-of-4.json",
    )
    bm25 = ModelSpec(name="bm25", kind="bm25")
    with pytest.raises(EmbedlabError, match="kind bm25 is encoded in one job"):
        encode_shard("val.json", "x.npy", "x.json", bm25, corpus="c", lang="en", shard=0, shards=2)


@pytest.mark.slow
def test_encode_shard_jobs_in_a_real_run_give_the_one_job_metrics(corpora, tmp_path):
    """.test/evaluate.yaml's corpus and MiniLM with evaluation.shards: 2 (rule encode_shard twice), against
    the library's one-job evaluation of the same val split."""
    config = yaml.safe_load((REPO / ".test" / "evaluate.yaml").read_text(encoding="utf-8"))
    config.update(corpus_root=str(corpora), models={"minilm": config["models"]["minilm"]})
    config["evaluation"] = {
        "shards": 2,
        "shard_block": 16,
        "compression": {"models": []},
        "latency_queries": 3,
    }
    config["mteb"] = {"enabled": False}
    config["resources"] = {"rules": {"encode_shard": {"threads": 1}}}  # both shard jobs at once on 2 cores
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    target = "results/eval/minilm/drf_tutorial/en.queries.csv"
    res = run_snakemake(tmp_path, target, "--resources", "gpu=2")  # (a CPU run: gpu is only a job token)
    assert res.returncode == 0, res.output[-3000:]
    assert "rule encode_shard:" in res.output
    again = run_snakemake(tmp_path, target, "-n")
    assert "Nothing to be done" in again.output, again.output[-3000:]
    meta = [
        io.read_json(tmp_path / f"results/vectors/minilm/drf_tutorial/en/{i}-of-2.json") for i in range(2)
    ]
    assert meta[0]["start"] == 0 and meta[0]["stop"] == meta[1]["start"] and meta[0]["stop"] % 16 == 0
    qa = tmp_path / "results" / "qa" / "drf_tutorial" / "en"
    spec = Plan.of(config, REPO).registry.spec("minilm")
    evaluate(
        qa / "val.json", tmp_path / "one.csv", tmp_path / "one.queries.csv", spec,
        chunks_path=tmp_path / "results/chunks/drf_tutorial/en.json", corpus="drf_tutorial", lang="en",
        options=EvalOptions.default(device="cpu", cache_dir=None, shard_block=16, latency_queries=3),
    )  # fmt: skip
    assert (tmp_path / "one.queries.csv").read_bytes() == (tmp_path / target).read_bytes()
    with open(tmp_path / "results/eval/minilm/drf_tutorial/en.csv", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["index"] == "exact" and float(row["index_recall@10"]) == 1.0
