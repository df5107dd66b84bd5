"""Sharded encoding (`evaluation.shards` > 1, dense kinds in SHARDABLE_KINDS): rule encode_shard encodes
fixed row ranges of val.json's corpus (`shard_range`) into files, and evaluate_retrieval reads them back
(`encode_sharded`) instead of encoding the corpus.

Shard ranges are whole `shard_block` blocks and the rows are encoded in `encoding.encode_rows` blocks, so each
chunk's vector comes from the same batch and the search multiplies the same tiles: sharded and unsharded runs
give identical vectors, ranks and metrics. Both rule sides live here so they share those ranges, and a shard
is refused unless it holds this val split's rows encoded by this very model.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import search
from embedlab.evaluation.encoding import CACHE_DIR, Encoded, counted, encode_rows, warn_zeros
from embedlab.evaluation.qaset import QASet
from embedlab.models.embcache import CachedEncoder, open_encoder
from embedlab.models.encoders import Encoder, zero_rows
from embedlab.models.spec import ModelSpec
from embedlab.settings import evaluation_default, schema_default

log = logging.getLogger(__name__)

SHARD_CACHE_DIR: str | None = CACHE_DIR if schema_default("evaluation", "cache", "shard_jobs") else None

SHARDABLE_KINDS = ("sentence-transformers", "huggingface", "custom", "onnx")
"""Kinds whose corpus can be encoded in shards (rule encode_shard): dense vectors computed on this machine,
one text independent of the others. BM25 needs the whole corpus's term statistics, a hybrid is not an
encoder, and API models stay one job (one client and rate limit, and the cache keeps what was paid for)."""


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
    block: int = evaluation_default("shard_block"),
    device: str = evaluation_default("device"),
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
        encoded, cached = counted(enc, before, stop - start)
        fingerprint, used = enc.encoder.fingerprint(), enc.encoder.device
    finally:
        enc.close()
    zeros = zero_rows(vectors)
    warn_zeros(enc, zeros)
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
    encoded, cached = counted(encoder, before, len(qa.queries))
    zeros = zero_rows(q)
    warn_zeros(encoder, zeros)
    return Encoded(
        None, q, seconds, encoded + sum(m["encoded_texts"] for _, m in loaded),
        cached + sum(m["cached_texts"] for _, m in loaded), zeros + sum(m["zero_vectors"] for _, m in loaded),
        shards=[s for s, _ in loaded],
    )  # fmt: skip
