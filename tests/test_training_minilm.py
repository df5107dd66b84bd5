"""The packaged all-MiniLM-L6-v2, fine-tuned for a handful of steps on the securities-law train split (real
chunks, offline ICT + heading queries), scores a higher MRR@10 on the held-out val split than before."""

from __future__ import annotations

import pytest
from ft_fixtures import MINILM

from embedlab.data.prepare import prepare_dataset
from embedlab.data.training_data import DatasetFiles
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.retrieval import score
from embedlab.models.spec import ModelSpec
from embedlab.train.finetune import finetune
from embedlab.workflow.plan import Plan

pytestmark = pytest.mark.slow


def test_minilm_on_securities_law_improves_val_mrr(corpora, tmp_path):
    from ft_fixtures import REPO
    from sentence_transformers import SentenceTransformer

    d = tmp_path / "data"
    src = corpora / "securities_law" / "securities_law_2019.md"
    prepare_dataset(src, d, "securities_law", "zh")
    plan = Plan.of(
        {
            "corpus_root": str(corpora),
            "corpora": {
                "securities_law": {"languages": {"zh": {"file": "securities_law/securities_law_2019.md"}}}
            },
            "models": {"minilm": {"source": MINILM, "max_seq_length": 128, "batch_size": 64}},
            "finetune": {
                "minilm-zh": {
                    "base": "minilm",
                    "datasets": ["securities_law/zh"],
                    "batch_size": 8,
                    "max_steps": 5,
                    "learning_rate": 1e-4,
                    "warmup": 0,
                    "dev_fraction": 0.0,
                }
            },
        },
        REPO,
    )
    files = DatasetFiles("securities_law/zh", d / "train.json", d / "val.json", d / "chunks.json")
    out = tmp_path / "minilm-zh"
    facts = finetune("minilm-zh", out, [files], **plan.finetune_args("minilm-zh"), threads=2)
    options = EvalOptions.default(device="cpu", cache_dir=None, bootstrap_samples=100)

    def val_mrr(name: str, source: str) -> float:  # what rule evaluate_retrieval measures, once per model
        spec = ModelSpec(name=name, source=source, max_seq_length=128, batch_size=64)
        return score(d / "val.json", d / "chunks.json", spec, options)["mrr@10"]

    before, after = val_mrr("minilm", MINILM), val_mrr("minilm-zh", str(out))
    print(f"MRR@10 before {before:.4f} after {after:.4f}; training {facts['training_time_s']} s")
    assert facts["datasets"]["securities_law/zh"]["val_queries"] >= 20
    assert after > before + 0.02, (before, after)
    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["证券发行"]).shape == (1, 384)
