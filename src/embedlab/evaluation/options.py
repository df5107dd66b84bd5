"""The options every evaluator shares, as one object: the workflow builds it once from the validated config
(`EvalOptions.of`, as the plan's `eval_options`) and the rules pass it whole, so a new shared option is one
field here instead of a parameter in every evaluator, rule and script. Callers without a config (tests,
benchmarks, notebooks) take the schema's (`EvalOptions.default`): no default is written here a second time.

A NamedTuple, not a dataclass: Snakemake records a rule's params by repr for its `params` rerun trigger only
when they are builtin types (a tuple is; a dataclass is skipped silently), so a changed option reruns the
evaluations that took it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from embedlab.settings import EvaluationSettings, IndexSettings, schema_default, section


class EvalOptions(NamedTuple):
    ks: tuple[int, ...]  # metric cut-offs (hit@k, mrr@k, recall@k)
    bootstrap_samples: int  # for the confidence intervals of the summary row
    seed: int
    device: str
    cache_dir: str | Path | None  # the embedding cache; None: off
    latency_queries: int  # single uncached queries timed for query_ms
    shard_block: int  # texts per encode call (the same blocks as rule encode_shard's)
    index: IndexSettings  # exact search or an approximate faiss index

    @classmethod
    def of(cls, evaluation: EvaluationSettings, seed: int) -> EvalOptions:
        """The options of a validated config's `evaluation` section and its seed."""
        return cls(
            tuple(evaluation.ks),
            evaluation.bootstrap_samples,
            seed,
            evaluation.device,
            evaluation.cache_dir,
            evaluation.latency_queries,
            evaluation.shard_block,
            evaluation.index,
        )

    @classmethod
    def default(cls, **changes: Any) -> EvalOptions:
        """The schema's options with `changes` (e.g. device="cpu", cache_dir=None)."""
        evaluation = section(EvaluationSettings, {"evaluation": schema_default("evaluation")}, "evaluation")
        return cls.of(evaluation, schema_default("seed"))._replace(**changes)
