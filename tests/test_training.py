"""Fine-tuning with a tiny BERT built in the test (tokenizer trained on the corpora) on small real datasets:
all three backends, the model card, the dev slice, hard negatives, determinism and the readable errors."""

from __future__ import annotations

import csv
import json
import logging
import os
import stat
from pathlib import Path

import pytest
import yaml
from ft_fixtures import REPO, SLICES, build_dataset_files, build_tiny_model, finetune_config

from embedlab import io
from embedlab.data.split import POSITIVE_SEP
from embedlab.data.training_data import load_training_data
from embedlab.errors import EmbedlabError
from embedlab.text import squash
from embedlab.train.common import resolve_precision
from embedlab.train.finetune import finetune
from embedlab.train.negatives import mine_negatives
from embedlab.workflow.plan import Plan

pytestmark = pytest.mark.slow
DATASETS = list(SLICES)
# SentenceTransformersParams fields of autotrain-advanced 0.8.36 that a config.yml `params:` may set
AUTOTRAIN_PARAMS = {
    "max_seq_length",
    "epochs",
    "batch_size",
    "lr",
    "warmup_ratio",
    "gradient_accumulation",
    "optimizer",
    "scheduler",
    "weight_decay",
    "max_grad_norm",
    "seed",
    "logging_steps",
    "auto_find_batch_size",
    "mixed_precision",
    "save_total_limit",
    "eval_strategy",
    "early_stopping_patience",
    "early_stopping_threshold",
}


@pytest.fixture(scope="module")
def files(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("ftdata")
    return [build_dataset_files(corpora, name, root / name.replace("/", "_")) for name in DATASETS]


@pytest.fixture(scope="module")
def tiny(corpora, tmp_path_factory):
    return build_tiny_model(corpora, tmp_path_factory.mktemp("tiny"))


def run(tiny, files, out, datasets=DATASETS, **entry):
    """finetune() as the rule calls it: settings from a schema-validated config."""
    entry.setdefault("batch_size", 8)
    entry.setdefault("max_steps", 4)
    config = finetune_config(datasets, str(tiny), **entry)
    chosen = [f for f in files if f.name in datasets]
    return finetune("ft", out, chosen, **Plan.of(config, REPO).finetune_args("ft"), threads=2)


@pytest.fixture(scope="module")
def st_run(tiny, files, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "ft"
    facts = run(
        tiny,
        files,
        out,
        hard_negatives={"enabled": True, "num": 2},
        matryoshka_dims=[64, 32],
        dev_fraction=0.2,
    )
    return out, facts


def test_model_dir_loads_offline_and_encodes(st_run):
    from sentence_transformers import SentenceTransformer

    out, _ = st_run
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    model = SentenceTransformer(str(out), device="cpu")
    vecs = model.encode(["high-risk AI systems", "证券交易"])
    assert vecs.shape == (2, 64)
    assert model.max_seq_length == 128
    assert not list(out.parent.glob(".ft.*")), "temp dirs left beside the model"
    assert not (out / ".checkpoints").exists()
    assert all(f.stat().st_mode & stat.S_IROTH for f in out.rglob("*") if f.is_file())


def test_card_and_training_json_hold_the_facts(st_run, tiny):
    out, facts = st_run
    saved = io.read_json(out / "training.json")
    assert saved["format"] == "embedlab.training/1" and saved["status"] == "trained"
    assert saved["base"]["source"] == str(tiny)
    assert set(saved["datasets"]) == set(DATASETS)
    assert saved["pairs"] == sum(s["pairs"] for s in saved["datasets"].values()) > 8
    assert saved["loss"] == {
        "name": "MultipleNegativesRankingLoss",
        "wrapper": "MatryoshkaLoss",
        "matryoshka_dims": [64, 32],
    }
    hp = saved["hyperparameters"]
    assert [hp[k] for k in ("batch_size", "max_steps", "steps", "seed", "precision")] == [8, 4, 4, 42, "fp32"]
    assert saved["training_time_s"] > 0 and saved["total_time_s"] >= saved["training_time_s"]
    assert saved["hardware"]["device"] == "cpu"
    assert saved["selection"]["metric"] == "dev cosine_mrr@10" and saved["selection"]["best_step"] in range(
        1, 5
    )
    assert [p["step"] for p in saved["dev_curve"]] == [1, 2, 3, 4]  # 4 evaluations per run by default
    best = max(saved["dev_curve"], key=lambda p: p["mrr@10"])  # the first of equal scores is kept
    assert saved["selection"]["best_score"] == best["mrr@10"]
    assert saved["loss_curve"] and all("loss" in p and "step" in p for p in saved["loss_curve"])
    assert "val" not in saved  # measured once, by the evaluation (rule evaluate_retrieval), not here
    card = (out / "README.md").read_text(encoding="utf-8")
    for text in (
        str(tiny),
        *DATASETS,
        "training pairs",
        "MatryoshkaLoss(MultipleNegativesRankingLoss",
        "learning_rate",
        "training time",
        "Hardware: device cpu",
        "measured once, by the evaluation",
    ):
        assert text in card, text
    assert facts == saved


def test_dev_slice_is_whole_groups_disjoint_from_val_and_training(files, st_run):
    _, facts = st_run
    data = load_training_data(files, 0.2, 4, 42)
    assert data.dev_groups == facts["selection"]["dev_groups"]
    dev_chunks = {c for ids in data.dev_relevant.values() for c in ids}
    assert dev_chunks and dev_chunks <= data.dev_chunk_ids
    assert not data.dev_chunk_ids & {p.chunk_id for p in data.pairs}
    assert not data.dev_chunk_ids & set(data.train_chunks)
    for f in files:
        val = io.read_json(f.val)
        split = io.read_json(Path(f.val).parent / "split.json")
        val_chunks = {c for ids in val["relevant_docs"].values() for c in ids}
        assert not dev_chunks & val_chunks
        assert not {q.split("|", 1)[1] for q in data.dev_queries if q.startswith(f.name)} & set(
            val["queries"]
        )
        assert not set(data.dev_groups[f.name]) & set(split["val_groups"])
        chunks = io.read_json(f.chunks)["chunks"]
        for c in chunks:  # groups are whole: a dev group has no chunk outside the dev slice
            if c["group"] in data.dev_groups[f.name]:
                assert c["id"] in data.dev_chunk_ids
        train = io.read_json(f.train)
        dev_q = {q.split("|", 1)[1] for q in data.dev_queries if q.startswith(f.name)}
        assert dev_q <= set(train["queries"])  # carved out of train.json
        for q in dev_q:
            assert {c.split(POSITIVE_SEP)[0] for c in train["relevant_docs"][q]} <= data.dev_chunk_ids


def test_dev_index_keeps_every_dev_chunk_and_a_seeded_sample_of_training_chunks(files, st_run):
    """Checkpoint selection ranks the dev chunks among a fixed sample of distractors (dev_corpus_size):
    every dev query keeps its positives, the sample is the seed's, and no size means the whole train side."""
    _, facts = st_run
    data = load_training_data(files, 0.2, 4, 42)
    n_dev, n_all = len(data.dev_chunk_ids), len(data.dev_corpus)
    size = n_dev + (n_all - n_dev) // 3
    index = data.dev_index(size, 42)
    assert len(index) == size and data.dev_chunk_ids <= set(index) <= set(data.dev_corpus)
    assert all(index[c] == data.dev_corpus[c] for c in index)
    assert index == data.dev_index(size, 42) and set(index) != set(data.dev_index(size, 7))
    assert data.dev_index(None, 42) == data.dev_corpus == data.dev_index(n_all + 1, 42)
    assert set(data.dev_index(1, 42)) == data.dev_chunk_ids  # never fewer than the dev chunks
    # the fixture's run ranked the schema default's sample (256) or, on a smaller train side, all of it
    assert facts["selection"]["dev_corpus"] == min(256, n_all)
    assert facts["hyperparameters"]["dev_corpus_size"] == 256


def test_hard_negatives_come_from_training_chunks_only(files, tiny):
    from sentence_transformers import SentenceTransformer

    data = load_training_data(files, 0.2, 4, 42)
    model = SentenceTransformer(str(tiny), device="cpu")
    hn = finetune_config(DATASETS, str(tiny))["finetune"]["ft"]["hard_negatives"]
    hn = {**hn, "num": 3, "relative_margin": 0.0}
    counts = mine_negatives(data.pairs, data.train_chunks, data.dev_corpus, model, hn, 42)
    assert counts["mined"] > 0
    val_chunks = {c for v in data.val.values() for ids in v["relevant_docs"].values() for c in ids}
    val_only = {c for v in data.val.values() for c in v["corpus"]} - set(data.dev_corpus)
    for p in data.pairs:
        assert len(p.negative_ids) == 3 == len(set(p.negative_ids))
        assert set(p.negative_ids) <= set(data.train_chunks)
        assert not set(p.negative_ids) & (val_chunks | val_only | data.dev_chunk_ids | p.relevant_chunks)
        assert p.negatives == [data.train_chunks[c] for c in p.negative_ids]
        assert not [n for n in p.negatives if squash(p.query) in squash(n)]  # none holds the query


def test_same_seed_same_weights_and_metrics(tiny, files, tmp_path):
    from safetensors.torch import load_file

    kw = {"datasets": ["securities_law/zh"], "max_steps": 3, "warmup": 0, "learning_rate": 1e-3}
    a = run(tiny, files, tmp_path / "a", **kw)
    b = run(tiny, files, tmp_path / "b", **kw)
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    assert a["loss_curve"] == b["loss_curve"] and a["dev_curve"] == b["dev_curve"]
    base = load_file(tiny / "model.safetensors")
    assert any(not (base[k] == wa[k]).all() for k in base), "training changed nothing"


def test_llamaindex_backend(tiny, files, tmp_path):
    from sentence_transformers import SentenceTransformer

    facts = run(tiny, files, tmp_path / "li", backend="llamaindex", max_steps=3)
    assert facts["backend"] == "llamaindex" and facts["status"] == "trained"
    assert facts["pairs"] > 0 and facts["loss_curve"] and facts["selection"]["dev_queries"] > 0
    assert set(facts["datasets"]) == set(DATASETS)
    assert SentenceTransformer(str(tmp_path / "li"), device="cpu").encode(["x"]).shape == (1, 64)
    assert (tmp_path / "li" / "README.md").read_text(encoding="utf-8").count("llamaindex") >= 1
    assert not (tmp_path / "li" / ".checkpoints").exists() and not list(tmp_path.glob(".li.*"))


def _read_rows(path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("task", "fmt"), [("pair", "csv"), ("triplet", "jsonl")])
def test_autotrain_export_matches_autotrain_format(tiny, files, tmp_path, task, fmt, caplog):
    out = tmp_path / "at"
    with caplog.at_level(logging.WARNING):
        facts = run(
            tiny,
            files,
            out,
            backend="autotrain",
            autotrain={"task": task, "format": fmt},
            hard_negatives={"num": 2},
        )
    assert facts["status"] == "exported"
    cfg = yaml.safe_load((out / "autotrain" / "config.yml").read_text(encoding="utf-8"))
    assert cfg["task"] == f"sentence-transformers:{task}" and cfg["backend"] == "local"
    assert Path(cfg["base_model"]) == tiny.resolve()
    assert cfg["project_name"] == "output" and cfg["log"] == "none"
    assert cfg["data"]["path"] == "data" and cfg["data"]["train_split"] == "train"
    assert cfg["data"]["valid_split"] == "valid"
    columns = ["anchor", "positive"] + (["negative"] if task == "triplet" else [])
    mapping = {"sentence1_column": "anchor", "sentence2_column": "positive"}
    if task == "triplet":
        mapping["sentence3_column"] = "negative"
    assert cfg["data"]["column_mapping"] == mapping
    assert set(cfg["params"]) <= AUTOTRAIN_PARAMS
    assert cfg["params"]["epochs"] == 1 and cfg["params"]["batch_size"] == 8 and cfg["params"]["seed"] == 42
    train = _read_rows(out / "autotrain" / "data" / f"train.{fmt}")
    valid = _read_rows(out / "autotrain" / "data" / f"valid.{fmt}")
    assert all(list(r) == columns for r in train + valid)
    assert len(train) == facts["pairs"] * (2 if task == "triplet" else 1)
    assert facts["autotrain"]["files"][f"data/train.{fmt}"] == len(train)
    data = load_training_data(files, 0.1, 4, 42)
    assert {r["anchor"] for r in valid} == set(data.dev_queries.values())  # valid split = dev slice
    assert not {r["anchor"] for r in valid} & {r["anchor"] for r in train}
    val_texts = {t for f in files for q, t in io.read_json(f.val)["queries"].items()}
    assert not val_texts & {r["anchor"] for r in train + valid}
    if task == "triplet":
        assert all(r["negative"] in data.train_chunks.values() for r in train + valid)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Not trained yet" in card and "autotrain --config config.yml" in card
    assert "not trained (autotrain.run is false)" in caplog.text


def test_autotrain_run_without_the_command_is_an_error(tiny, files, tmp_path):
    with pytest.raises(EmbedlabError) as err:
        run(
            tiny,
            files,
            tmp_path / "at",
            datasets=["securities_law/zh"],
            backend="autotrain",
            autotrain={"run": True, "command": "autotrain-not-installed-here"},
        )
    msg = str(err.value)
    assert "'autotrain-not-installed-here' is not on PATH" in msg and "\n" not in msg
    assert "conda env create -f envs/autotrain.yaml" in msg and "autotrain.run: false" in msg
    assert not (tmp_path / "at").exists()


def _fake_autotrain(tmp_path, body):
    script = tmp_path / "bin" / "fake-autotrain"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def test_autotrain_exit_0_without_a_model_is_an_error(tiny, files, tmp_path):
    fake = _fake_autotrain(tmp_path, 'echo "INFO | Job ID: 4242"; exit 0')
    with pytest.raises(EmbedlabError, match="autotrain exited 0 but left no model"):
        run(
            tiny,
            files,
            tmp_path / "at",
            datasets=["securities_law/zh"],
            backend="autotrain",
            autotrain={"run": True, "command": fake},
        )
    assert not (tmp_path / "at").exists() and not list(tmp_path.glob(".at.*"))


def test_autotrain_run_is_verified_and_installed(tiny, files, tmp_path):
    from sentence_transformers import SentenceTransformer

    fake = _fake_autotrain(tmp_path, f'test "$1" = --config && test -f "$2" && cp -r "{tiny}" output')
    facts = run(
        tiny,
        files,
        tmp_path / "at",
        datasets=["securities_law/zh"],
        backend="autotrain",
        autotrain={"run": True, "command": fake},
    )
    assert facts["status"] == "trained" and facts["loss_curve"] is not None
    assert SentenceTransformer(str(tmp_path / "at"), device="cpu").encode(["x"]).shape == (1, 64)
    assert (tmp_path / "at" / "autotrain" / "autotrain.log").is_file()
    assert not (tmp_path / "at" / "autotrain" / "output").exists()


# ------------------------------------------------------------------------------------------ bad input


def test_too_few_pairs_for_one_batch(tiny, files, tmp_path):
    stale = tmp_path / ".ft.partial-killed"  # what a killed run leaves: removed by the next run
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    with pytest.raises(EmbedlabError, match=r"fewer than one batch of 512: lower finetune\.ft\.batch_size"):
        run(tiny, files, tmp_path / "ft", batch_size=512)
    assert not (tmp_path / "ft").exists() and not list(tmp_path.glob(".ft.*"))


def test_base_model_that_needs_the_network_offline(files, tmp_path):
    config = finetune_config(
        ["securities_law/zh"], "no-such-org/no-such-model-xyz", batch_size=8, max_steps=2
    )
    args = Plan.of(config, REPO).finetune_args("ft")
    with pytest.raises(EmbedlabError, match=r"cannot load 'no-such-org/no-such-model-xyz'.*offline") as err:
        finetune("ft", tmp_path / "ft", files[1:], **args)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "ft").exists()


def test_directory_that_is_not_a_model(files, tmp_path):
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "notes.txt").write_text("hello", encoding="utf-8")
    config = finetune_config(["securities_law/zh"], str(tmp_path / "notamodel"), batch_size=8, max_steps=2)
    args = Plan.of(config, REPO).finetune_args("ft")
    with pytest.raises(EmbedlabError, match="is not a sentence-transformers model directory"):
        finetune("ft", tmp_path / "ft", files[1:], **args)


def test_out_of_memory_names_the_knobs_and_interrupt_leaves_nothing(tiny, files, tmp_path, monkeypatch):
    import torch
    from sentence_transformers import SentenceTransformerTrainer

    def oom(self, *a, **k):
        (Path(self.args.output_dir) / "checkpoint-1").mkdir(parents=True)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(SentenceTransformerTrainer, "train", oom)
    with pytest.raises(EmbedlabError, match=r"out of .*memory.*batch_size 8.*cached_mnrl.*max_seq_length"):
        run(tiny, files, tmp_path / "ft", datasets=["securities_law/zh"])
    assert not (tmp_path / "ft").exists() and not list(tmp_path.glob(".ft.*"))

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    (tmp_path / "ft").mkdir()  # an older, finished model stays untouched when a rerun is interrupted
    (tmp_path / "ft" / "training.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(SentenceTransformerTrainer, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tiny, files, tmp_path / "ft", datasets=["securities_law/zh"])
    assert (tmp_path / "ft" / "training.json").read_text(encoding="utf-8") == "{}"
    assert not list(tmp_path.glob(".ft.*"))


def test_config_errors_are_one_line(tiny):
    config = finetune_config(["securities_law/zh"], str(tiny))
    Plan.of(config, REPO)
    bad = {**config, "finetune": {"ft": {**config["finetune"]["ft"], "datasets": ["securities_law/fr"]}}}
    with pytest.raises(EmbedlabError, match=r"finetune.ft.datasets: 'securities_law/fr' is not a configured"):
        Plan.of(bad, REPO)
    bad = {**config, "finetune": {"ft": {**config["finetune"]["ft"], "base": "nope"}}}
    with pytest.raises(EmbedlabError, match=r"finetune\.ft\.base: unknown model 'nope'"):
        Plan.of(bad, REPO)
    cyc = {"a": {**config["finetune"]["ft"], "base": "b"}, "b": {**config["finetune"]["ft"], "base": "a"}}
    with pytest.raises(EmbedlabError, match="cycle"):
        Plan.of({**config, "finetune": cyc}, REPO)
    lexical = {**config, "models": {"base": {"kind": "bm25"}}}
    with pytest.raises(EmbedlabError, match="kind 'bm25'"):
        Plan.of(lexical, REPO)
    with pytest.raises(EmbedlabError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", "cpu")
    assert resolve_precision("auto", "cpu") == "fp32"
