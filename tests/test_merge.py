"""Merging a fine-tune with its base (train.merge) and choosing the weight under the forgetting guard
(workflow.merging): the endpoints are the base and the fine-tune bit for bit, merges load offline, the choice
keeps the best dev score within the guard, by hand-made scores and on a real tiny run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ft_fixtures import MINILM, REPO, build_dataset_files, build_tiny_model, finetune_config

from embedlab import filenames, io
from embedlab.errors import EmbedlabError
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.selection import dev_set, mean_scores, train_side_set
from embedlab.models.spec import ModelSpec
from embedlab.train.merge import Candidate, choose_merge, choose_weight, merge_models
from embedlab.workflow.merging import MergeChoice, MergeJob, merge_model

BASE = ModelSpec(name="minilm", source=MINILM)


def _state(path: str | Path) -> dict:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu").state_dict()


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory) -> Path:
    """MiniLM with seeded noise on every parameter: a stand-in fine-tune (same architecture)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embedlab.models.sources import resolve_model_source

    model = SentenceTransformer(resolve_model_source(MINILM), device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.01)
    out = tmp_path_factory.mktemp("ft") / "ft"
    model.save(str(out))
    return out


def test_weight_0_is_the_base_and_1_the_finetune_bit_for_bit(perturbed, tmp_path):
    from sentence_transformers import SentenceTransformer

    base, ft = _state(_minilm_dir()), _state(perturbed)
    for w, expected in ((0, base), (1, ft)):
        out = tmp_path / f"ft.merge{w}"
        facts = merge_models(BASE, perturbed, w, out)
        assert _same(_state(out), expected), f"weight {w}"
        written = io.read_json(out / filenames.MERGE_FACTS)
        assert written == facts and written["weight"] == w and written["choice"] is None
        assert written["base"] == {"name": "minilm", "source": MINILM}
        assert written["finetuned"]["source"] == str(perturbed) and written["method"] == "linear"
        card = (out / filenames.MODEL_CARD).read_text(encoding="utf-8")  # the folder explains itself
        assert f"base_model: {MINILM}" in card and f"{1 - w:g} × `minilm`" in card
        assert "How the weight was chosen" not in card
    half = tmp_path / "ft.merge0.5"
    merge_models(BASE, perturbed, 0.5, half)
    model = SentenceTransformer(str(half), device="cpu")
    assert model.encode(["high-risk AI systems"]).shape == (1, 384)
    mid = model.state_dict()
    key = next(k for k in mid if k.endswith("word_embeddings.weight"))
    assert (mid[key] - (base[key] + ft[key]) / 2).abs().max() < 1e-6
    assert not list(tmp_path.glob(".ft.*")), "temp dirs left beside the merges"


def _minilm_dir() -> str:
    from embedlab.models.sources import resolve_model_source

    return resolve_model_source(MINILM)


def test_a_different_architecture_is_a_one_line_error(corpora, tmp_path):
    tiny = build_tiny_model(corpora, tmp_path / "tiny")
    with pytest.raises(EmbedlabError, match=r"^merge x: .*merging needs the fine-tune's own base[^\n]*$"):
        merge_models(BASE, tiny, 0.5, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_choice_is_the_best_dev_score_within_the_guard():
    def cand(w: float, dev: float, guard: float) -> Candidate:
        return Candidate(w, dev, {"other/en": guard})

    # dev rises with the weight; the guard falls: 0.6 loses 0.03 > 0.02, so 0.4 (the best within) wins
    cands = [cand(0, 0.50, 0.80), cand(0.2, 0.55, 0.80), cand(0.4, 0.60, 0.785), cand(0.6, 0.70, 0.77)]
    chosen, table = choose_weight(cands, max_loss=0.02)
    assert chosen == 0.4
    assert [r["qualifies"] for r in table] == [True, True, True, False]
    assert [r["chosen"] for r in table] == [False, False, True, False]
    assert table[3]["guard_loss"]["other/en"] == pytest.approx(0.03)
    # a loss of exactly max_loss qualifies; without a guard the best dev wins
    assert choose_weight([cand(0, 0.5, 0.8), cand(1, 0.6, 0.78)], 0.02)[0] == 1
    assert choose_weight([Candidate(0, 0.5, {}), Candidate(1, 0.9, {})], 0.0)[0] == 1
    # every merge forgets too much: the base is the floor
    assert choose_weight([cand(0, 0.5, 0.8), cand(0.5, 0.9, 0.5)], 0.02)[0] == 0
    # a tie in dev goes to the smaller weight (closer to the base)
    assert choose_weight([cand(0, 0.5, 0.8), cand(0.3, 0.6, 0.8), cand(0.7, 0.6, 0.8)], 0.02)[0] == 0.3
    with pytest.raises(EmbedlabError, match="weight 0"):
        choose_weight([cand(0.5, 0.5, 0.5)], 0.02)


def test_choose_merge_keeps_the_chosen_weight_with_its_table(perturbed, tmp_path):
    """Hand-made scores by candidate: 1 would win on dev but breaks the guard, so 0.5 is kept."""
    scores = {"0": (0.4, 0.9), "0.5": (0.6, 0.89), "1": (0.7, 0.7)}
    seen = []

    def score(folder: Path) -> tuple[float, dict[str, float]]:
        seen.append(folder.name)
        assert (folder / "modules.json").is_file()  # a saved model, loadable by the scorer
        dev, guard = scores[folder.name]
        return dev, {"other/en": guard}

    out = tmp_path / "ft.merged"
    facts = choose_merge(BASE, perturbed, out, [1, 0.5], 0.02, score, {"metric": "mrr@10"})
    assert seen == ["0", "0.5", "1"]
    assert facts["weight"] == 0.5 and facts["choice"]["chosen"] == 0.5
    assert facts["choice"]["metric"] == "mrr@10" and facts["choice"]["max_loss"] == 0.02
    assert [r["weight"] for r in facts["choice"]["candidates"]] == [0, 0.5, 1]
    assert io.read_json(out / filenames.MERGE_FACTS) == facts
    merge_models(BASE, perturbed, 0.5, tmp_path / "half")
    assert _same(_state(out), _state(tmp_path / "half"))
    assert not (out / ".candidates").exists()
    card = (out / filenames.MODEL_CARD).read_text(encoding="utf-8")
    assert "## How the weight was chosen" in card and "within 0.02 of the base" in card
    assert (
        "| 0.5 | 0.6000 | 0.8900 | yes | **chosen** |" in card and "| 1 | 0.7000 | 0.7000 | no |  |" in card
    )


@pytest.mark.slow
def test_chosen_merge_on_a_real_tiny_run(corpora, tmp_path):
    """A tiny BERT fine-tuned for a few steps on the AI Act, guarded by the securities law: the candidates
    are scored by the evaluation's retrieval code (weight 0 scores as the base, 1 as the fine-tune, each
    evaluated directly), and the chosen weight is the best dev score among those within the guard."""
    from sentence_transformers import SentenceTransformer

    from embedlab.train.finetune import finetune
    from embedlab.workflow.plan import Plan

    train = build_dataset_files(corpora, "eu_ai_act/en", tmp_path / "en")
    guard = build_dataset_files(corpora, "securities_law/zh", tmp_path / "zh")
    tiny = build_tiny_model(corpora, tmp_path / "tiny")
    config = finetune_config(["eu_ai_act/en"], str(tiny), batch_size=8, max_steps=3, dev_fraction=0.2,
                             learning_rate=5e-4)  # fmt: skip
    args = Plan.of(config, REPO).finetune_args("ft")
    ft_dir = tmp_path / "ft"
    finetune("ft", ft_dir, [train], **args, threads=2)
    base = args["base"]
    finetuned = dataclasses.replace(base, name="ft", source=str(ft_dir), base=base.name)
    choice = MergeChoice([0.5, 1], "mrr@10", 0.0, [train], [guard], 0.2, 4, args["seed"])
    options = EvalOptions.default(device="cpu", cache_dir=None)
    facts = merge_model(MergeJob("ft.merged", base, finetuned, None, choice), tmp_path / "ft.merged", options)

    table = facts["choice"]["candidates"]
    assert [r["weight"] for r in table] == [0, 0.5, 1]
    qualifying = [r for r in table if r["qualifies"]]
    best = max(qualifying, key=lambda r: (r["dev"], -r["weight"]))
    assert facts["weight"] == best["weight"] and best["chosen"]
    assert all(r["guard_loss"]["securities_law/zh"] <= 1e-9 for r in qualifying)
    assert (
        facts["choice"]["dev"]["queries"] > 0 and facts["choice"]["guard"]["securities_law/zh"]["queries"] > 0
    )
    sets = {"dev": dev_set([train], 0.2, 4, args["seed"]), "g": train_side_set(guard, args["seed"])}
    for row, spec in ((table[0], base), (table[-1], finetuned)):  # weight 0 is the base, 1 the fine-tune
        direct = mean_scores(spec, sets, "mrr@10", options)
        assert row["dev"] == pytest.approx(direct["dev"], abs=1e-6)
        assert row["guard"]["securities_law/zh"] == pytest.approx(direct["g"], abs=1e-6)
    model = SentenceTransformer(str(tmp_path / "ft.merged"), device="cpu")
    assert model.encode(["证券交易"]).shape == (1, 64)
