"""Retrieval evaluation of one model on one query set: encode once in batches, rank by matrix products.

Queries and chunks are encoded once each (through the embedding cache), and every relevant chunk's exact
rank gives all metrics at once (see embedlab.evaluation.metrics). Dense vectors are searched by streaming
exact search (evaluation.search: query block x corpus tile products), or, for corpora of
`evaluation.index.min_corpus` chunks and more, by an approximate faiss index whose recall@10 against exact
search is written beside the metrics; BM25's sparse rows by `metrics.relevant_ranks`.

Sharded encoding (`evaluation.shards` > 1, dense kinds in SHARDABLE_KINDS): rule encode_shard encodes fixed
row ranges of val.json's corpus (`shard_range`) into files, and evaluate_retrieval reads them instead of
encoding the corpus. Chunks are encoded in calls of `shard_block` rows starting at block multiples, and
shard ranges are whole blocks, so each chunk's vector comes from the same batch (a model's output depends in
its last bits on what else is in the batch) and the search multiplies the same tiles: sharded and unsharded
runs give identical vectors, ranks and metrics.
Writes one summary row (`{lang}.csv`) with 95 % bootstrap intervals and a per-query file
(`{lang}.queries.csv`); formats in docs/formats.md.

Why this long (over the house's ~400 lines): it holds the one encoding path every evaluator uses
(`encode_qa`, `open_encoder`) and both rule functions of a sharded evaluation (`encode_shard`, `evaluate`),
which must share the row blocks and shard ranges that make sharded and unsharded runs identical.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import latency, metrics, search
from embedlab.models.embcache import CachedEncoder, EmbeddingCache
from embedlab.models.encoders import Encoder, load_encoder, zero_rows
from embedlab.models.spec import ModelSpec
from embedlab.workflow.settings import IndexSettings, schema_default

log = logging.getLogger(__name__)


CACHE_DIR: str = schema_default("evaluation", "cache", "dir")  # where the rules cache embeddings
SHARD_CACHE_DIR: str | None = CACHE_DIR if schema_default("evaluation", "cache", "shard_jobs") else None

SHARDABLE_KINDS = ("sentence-transformers", "huggingface", "custom", "onnx")
"""Kinds whose corpus can be encoded in shards (rule encode_shard): dense vectors computed on this machine,
one text independent of the others. BM25 needs the whole corpus's term statistics, a hybrid is not an
encoder, and API models stay one job (one client and rate limit, and the cache keeps what was paid for)."""
RECALL_K = 10  # the approximate index's recall is measured on top-10 lists (`index_recall@10`)


def _ev(key: str) -> Any:
    """An `evaluation` default, from the schema (never restated here)."""
    return schema_default("evaluation", key)


FORMAT = "embedlab.eval/1"


@dataclass
class QASet:
    """Queries, chunks and positives as index lists: what one evaluation run needs."""

    query_ids: list[str]
    queries: list[str]
    corpus_ids: list[str]
    corpus: list[str]
    relevant: list[list[int]]
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""
    groups: list[str] | None = None  # each query's chunk group: the unit the bootstrap resamples

    def with_groups(self, chunk_group: dict[str, str]) -> QASet:
        """Each query's group is its first positive's chunk group (the split's unit, so all its positives
        lie on the val side together); queries of one group are resampled together."""
        self.groups = [chunk_group[self.corpus_ids[rel[0]]] for rel in self.relevant]
        return self

    @property
    def n_relevant(self) -> list[int]:
        return [len(r) for r in self.relevant]


def qa_from_dataset(data: dict[str, Any], source: str = "") -> QASet:
    """EmbeddingQAFinetuneDataset JSON -> QASet; queries without positives are skipped and counted."""
    corpus_ids = list(data.get("corpus", {}))
    if not corpus_ids:
        raise EmbedlabError(f"{source}: the corpus is empty: rerun the split rule (val corpus = every chunk)")
    index = {cid: i for i, cid in enumerate(corpus_ids)}
    qids, texts, relevant = [], [], []
    skipped = {"no_relevant": 0, "empty_text": 0}
    rel_docs = data.get("relevant_docs", {})
    for qid, text in data.get("queries", {}).items():
        positives = rel_docs.get(qid) or []
        if not positives:
            skipped["no_relevant"] += 1
            continue
        if not str(text).strip():
            skipped["empty_text"] += 1
            continue
        missing = [p for p in positives if p not in index]
        if missing:
            raise EmbedlabError(
                f"{source}: query {qid} points at chunk {missing[0]} that is not in the corpus: rerun split"
            )
        qids.append(qid)
        texts.append(text)
        relevant.append(sorted({index[p] for p in positives}))
    if not qids:
        raise EmbedlabError(
            f"{source}: no query with relevant chunks to evaluate (skipped {skipped}): "
            "the val split is empty; "
            "lower split.val_fraction's granularity or generate more queries"
        )
    for k, v in skipped.items():
        if v:
            log.warning("%s: skipped %d queries (%s)", source, v, k)
    return QASet(qids, texts, corpus_ids, [data["corpus"][c] for c in corpus_ids], relevant, skipped, source)


def load_qa(path: str | Path) -> QASet:
    return qa_from_dataset(io.read_json(path), str(path))


@dataclass
class RunResult:
    qa: QASet
    ranks: list[np.ndarray]
    per_query: dict[str, np.ndarray]
    encode_seconds: float
    search_seconds: float
    encoded: int
    cached: int
    zero_vectors: int
    dim: int | None
    corpus_vectors: Any = None  # what the latency probe searches (dense rows, or BM25's sparse ones)
    shards: list[search.Shard] | None = None  # the dense corpus as searched (None: BM25's sparse rows)
    index: str = "exact"  # what ranked the chunks: exact, hnsw or ivf (evaluation.index)
    index_recall: float = 1.0  # recall@10 of that index against exact search (1.0 by definition when exact)
    ann: Any = None  # the approximate faiss index, when one ranked the chunks


@dataclass
class Encoded:
    """A query set's chunk and query vectors, and what producing them cost (columns of the summary row)."""

    corpus: Any
    queries: Any
    seconds: float
    encoded: int  # texts the model computed
    cached: int  # texts the embedding cache served
    zero_vectors: int
    shards: list[search.Shard] | None = None  # a sharded run's corpus (encode_shard's files); corpus None

    @property
    def dim(self) -> int | None:
        rows = self.corpus if self.corpus is not None else self.queries
        return int(rows.shape[1]) if rows.ndim == 2 else None


def encode_rows(encoder: Encoder | CachedEncoder, texts: Sequence[str], block: int) -> Any:
    """Chunk texts (the first at a multiple of `block` in its corpus) in calls of `block` texts: each
    chunk's vector then comes from the same batch whether the corpus is encoded in one job or in shards.
    Blocks are written into one array as they come, so peak memory is the vectors plus one block (collecting
    the blocks and concatenating them held the vectors twice)."""
    out = None
    for i in range(0, len(texts), block):
        part = encoder.encode_corpus(texts[i : i + block])
        if out is None:
            out = np.empty((len(texts), *part.shape[1:]), dtype=part.dtype)
        out[i : i + len(part)] = part
    return out if out is not None else encoder.encode_corpus([])


def _counted(encoder: Any, before: dict[str, Any], n_texts: int) -> tuple[int, int]:
    """(texts encoded, texts served by the cache) since `before` (the encoder's stats then)."""
    stats = getattr(encoder, "stats", None)
    if not stats:
        return n_texts, 0
    return stats["encoded"] - before.get("encoded", 0), stats["cached"] - before.get("cached", 0)


def _warn_zeros(encoder: Any, zeros: int) -> None:
    if zeros:
        log.warning(
            "%s: %d zero vectors (empty or unknown-token texts): they score 0 against everything",
            encoder.spec.name,
            zeros,
        )


def encode_qa(encoder: Encoder | CachedEncoder, qa: QASet, block: int = _ev("shard_block")) -> Encoded:
    """Chunks then queries (a lexical model indexes the whole corpus first; dense chunks go in `encode_rows`
    blocks), through the cache when there is one; every evaluator (plain, hybrid member, rerank retriever,
    compression) encodes through here."""
    t0 = time.perf_counter()
    before = dict(getattr(encoder, "stats", {}))
    lexical = getattr(getattr(encoder, "encoder", encoder), "lexical", False)
    d = encoder.encode_corpus(qa.corpus) if lexical else encode_rows(encoder, qa.corpus, block)
    q = encoder.encode_queries(qa.queries)
    seconds = time.perf_counter() - t0
    zeros = zero_rows(q) + zero_rows(d)
    _warn_zeros(encoder, zeros)
    encoded, cached = _counted(encoder, before, len(qa.corpus) + len(qa.queries))
    return Encoded(d, q, seconds, encoded, cached, zeros)


def shard_range(n_rows: int, shard: int, shards: int, block: int) -> tuple[int, int]:
    """Rows [start, stop) of shard `shard` of `shards`: whole blocks of `block` rows, split evenly by block
    count (shard i gets blocks [i*B//n, (i+1)*B//n) of B; a shard past the last block is empty)."""
    if not 0 <= shard < shards:
        raise EmbedlabError(f"corpus shard {shard} of {shards}: the shard index must be in 0..{shards - 1}")
    blocks = math.ceil(n_rows / block)
    return min(shard * blocks // shards * block, n_rows), min((shard + 1) * blocks // shards * block, n_rows)


def _ids_hash(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def encode_shard(
    val_path: str | Path,
    out_vectors: str | Path,
    out_meta: str | Path,
    spec: ModelSpec,
    *,
    corpus: str,
    lang: str,
    shard: int,
    shards: int,
    block: int = _ev("shard_block"),
    device: str = _ev("device"),
    cache_dir: str | Path | None = SHARD_CACHE_DIR,
) -> dict[str, Any]:
    """Rule `encode_shard`: rows `shard_range` of val.json's corpus (its order), encoded in `encode_rows`
    blocks, as float32 .npy + a JSON sidecar (row range, chunk-id hash, model fingerprint, counts)."""
    if spec.kind not in SHARDABLE_KINDS:
        raise EmbedlabError(
            f"model {spec.name}: kind {spec.kind} is encoded in one job (kinds that shard: "
            f"{', '.join(SHARDABLE_KINDS)}): evaluate it without encode_shard"
        )
    texts = io.read_json(val_path).get("corpus", {})
    if not texts:
        raise EmbedlabError(
            f"{val_path}: the corpus is empty: rerun the split rule (val corpus = every chunk)"
        )
    ids = list(texts)
    start, stop = shard_range(len(ids), shard, shards, block)
    enc = open_encoder(spec, device, cache_dir, block)
    try:
        t0 = time.perf_counter()
        before = dict(enc.stats)
        vectors = encode_rows(enc, [texts[c] for c in ids[start:stop]], block)
        seconds = time.perf_counter() - t0
        encoded, cached = _counted(enc, before, stop - start)
        fingerprint, used = enc.encoder.fingerprint(), enc.encoder.device
    finally:
        enc.close()
    zeros = zero_rows(vectors)
    _warn_zeros(enc, zeros)
    meta = {
        "model": spec.name, "kind": spec.kind, "corpus": corpus, "lang": lang, "shard": shard,
        "shards": shards, "block": block, "start": start, "stop": stop, "n_chunks": len(ids),
        "dim": int(vectors.shape[1]), "dtype": "float32", "ids_sha256": _ids_hash(ids[start:stop]),
        "fingerprint": fingerprint, "encoded_texts": encoded, "cached_texts": cached, "zero_vectors": zeros,
        "encode_seconds": seconds, "device": used,
    }  # fmt: skip
    search.write_shard(out_vectors, out_meta, vectors, meta)
    log.info("%s on %s/%s: shard %d/%d, rows %d..%d", spec.name, corpus, lang, shard, shards, start, stop)
    return meta


def _checked_shard(
    vectors: str | Path, meta_path: str | Path, i: int, n: int, qa: QASet, block: int, fingerprint: str
) -> tuple[search.Shard, dict[str, Any]]:
    """Shard `i` of `n` read, and refused unless it holds this val split's rows for this very model."""
    shard, meta = search.read_shard(vectors, meta_path)
    start, stop = shard_range(len(qa.corpus_ids), i, n, block)
    made = (meta["shard"], meta["shards"], meta["block"], meta["start"], meta["stop"])
    if made != (i, n, block, start, stop):
        raise EmbedlabError(
            f"{meta_path}: shard {made[0]}/{made[1]} of rows {made[3]}..{made[4]} (block {made[2]}), but "
            f"shard {i}/{n} of this val split is rows {start}..{stop} (block {block}): rerun encode_shard"
        )
    if meta["ids_sha256"] != _ids_hash(qa.corpus_ids[start:stop]):
        raise EmbedlabError(
            f"{meta_path}: its chunk ids are not val.json's rows {start}..{stop}: rerun encode_shard"
        )
    if meta["fingerprint"] != fingerprint:
        raise EmbedlabError(
            f"{meta_path}: encoded by another version of model {meta['model']} (settings or weights "
            "changed): rerun rule encode_shard"
        )
    return shard, meta


def encode_sharded(
    encoder: Encoder | CachedEncoder, qa: QASet, files: Sequence[tuple[str | Path, str | Path]], block: int
) -> Encoded:
    """A sharded run's vectors: the corpus from rule encode_shard's (vectors, sidecar) `files`, checked
    against this val split and this model, the queries encoded here; counts and seconds add the shards'."""
    fingerprint = getattr(encoder, "encoder", encoder).fingerprint()
    loaded = [_checked_shard(v, m, i, len(files), qa, block, fingerprint) for i, (v, m) in enumerate(files)]
    t0 = time.perf_counter()
    before = dict(getattr(encoder, "stats", {}))
    q = encoder.encode_queries(qa.queries)
    seconds = time.perf_counter() - t0 + sum(m["encode_seconds"] for _, m in loaded)
    encoded, cached = _counted(encoder, before, len(qa.queries))
    zeros = zero_rows(q)
    _warn_zeros(encoder, zeros)
    return Encoded(
        None, q, seconds, encoded + sum(m["encoded_texts"] for _, m in loaded),
        cached + sum(m["cached_texts"] for _, m in loaded), zeros + sum(m["zero_vectors"] for _, m in loaded),
        shards=[s for s, _ in loaded],
    )  # fmt: skip


@dataclass
class Ranked:
    """Ranks of the relevant chunks, and which index produced them."""

    ranks: list[np.ndarray]
    index: str  # exact | hnsw | ivf
    recall: float  # index_recall@10: measured for an approximate index, 1.0 for exact search
    ann: Any = None


def rank_dense(
    queries: np.ndarray,
    shards: Sequence[search.Shard],
    qa: QASet,
    ks: Sequence[int],
    index: IndexSettings,
    seed: int,
    block: int,
) -> Ranked:
    """Exact ranks (streaming search); or, with an approximate `index` for this corpus size, ranks in its top
    max(k, 100) list (inf beyond) and its recall@10 against the exact top 10 of the same queries."""
    ties = metrics.tie_order(qa.corpus_ids)
    if not search.use_ann(index, len(ties)):
        ranks = search.exact_search(queries, shards, ties, relevant=qa.relevant, tile=block).ranks
        return Ranked(ranks, "exact", 1.0)
    ann = search.build_ann(shards, index, seed, tile=block)
    top = search.ann_search(ann, queries, ties, _deep(ks))
    exact = search.exact_search(queries, shards, ties, k=RECALL_K, tile=block).top
    recall = float(search.recall_at(top, exact, RECALL_K).mean())
    log.info(
        "%s index over %d chunks: recall@%d %.4f against exact search",
        index.kind,
        len(ties),
        RECALL_K,
        recall,
    )
    return Ranked(search.list_ranks(top, qa.relevant), index.kind, recall, ann)


def retrieve(
    encoder: Encoder | CachedEncoder,
    qa: QASet,
    ks: Sequence[int],
    *,
    block: int = _ev("shard_block"),
    index: IndexSettings | None = None,
    seed: int = schema_default("seed"),
    shards: Sequence[tuple[str | Path, str | Path]] = (),
) -> RunResult:
    """Encode (`encode_qa`; with `shards`, rule encode_shard's files give the corpus), rank, compute
    per-query metrics. Dense vectors: `rank_dense` (index None = the schema's, exact); BM25's sparse rows:
    `metrics.relevant_ranks`, every chunk ranked (memory bounded by its score block)."""
    e = encode_sharded(encoder, qa, shards, block) if shards else encode_qa(encoder, qa, block)
    t0 = time.perf_counter()
    if e.shards is None and hasattr(e.corpus, "toarray"):
        ranks = metrics.relevant_ranks(e.queries, e.corpus, qa.relevant, metrics.tie_order(qa.corpus_ids))
        found, dense = Ranked(ranks, "exact", 1.0), None
    else:
        dense = e.shards if e.shards is not None else [search.Shard(0, e.corpus)]
        found = rank_dense(e.queries, dense, qa, ks, index or search.index_settings(), seed, block)
    values = metrics.per_query(found.ranks, ks)
    return RunResult(
        qa, found.ranks, values, e.seconds, time.perf_counter() - t0, e.encoded, e.cached, e.zero_vectors,
        e.dim, e.corpus, shards=dense, index=found.index, index_recall=found.recall, ann=found.ann,
    )  # fmt: skip


def open_encoder(
    spec: ModelSpec, device: str, cache_dir: str | Path | None, block: int = _ev("shard_block")
) -> CachedEncoder:
    """The spec's encoder behind the embedding cache (none for lexical models or without `cache_dir`)."""
    encoder = load_encoder(spec, device)
    cache = (
        None
        if (cache_dir is None or encoder.lexical)
        else EmbeddingCache(cache_dir, spec.name, encoder.fingerprint())
    )
    # API models: commit every request's vectors, so an error mid-run loses nothing that was paid for; local
    # models: one commit per `encode_rows` block, so a block missing from the cache is one model call
    commit_every = spec.batch_size if spec.kind in ("openai", "openai-compatible") else block
    return CachedEncoder(encoder, cache, commit_every=commit_every)


def _fmt(x: Any) -> str:
    if isinstance(x, float | np.floating):
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf"
        return format(float(x), ".10g")
    return "" if x is None else str(x)


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with io.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_fmt(x) for x in row])


def summary_row(
    run: RunResult,
    ks: Sequence[int],
    model: str,
    kind: str,
    corpus: str,
    lang: str,
    device: str,
    bootstrap_samples: int,
    seed: int,
) -> dict[str, Any]:
    names = metrics.metric_names(ks)
    vals = {k: run.per_query[k] for k in names}
    cis = metrics.bootstrap_ci(vals, bootstrap_samples, seed, groups=run.qa.groups)
    row: dict[str, Any] = {
        "model": model,
        "kind": kind,
        "corpus": corpus,
        "lang": lang,
        "n_queries": len(run.qa.queries),
        "n_chunks": len(run.qa.corpus),
        "skipped_queries": sum(run.qa.skipped.values()),
    }
    for k in names:
        row[k] = float(vals[k].mean())
        row[f"{k}_lo"], row[f"{k}_hi"] = cis[k]
    row.update(
        {
            "encode_seconds": run.encode_seconds,
            "search_seconds": run.search_seconds,
            "encoded_texts": run.encoded,
            "cached_texts": run.cached,
            "zero_vectors": run.zero_vectors,
            "dim": run.dim,
            "device": device,
            "bootstrap_samples": bootstrap_samples,
            "bootstrap_unit": "chunk group" if run.qa.groups is not None else "query",
            "n_groups": len(set(run.qa.groups)) if run.qa.groups is not None else len(run.qa.queries),
            "seed": seed,
            "index": run.index,
            f"index_recall@{RECALL_K}": run.index_recall,
            "format": FORMAT,
        }
    )
    return row


def write_results(
    run: RunResult, row: dict[str, Any], out_csv: str | Path, out_queries: str | Path, ks: Sequence[int]
) -> dict[str, Any]:
    """The summary `row` (from `summary_row`) as a one-row CSV, and the run's per-query CSV."""
    write_csv(out_csv, list(row), [list(row.values())])
    names = metrics.metric_names(ks)
    header = ["query_id", "group", "n_relevant", "first_rank", "reciprocal_rank", *names]
    rows = [
        [
            qid,
            run.qa.groups[i] if run.qa.groups is not None else qid,
            len(run.qa.relevant[i]),
            run.per_query["first_rank"][i],
            run.per_query["reciprocal_rank"][i],
            *(run.per_query[k][i] for k in names),
        ]
        for i, qid in enumerate(run.qa.query_ids)
    ]
    write_csv(out_queries, header, rows)
    log.info(
        "%s on %s/%s: %s",
        row["model"],
        row["corpus"],
        row["lang"],
        ", ".join(f"{k}={row[k]:.4f}" for k in names if k.startswith(("hit@", "mrr@")) or "@1" in k[-3:]),
    )
    return row


def chunk_groups(chunks_path: str | Path) -> dict[str, str]:
    """Chunk id -> its group, from a chunk file (results/chunks/{corpus}/{lang}.json)."""
    return {c["id"]: c["group"] for c in io.read_json(chunks_path)["chunks"]}


def evaluate(
    val_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    spec: ModelSpec,
    *,
    chunks_path: str | Path,
    corpus: str,
    lang: str,
    ks: Sequence[int] = tuple(_ev("ks")),
    bootstrap_samples: int = _ev("bootstrap_samples"),
    seed: int = schema_default("seed"),
    device: str = _ev("device"),
    cache_dir: str | Path | None = CACHE_DIR,
    latency_queries: int = _ev("latency_queries"),
    shard_block: int = _ev("shard_block"),
    index: IndexSettings | None = None,
    shard_vectors: Sequence[str | Path] = (),
    shard_meta: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Rule `evaluate_retrieval`: one model on one val split -> summary CSV row + per-query CSV; with
    `shard_vectors`/`shard_meta` (rule encode_shard's files, in shard order) the corpus is read from them."""
    if len(shard_vectors) != len(shard_meta):
        raise EmbedlabError(
            f"{len(shard_vectors)} shard vector files but {len(shard_meta)} sidecars: pass both files of "
            "every shard"
        )
    qa = load_qa(val_path).with_groups(chunk_groups(chunks_path))
    return evaluate_qa(
        qa, out_csv, out_queries, spec, corpus=corpus, lang=lang, ks=ks,
        bootstrap_samples=bootstrap_samples, seed=seed, device=device, cache_dir=cache_dir,
        latency_queries=latency_queries, block=shard_block, index=index,
        shards=list(zip(shard_vectors, shard_meta, strict=True)),
    )  # fmt: skip


def evaluate_qa(
    qa: QASet,
    out_csv: str | Path,
    out_queries: str | Path,
    model_spec: ModelSpec,
    *,
    corpus: str,
    lang: str,
    ks: Sequence[int],
    bootstrap_samples: int,
    seed: int,
    device: str,
    cache_dir: str | Path | None,
    latency_queries: int,
    block: int = _ev("shard_block"),
    index: IndexSettings | None = None,
    shards: Sequence[tuple[str | Path, str | Path]] = (),
) -> dict[str, Any]:
    """Encode (through the cache), rank and write the summary + per-query files for one query set, with
    the query latency (`latency_queries` single uncached queries encoded and searched, median ms) and which
    index ranked the chunks (`index`, `index_recall@10`)."""
    enc = open_encoder(model_spec, device, cache_dir, block)
    try:
        run = retrieve(enc, qa, ks, block=block, index=index, seed=seed, shards=shards)
        size, query_ms = _deployed(enc, run, max(ks), qa.queries, latency_queries, seed)
    finally:
        enc.close()
    row = summary_row(
        run, ks, model_spec.name, model_spec.kind, corpus, lang, enc.encoder.device, bootstrap_samples, seed
    )
    row = add_columns(row, costs(size, len(qa.corpus), query_ms))
    return write_results(run, row, out_csv, out_queries, ks)


def _deployed(
    enc: CachedEncoder, run: RunResult, k: int, queries: Sequence[str], n: int, seed: int
) -> tuple[int | None, float]:
    """Bytes and query latency of the index a deployment would search: the approximate index, an exact
    flat index of the dense rows (every shard), or BM25's sparse matrix."""
    if run.shards is None:
        return index_bytes(run.corpus_vectors), latency.model_query_ms(
            enc, run.corpus_vectors, k, queries, n, seed
        )
    index = run.ann if run.ann is not None else search.flat_index(run.shards)
    encode_one = latency.uncached_query_encoder(enc)
    return search.index_bytes(index), latency.query_latency_ms(
        encode_one, search.searcher(index, k), queries, n, seed
    )


def costs(index_size: int | None, n_chunks: int, query_ms: float | None) -> dict[str, Any]:
    """The deployment costs beside the metrics: bytes per chunk vector, the corpus index size and the
    measured query latency; what the report's "what to deploy" table weighs."""
    per_vector = index_size / n_chunks if index_size is not None and n_chunks else None
    return {"bytes_per_vector": per_vector, "index_bytes": index_size, "query_ms": query_ms}


def add_columns(row: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`row` with `extra` columns inserted before its last column, `format`."""
    fmt = row.pop("format")
    return {**row, **extra, "format": fmt}


def index_bytes(vectors: Any) -> int | None:
    """Bytes the corpus index holds: a dense float matrix's buffer, a sparse matrix's data and indices."""
    if vectors is None:
        return None
    if hasattr(vectors, "data") and hasattr(vectors, "indices"):  # scipy sparse (BM25)
        return int(vectors.data.nbytes + vectors.indices.nbytes + vectors.indptr.nbytes)
    return int(np.asarray(vectors).nbytes)


def _deep(ks: Sequence[int]) -> int:
    """The list depth every metric needs: max(k, MAP@100's 100)."""
    return max([*ks, metrics.MAP_K, metrics.NDCG_K])


def compare(
    a_queries: str | Path,
    b_queries: str | Path,
    out_json: str | Path,
    *,
    model_a: str,
    model_b: str,
    metric: str = _ev("compare_metric"),
    samples: int = _ev("compare_samples"),
    seed: int = schema_default("seed"),
    corpus: str = "",
    lang: str = "",
) -> dict[str, Any]:
    """Rule `compare_models`: paired bootstrap + permutation test of model_b - model_a on the same queries."""
    import pandas as pd

    a = pd.read_csv(a_queries, dtype={"query_id": str}).set_index("query_id")
    b = pd.read_csv(b_queries, dtype={"query_id": str}).set_index("query_id")
    if metric not in a.columns or metric not in b.columns:
        raise EmbedlabError(
            f"compare: metric {metric!r} is not in the per-query files (columns: {', '.join(a.columns)})"
        )
    common = a.index.intersection(b.index)
    groups = a.loc[common, "group"].astype(str).tolist() if "group" in a.columns else None
    if len(common) != len(a) or len(common) != len(b):
        log.warning(
            "compare %s vs %s: %d/%d/%d queries in common", model_a, model_b, len(common), len(a), len(b)
        )
    result = {
        "format": "embedlab.compare/1",
        "corpus": corpus,
        "lang": lang,
        "metric": metric,
        "model_a": model_a,
        "model_b": model_b,
        "samples": samples,
        "seed": seed,
        "unit": "chunk group" if groups is not None else "query",
        **metrics.paired_test(
            a.loc[common, metric].to_numpy(), b.loc[common, metric].to_numpy(), samples, seed, groups=groups
        ),
    }
    p = result["p_value"]
    if p is None:
        result["verdict"] = "no queries"
    elif p < 0.05:
        direction = "better" if result["diff"] > 0 else "worse"
        result["verdict"] = f"{model_b} {direction} than {model_a} beyond noise (p={p:.4f})"
    else:
        result["verdict"] = f"no significant difference (p={p:.4f})"
    io.write_json(out_json, result)
    log.info("compare %s: %s", metric, result["verdict"])
    return result
