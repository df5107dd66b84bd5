"""LoRA on the sentence-transformers backend: the packaged MiniLM trained a few steps with adapters on a real
slice; only the adapter moves (the saved weights are the base's plus the adapter's update, nothing else),
the best dev checkpoint loads back, and the folder is a plain model that `SentenceTransformer(path)` loads."""

from __future__ import annotations

import logging

import pytest
import torch
from ft_fixtures import MINILM, REPO, build_dataset_files, finetune_config

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.train.finetune import finetune
from embedlab.workflow.plan import Plan

DATASET = "eu_ai_act/en"
LORA = {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0}


@pytest.fixture(scope="module")
def lora_run(corpora, tmp_path_factory):
    files = build_dataset_files(corpora, DATASET, tmp_path_factory.mktemp("lora_data"))
    config = finetune_config(
        [DATASET],
        MINILM,
        lora=dict(LORA),  # validation fills defaults in place
        batch_size=4,
        max_steps=2,
        max_seq_length=32,
        learning_rate=1e-3,
        warmup=0,
        dev_fraction=0.2,  # a dev slice: the best checkpoint (an adapter alone) is loaded back
    )
    config["models"]["base"]["max_seq_length"] = 64  # short texts keep the run short
    out = tmp_path_factory.mktemp("lora") / "ft"
    logger = logging.getLogger()
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        facts = finetune("ft", out, [files], **Plan.of(config, REPO).finetune_args("ft"), threads=2)
    finally:
        logger.removeHandler(handler)
    return out, facts, errors


def test_lora_trains_only_the_adapter_and_saves_a_plain_model(lora_run):
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    out, facts, errors = lora_run
    assert not errors, [r.getMessage() for r in errors]  # e.g. "Could not load the best model"
    lora = facts["lora"]
    assert lora["enabled"] and lora["target_modules"] == ["query", "value"]  # PEFT's BERT default
    adapter = load_file(out / "adapter" / "adapter_model.safetensors")
    assert lora["trainable_parameters"] == sum(t.numel() for t in adapter.values())
    base = SentenceTransformer(resolve_model_source(MINILM), device="cpu")[0].auto_model.state_dict()
    assert lora["total_parameters"] == sum(t.numel() for t in base.values()) + lora["trainable_parameters"]

    tuned = SentenceTransformer(str(out), device="cpu")  # plain sentence-transformers, no peft involved
    assert tuned.encode(["high-risk AI systems"]).shape == (1, 384)
    saved = tuned[0].auto_model.state_dict()
    assert set(saved) == set(base)
    scale = LORA["alpha"] / LORA["r"]
    adapted = 0
    for key, weight in saved.items():
        module = key.removesuffix(".weight")
        lora_a = adapter.get(f"base_model.model.{module}.lora_A.weight")
        if lora_a is None:
            assert torch.equal(weight, base[key]), key  # frozen: bit for bit the base's
            continue
        delta = scale * adapter[f"base_model.model.{module}.lora_B.weight"] @ lora_a
        assert torch.allclose(weight, base[key] + delta, atol=1e-6), key
        adapted += bool(delta.abs().max() > 0)
    assert adapted == 2 * 6  # query and value of each of MiniLM's 6 layers moved


def test_lora_facts_and_card(lora_run):
    out, facts, _ = lora_run
    saved = io.read_json(out / "training.json")
    assert saved["lora"] == facts["lora"]
    assert {k: saved["lora"][k] for k in LORA} == LORA
    assert saved["lora"]["adapter"] == "adapter" and (out / "adapter" / "adapter_config.json").is_file()
    assert saved["hyperparameters"]["steps"] == 2
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "LoRA: rank 4, alpha 8" in card and "`query`, `value`" in card and "`adapter/`" in card


def test_lora_needs_the_sentence_transformers_backend():
    config = finetune_config([DATASET], MINILM, lora=dict(LORA), backend="llamaindex")
    with pytest.raises(EmbedlabError, match=r"finetune\.ft\.lora: lora needs backend sentence-transformers"):
        Plan.of(config, REPO)
