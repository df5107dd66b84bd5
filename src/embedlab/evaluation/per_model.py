"""Every evaluation of one model in one process (rule evaluate_model, `evaluation.jobs: model`).

A job per model x dataset x query set starts Python, imports sentence-transformers and loads the model each
time: 5-8 s on a 2-core machine, more than scoring a set whose vectors are cached (issue 27). Here the model
is loaded once and each run writes the same files, with the same code, as its own rule would
(evaluate_retrieval, evaluate_retrieval_real, evaluate_compression): only the timing columns can differ.
Runs go in the plan's order, each dataset's val set first, so its real questions and its compression sweep
read the chunk vectors the val run just put in the embedding cache.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from embedlab.evaluation.compression import variants_with
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.retrieval import evaluate_with, load_questions
from embedlab.filenames import per_query
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import CompressionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRun:
    """One output pair of a model's job: its query set (val.json or real.json), the dataset's chunks, the
    summary file (the per-query file beside it), and whether it is the compression sweep (else a retrieval
    evaluation)."""

    questions: str
    chunks: str
    summary: str
    corpus: str
    lang: str
    compression: bool = False

    @property
    def queries(self) -> str:
        return per_query(self.summary)


def evaluate_model(
    spec: ModelSpec,
    runs: Sequence[EvalRun],
    options: EvalOptions,
    compression: CompressionSettings,
) -> None:
    """Load `spec` once and write every run's files, in order."""
    enc = open_encoder(spec, options.device, options.cache_dir, options.shard_block)
    try:
        for run in tqdm(runs, desc=f"evaluate {spec.name}", unit="set"):
            where = f"{run.corpus}/{run.lang} ({Path(run.summary).name})"
            log.info("%s on %s", spec.name, where)
            if run.compression:
                variants_with(enc, run.questions, run.chunks, run.summary, run.queries, sweep=compression,
                              corpus=run.corpus, lang=run.lang, options=options)  # fmt: skip
            else:
                evaluate_with(
                    enc, load_questions(run.questions, run.chunks), run.summary, run.queries,
                    corpus=run.corpus, lang=run.lang, options=options,
                )  # fmt: skip
    finally:
        enc.close()
