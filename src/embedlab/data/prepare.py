"""The data half of the pipeline in one call, without Snakemake: for notebooks, tests and benchmarks.

Writes the same files, in the same formats, as the rules chunk → generate_queries → dataset → split, with
the rules' file names (`embedlab.filenames`) inside one folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from embedlab import filenames
from embedlab.data.chunking import ChunkingSettings, chunk_corpus
from embedlab.data.queries import build_dataset, generate_queries
from embedlab.data.split import split_dataset
from embedlab.settings import schema_default


def prepare_dataset(
    source: str | Path,
    out: str | Path,
    corpus: str,
    lang: str,
    *,
    chunking: ChunkingSettings | None = None,
    generators: Sequence[str] = tuple(schema_default("generators", "use")),
    settings: Mapping[str, dict[str, Any]] | None = None,
    val_fraction: float = schema_default("split", "val_fraction"),
    seed: int = schema_default("seed"),
) -> Path:
    """Chunk `source`, generate queries, merge and split into `out`; return `out`.

    `chunking`: the schema's chunking settings when None.
    `settings`: generator name -> its settings, as in the config's `generators` (e.g.
    `{"ict": {"val_queries_per_chunk": 3}}`); a generator not named runs with its defaults.

    `out` then holds chunks.json, <generator>.json, dataset.json, provenance.json, train.json, val.json and
    split.json.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chunks = out / filenames.CHUNKS
    chunk_corpus(source, chunks, corpus, lang, chunking)
    query_files = [out / filenames.queries(gen) for gen in generators]
    for gen, path in zip(generators, query_files, strict=True):
        generate_queries(chunks, path, gen, dict((settings or {}).get(gen, {})), seed)
    dataset, provenance = out / filenames.DATASET, out / filenames.PROVENANCE
    build_dataset(chunks, query_files, dataset, provenance)
    split_dataset(
        chunks,
        dataset,
        provenance,
        out / filenames.TRAIN,
        out / filenames.VAL,
        out / filenames.SPLIT,
        val_fraction,
        seed,
    )
    return out
