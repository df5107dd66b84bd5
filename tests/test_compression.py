"""Truncated dimensions, int8/binary vectors with rescoring, and per-query latency: exact ranks checked
against brute force on hand-made vectors, then the packaged MiniLM on a real val slice."""

import csv
import time

import numpy as np
import pytest

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import latency
from embedlab.evaluation.compression import (
    CompressedIndex,
    Variant,
    bytes_per_vector,
    compressed_ranks,
    evaluate_variants,
    index_searcher,
    truncate,
    variants,
)
from embedlab.evaluation.metrics import tie_order
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.retrieval import evaluate
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import CompressionSettings

KS = [1, 3, 5, 10]


def unit(rng, n, d):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def vectors():
    """Corpus with exact duplicates (ties) and ids whose order is not the row order."""
    rng = np.random.default_rng(7)
    d = unit(rng, 40, 24)
    d[5] = d[17]
    d[30] = d[2]
    ids = [f"c{(i * 13) % 40:02d}" for i in range(40)]  # ascending-id order differs from row order
    return unit(rng, 9, 24), d, tie_order(ids)


def brute_ranks(score_rows, ties):
    """rank of every chunk = 1 + #higher + #(equal score, lower id), from a full score matrix."""
    out = []
    for s in score_rows:
        higher = (s[None, :] > s[:, None]).sum(1)
        tied = ((s[None, :] == s[:, None]) & (ties[None, :] < ties[:, None])).sum(1)
        out.append(1 + higher + tied)
    return np.array(out, dtype=np.float64)


def all_ranks(index, q, ties, candidates):
    """Rank of every chunk (relevant = all chunks, unsorted back to chunk order)."""
    n = index.codes.shape[0]
    out = []
    for i in range(q.shape[0]):
        # one chunk at a time keeps the chunk -> rank mapping explicit
        out.append([compressed_ranks(index, q[i : i + 1], [[j]], ties, candidates)[0][0] for j in range(n)])
    return np.array(out)


def test_truncate_full_dimension_is_no_truncation():
    v = unit(np.random.default_rng(0), 5, 16)
    assert truncate(v, 16, True) is v and truncate(v, 99, True) is v
    t = truncate(v, 4, True)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(t * np.linalg.norm(v[:, :4], axis=1, keepdims=True), v[:, :4], rtol=1e-5)
    assert np.array_equal(truncate(v, 4, False), v[:, :4])  # dot-product models keep raw slices


def test_bytes_per_vector_and_variants():
    assert [bytes_per_vector(384, p) for p in ("float32", "int8", "binary")] == [1536, 384, 48]
    assert bytes_per_vector(100, "binary") == 13
    got = variants([512, 384, 128], ["float32", "binary"], 384)
    assert [v.name for v in got] == ["384d-float32", "384d-binary", "128d-float32", "128d-binary"]
    with pytest.raises(EmbedlabError, match="precision 'fp16'"):
        variants([64], ["fp16"], 384)
    with pytest.raises(EmbedlabError, match="at least 1"):
        variants([0], ["int8"], 384)


def test_int8_stage1_ranks_are_exact_integer_dot_products(vectors):
    q, d, ties = vectors
    index = CompressedIndex(d, Variant(24, "int8"), True)
    assert index.codes.dtype == np.int8 and index.nbytes == 40 * 24 + 2 * 24 * 4
    qc = index.query_codes(q).astype(np.int64)
    scores = qc @ index.codes.astype(np.int64).T  # integer arithmetic: no rounding at all
    np.testing.assert_array_equal(all_ranks(index, q, ties, 0), brute_ranks(scores, ties))


def test_binary_stage1_ranks_are_hamming(vectors):
    q, d, ties = vectors
    index = CompressedIndex(d, Variant(20, "binary"), True)  # 20 bits: padding bits in the last byte
    assert index.codes.shape == (40, 3) and index.nbytes == 120
    qc = index.query_codes(truncate(q, 20, True))
    ham = np.array([[int(np.bitwise_count(a ^ b).sum()) for b in index.codes] for a in qc])
    got = all_ranks(index, truncate(q, 20, True), ties, 0)
    np.testing.assert_array_equal(got, brute_ranks(-ham.astype(np.float64), ties))
    assert (got == 1).sum() == len(q)  # one first place per query despite many Hamming ties


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_rescoring_reorders_the_top_candidates_only(vectors, precision):
    q, d, ties = vectors
    index = CompressedIndex(d, Variant(24, precision), True)
    stage1 = all_ranks(index, q, ties, 0)
    rescored = all_ranks(index, q, ties, 6)
    decoded = index.decode(index.codes)
    for s1, s2, qv in zip(stage1, rescored, q, strict=True):
        top = s1 <= 6
        assert set(s2[top]) == set(range(1, 7))  # the same 6 candidates fill ranks 1-6
        assert np.array_equal(s2[~top], s1[~top])  # every other chunk keeps its stage-1 rank
        score = decoded[top] @ qv.astype(np.float64)
        assert np.array_equal(np.argsort(s2[top]), np.lexsort((ties[top], -score)))
    everything = all_ranks(index, q, ties, 40)  # every chunk rescored = float query · decoded corpus
    np.testing.assert_array_equal(everything, brute_ranks(q.astype(np.float64) @ decoded.T, ties))


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_searcher_returns_the_evaluated_first_chunk(vectors, precision):
    q, d, ties = vectors
    index = CompressedIndex(d, Variant(24, precision), True)
    ranks = all_ranks(index, q, ties, 40)
    search = index_searcher(index, 3, 40)
    for i in range(len(q)):
        top = search(q[i : i + 1])
        assert len(top) == 3 and int(top[0]) == int(np.argmin(ranks[i]))


def test_latency_median_and_sample():
    queries = [f"q{i}" for i in range(20)]
    assert latency.sample_queries(queries, 5, 3) == latency.sample_queries(queries, 5, 3)
    assert sorted(latency.sample_queries(queries, 50, 3)) == sorted(queries)
    seen = []
    ms = latency.query_latency_ms(lambda t: seen.append(t) or t, lambda v: time.sleep(0.002), queries, 6, 3)
    assert 2.0 <= ms < 200
    assert len(seen) == latency.WARMUP + 6
    with pytest.raises(EmbedlabError, match="at least 1"):
        latency.query_latency_ms(str, str, queries, 0, 3)


def test_one_search_thread_is_restored():
    import faiss

    before = faiss.omp_get_max_threads()
    with latency.one_search_thread():
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before


def test_latency_encodes_with_the_model_not_the_cache(tmp_path):
    spec = ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder")
    texts = ["the provider shall keep logs", "risk management system", "penalties for infringements"]
    enc = open_encoder(spec, "cpu", tmp_path / "cache")
    try:
        d = enc.encode_corpus(texts)
        enc.encode_queries(texts)
        calls = enc.encoder.calls
        enc.encode_queries(texts)
        assert enc.encoder.calls == calls  # a batch evaluation rerun is served by the cache ...
        search = latency.matrix_searcher(d, 2)
        ms = latency.query_latency_ms(latency.uncached_query_encoder(enc), search, texts, 3, 0)
        assert ms > 0
        assert enc.encoder.calls == calls + latency.WARMUP + 3  # ... the latency probe never is
        assert int(search(enc.encode_queries(texts[1:2]))[0]) == 1
    finally:
        enc.close()


def test_matrix_searcher_on_sparse_bm25_rows():
    spec = ModelSpec(name="bm25", kind="bm25")
    enc = open_encoder(spec, "cpu", None)
    d = enc.encode_corpus(["risk management system", "logs kept by the provider", "market surveillance"])
    search = latency.matrix_searcher(d, 2)
    top = search(latency.uncached_query_encoder(enc)("which logs does a provider keep"))
    assert int(top[0]) == 1


def write_tiny_split(root):
    chunks = ["risk management system for high-risk AI", "logs kept by the provider", "market surveillance"]
    ids = [f"t.en.{i}" for i in range(3)]
    io.write_json(root / "chunks.json", {"chunks": [{"id": c, "group": f"g{i}"} for i, c in enumerate(ids)]})
    val = {"queries": {"a": "which logs", "b": "risk management", "c": "surveillance of the market"},
           "corpus": dict(zip(ids, chunks, strict=True)),
           "relevant_docs": {"a": [ids[1]], "b": [ids[0]], "c": [ids[2]]}, "mode": "text"}  # fmt: skip
    io.write_json(root / "val.json", val)


def run_variants(root, spec, cache_dir="cache"):
    options = EvalOptions.default(ks=(1, 3), bootstrap_samples=20, seed=1, device="cpu",
                                  cache_dir=cache_dir and root / cache_dir, latency_queries=2)  # fmt: skip
    return evaluate_variants(
        root / "val.json", root / "chunks.json", root / "s.csv", root / "q.csv", spec=spec, corpus="t",
        lang="en", sweep=CompressionSettings(None, [64, 16], ["float32", "int8", "binary"], 2),
        options=options,
    )  # fmt: skip


def test_variant_files_and_lexical_models_refused(tmp_path):
    write_tiny_split(tmp_path)
    spec = ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder")
    rows = run_variants(tmp_path, spec)
    with open(tmp_path / "s.csv", encoding="utf-8") as fh:
        summary = list(csv.DictReader(fh))
    assert [r["variant"] for r in summary] == [
        f"{d}d-{p}" for d in (64, 16) for p in ("float32", "int8", "binary")
    ]
    assert [int(r["bytes_per_vector"]) for r in summary] == [256, 64, 8, 64, 16, 2]
    assert [int(r["index_bytes"]) for r in summary[:3]] == [768, 3 * 64 + 2 * 64 * 4, 24]
    assert all(float(r["query_ms"]) > 0 for r in summary) and summary[0]["format"] == "embedlab.compression/1"
    with open(tmp_path / "q.csv", encoding="utf-8") as fh:
        per_query = list(csv.DictReader(fh))
    assert len(per_query) == 6 * 3 and list(per_query[0])[:3] == ["variant", "query_id", "group"]
    first = [float(r["reciprocal_rank"]) for r in per_query if r["variant"] == "64d-float32"]
    assert np.mean(first) == pytest.approx(rows[0]["mrr@3"])
    with pytest.raises(EmbedlabError, match="needs a dense model"):
        run_variants(tmp_path, ModelSpec(name="bm25", kind="bm25"), cache_dir=None)


# ----------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def minilm_variants(corpora, tmp_path_factory):
    from eval_data import MINILM, build_split

    root = tmp_path_factory.mktemp("compress")
    split = build_split(corpora, "en", root / "en")
    spec = ModelSpec(name="minilm", source=MINILM, max_seq_length=128)
    options = EvalOptions.default(ks=tuple(KS), bootstrap_samples=200, seed=42, device="cpu",
                                  cache_dir=root / "cache")  # fmt: skip
    rows = evaluate_variants(
        split / "val.json", split / "chunks.json", root / "v.csv", root / "vq.csv", spec=spec,
        sweep=CompressionSettings(None, [512, 384, 128], ["float32", "int8", "binary"], 4),
        corpus="eu_ai_act", lang="en", options=options._replace(latency_queries=5),
    )  # fmt: skip
    plain = evaluate(
        split / "val.json",
        root / "p.csv",
        root / "pq.csv",
        spec,
        chunks_path=split / "chunks.json",
        corpus="eu_ai_act",
        lang="en",
        options=options,
    )
    return {r["variant"]: r for r in rows}, plain, root


def test_full_dimension_equals_the_plain_evaluation(minilm_variants):
    rows, plain, root = minilm_variants
    assert list(rows) == [f"{d}d-{p}" for d in (384, 128) for p in ("float32", "int8", "binary")]
    full = rows["384d-float32"]
    for key in ("mrr@10", "mrr@10_lo", "mrr@10_hi", "hit@1", "ndcg@10", "map@100", "n_queries", "n_chunks"):
        assert full[key] == plain[key], key
    with open(root / "pq.csv", encoding="utf-8") as fh:
        expect = list(csv.DictReader(fh))
    with open(root / "vq.csv", encoding="utf-8") as fh:
        got = [{k: v for k, v in r.items() if k != "variant"} for r in csv.DictReader(fh)]
    assert got[: len(expect)] == expect  # byte-for-byte the evaluate rule's per-query values


def test_quantized_quality_stays_near_float32(minilm_variants):
    rows = minilm_variants[0]
    f32, i8, b1 = (rows[f"384d-{p}"] for p in ("float32", "int8", "binary"))
    assert abs(i8["mrr@10"] - f32["mrr@10"]) <= 0.02
    assert abs(b1["mrr@10"] - f32["mrr@10"]) <= 0.06
    assert rows["128d-float32"]["mrr@10"] < f32["mrr@10"]  # MiniLM was not trained for truncation
    assert [rows[f"384d-{p}"]["bytes_per_vector"] for p in ("float32", "int8", "binary")] == [1536, 384, 48]
    n = f32["n_chunks"]
    assert (f32["index_bytes"], i8["index_bytes"], b1["index_bytes"]) == (1536 * n, 384 * n + 3072, 48 * n)
    assert all(0 < r["search_ms"] < r["query_ms"] for r in rows.values())
