"""Training levers on real text: batches without in-batch false negatives (real heading + ICT pairs of both
test corpora), the GIST, cached and distillation losses and Matryoshka training the packaged MiniLM for two
steps into a folder that loads offline, and the plan handing the guide and teacher to the training code."""

from __future__ import annotations

import pytest
from ft_fixtures import MINILM, REPO, SLICES, build_dataset_files, finetune_config

from embedlab.data.training_data import load_training_data
from embedlab.errors import EmbedlabError
from embedlab.models.spec import ModelSpec
from embedlab.train.batches import NoFalseNegatives, plan_batches, row_keys
from embedlab.train.distributed import TrainingJob
from embedlab.train.finetune import finetune
from embedlab.workflow import layout
from embedlab.workflow.plan import Plan

DATASETS = list(SLICES)


@pytest.fixture(scope="module")
def files(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("levers")
    return [build_dataset_files(corpora, name, root / name.replace("/", "_")) for name in DATASETS]


@pytest.fixture(scope="module")
def pairs(files):
    return load_training_data(files, 0.0, 4, 42).pairs


def _conflict(a, b) -> bool:
    """The pairs may not share a batch: a chunk of one is relevant to the other's query, or a shared text."""
    return (
        a.chunk_id in b.relevant_chunks
        or b.chunk_id in a.relevant_chunks
        or a.positive == b.positive
        or a.query == b.query
    )


def _conflicts(batch, pairs) -> int:
    return sum(_conflict(pairs[i], pairs[j]) for n, i in enumerate(batch) for j in batch[n + 1 :])


def _dataset(pairs):
    from datasets import Dataset

    return Dataset.from_dict({"anchor": [p.query for p in pairs], "positive": [p.positive for p in pairs]})


def test_no_batch_holds_a_chunk_relevant_to_another_pairs_query(pairs):
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    # the real data has the problem: heading queries count the chunks of ICT pairs as relevant
    assert sum(_conflict(a, b) for n, a in enumerate(pairs) for b in pairs[n + 1 :]) > 20
    dataset = _dataset(pairs)
    plain = NoDuplicatesBatchSampler(dataset, batch_size=8, drop_last=False, seed=42)
    assert sum(_conflicts(b, pairs) for b in plain) > 0  # what the no-duplicates sampler lets through

    plan = NoFalseNegatives(row_keys(pairs))
    sampler = plan(dataset, batch_size=8, drop_last=False, seed=42)
    orders = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(pairs)))  # each pair once per epoch
        assert all(_conflicts(b, pairs) == 0 for b in batches)
        sizes = [len(b) for b in batches]
        short = plan.epochs[epoch]["short"]
        assert sizes[: len(sizes) - short] == [8] * (len(sizes) - short)  # short batches last
        assert all(s < 8 for s in sizes[len(sizes) - short :])
        assert plan.epochs[epoch]["moved"] > 0 and plan.epochs[epoch]["dropped"] == 0
        orders.append(batches)
    assert orders[0] != orders[1]  # each epoch reshuffles (seed + epoch)
    assert list(plan(dataset, batch_size=8, drop_last=False, seed=42)) == orders[0]  # and repeats


def test_data_parallel_rounds_are_free_of_false_negatives_as_a_whole(pairs):
    rows = row_keys(pairs)
    single, counts = plan_batches(rows, 16, seed=7)
    ddp, ddp_counts = plan_batches(rows, 8, seed=7, drop_last=True, ranks=2)
    rounds = [ddp[i] + ddp[i + 1] for i in range(0, len(ddp), 2)]
    assert all(len(b) == 8 for b in ddp) and len(ddp) % 2 == 0
    assert all(_conflicts(r, pairs) == 0 for r in rounds)
    assert rounds == single[: len(rounds)]  # two ranks at 8 train on one process's batches of 16
    assert ddp_counts["dropped"] == sum(len(b) for b in single[len(rounds) :]) == len(pairs) - 8 * len(ddp)
    assert counts["dropped"] == 0


def _config(datasets, **entry):
    config = finetune_config(datasets, MINILM, **entry)
    config["models"]["base"]["max_seq_length"] = 128
    config["models"]["teacher"] = {"source": MINILM, "max_seq_length": 128}
    return config


LEVERS = {
    "gist": ({"loss": "gist"}, "GISTEmbedLoss"),
    "cached_gist": ({"loss": "cached_gist", "mini_batch_size": 2}, "CachedGISTEmbedLoss"),
    "cached_mnrl": ({"loss": "cached_mnrl", "mini_batch_size": 2}, "CachedMultipleNegativesRankingLoss"),
    "margin_mse": (
        {"loss": "margin_mse", "teacher": "teacher", "hard_negatives": {"enabled": True, "num": 1}},
        "MarginMSELoss",
    ),
    "distill_kl": (
        {"loss": "distill_kl", "teacher": "teacher", "hard_negatives": {"enabled": True, "num": 2}},
        "DistillKLDivLoss",
    ),
    "matryoshka": ({"matryoshka_dims": [384, 128]}, "MultipleNegativesRankingLoss"),
}


@pytest.mark.parametrize("lever", LEVERS)
def test_each_loss_trains_minilm_into_a_folder_that_loads_offline(lever, files, tmp_path):
    from sentence_transformers import SentenceTransformer

    entry, loss_class = LEVERS[lever]
    common = {"batch_size": 4, "max_steps": 2, "max_seq_length": 64, "dev_fraction": 0.0, "warmup": 0}
    plan = Plan.of(_config(["eu_ai_act/en"], **common, **entry), REPO)
    out = tmp_path / "ft"
    facts = finetune("ft", out, files[:1], **plan.finetune_args("ft"), threads=2)
    assert facts["loss"]["name"] == loss_class
    assert facts["hyperparameters"]["steps"] == 2
    assert all(p["loss"] == p["loss"] for p in facts["loss_curve"])  # no NaN
    if "teacher" in entry:
        assert facts["loss"]["teacher"] == {"name": "teacher", "source": MINILM}
    if "gist" in lever:
        assert facts["loss"]["guide"] == {"name": "base", "source": MINILM}  # guide null: the base
    if lever == "matryoshka":
        assert facts["loss"]["wrapper"] == "MatryoshkaLoss"
    assert facts["batch_sampler"] == "no_false_negatives"
    assert facts["batch_plan"]["epochs"][0]["batches"] >= 2
    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["high-risk AI systems"]).shape == (1, 384)


def test_plan_hands_the_guide_and_teacher_specs_and_folders(tmp_path):
    config = _config(DATASETS)
    ft = config["finetune"]["ft"]
    config["finetune"] = {
        "first": ft,
        "guided": {**ft, "loss": "gist", "guide": "first"},
        "self-guided": {**ft, "base": "first", "loss": "cached_gist"},
        "student": {
            **ft,
            "loss": "margin_mse",
            "teacher": "teacher",
            "hard_negatives": {"enabled": True, "num": 1},
        },
        "plain": {**ft, "batches": "no_duplicates"},
    }
    plan = Plan.of(config, REPO)
    guided = plan.finetune_args("guided")
    assert guided["guide"] == plan.registry.spec("first")
    assert guided["guide"].source == layout.model_dir("first") and "teacher" not in guided
    assert plan.finetune_inputs("guided")["guide_model"] == layout.model_dir("first")
    assert plan.finetune_args("self-guided")["guide"].name == "first"  # guide null: the base
    student = plan.finetune_args("student")
    assert student["teacher"] == plan.registry.spec("teacher") and "guide" not in student
    assert "teacher_model" not in plan.finetune_inputs("student")  # a models entry: no folder to wait for
    assert not {"guide", "teacher"} & set(plan.finetune_args("first"))
    assert plan.finetune_args("plain")["settings"]["batches"] == "no_duplicates"
    assert plan.finetune_args("first")["settings"]["batches"] == "no_false_negatives"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"guide": "teacher"}, r"finetune\.ft: guide is set but loss mnrl uses no guide: set loss: gist"),
        ({"teacher": "teacher"}, r"finetune\.ft: teacher is set but loss mnrl has none"),
        ({"loss": "margin_mse"}, r"loss margin_mse distills a teacher: set teacher"),
        ({"loss": "distill_kl", "teacher": "teacher"}, r"set hard_negatives\.enabled: true"),
        ({"loss": "gist", "backend": "llamaindex"}, r"loss gist needs backend sentence-transformers"),
        ({"loss": "gist", "guide": "nope"}, r"finetune\.ft\.guide: unknown model 'nope'"),
        ({"loss": "gist", "guide": "bm25"}, r"finetune\.ft\.guide: model 'bm25' is of kind 'bm25'"),
        ({"loss": "gist", "guide": "ft"}, r"finetune\.ft\.guide: fine-tune 'ft' needs ft first \(a cycle\)"),
    ],
)
def test_loss_config_errors_are_one_line(entry, message):
    config = _config(DATASETS, **entry)
    config["models"]["bm25"] = {"kind": "bm25"}
    with pytest.raises(EmbedlabError, match=message) as err:
        Plan.of(config, REPO)
    assert "\n" not in str(err.value)


def test_the_job_file_carries_the_guide_and_teacher(tmp_path):
    guide, teacher = ModelSpec("g", source="pkg:x"), ModelSpec("t", source="/m", query_prefix="q: ")
    job = TrainingJob("ft", tmp_path / "ft", tmp_path / "w", [], {}, ModelSpec("b"), 1, guide=guide)
    assert TrainingJob.from_record(job.record()) == job and job.helpers == {"guide": guide}
    job = TrainingJob("ft", tmp_path / "ft", tmp_path / "w", [], {}, ModelSpec("b"), 1, teacher=teacher)
    assert TrainingJob.from_record(job.record()) == job and job.helpers == {"teacher": teacher}


def test_matryoshka_gist_runs_its_guide_once_per_column_with_the_same_loss(pairs):
    """MatryoshkaLoss calls GIST once per dimension on one batch; the guide's outputs are remembered for
    that batch (train.common.GuideMemo), so the guide runs once per column and the loss is unchanged."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses

    from embedlab.models.sources import resolve_model_source
    from embedlab.train.common import build_loss

    path = resolve_model_source(MINILM)

    def frozen():
        return SentenceTransformer(path, device="cpu").eval().requires_grad_(False)

    model = SentenceTransformer(path, device="cpu").eval()  # eval: no dropout, so runs can be compared
    model.max_seq_length = 128
    dims = [384, 128, 64]
    guide, plain_guide = frozen(), frozen()
    calls = {"memo": 0, "plain": 0}
    for name, g in (("memo", guide), ("plain", plain_guide)):
        forward = g.forward

        def counted(features, *a, _f=forward, _n=name, **k):
            calls[_n] += 1
            return _f(features, *a, **k)

        g.forward = counted
    memo = build_loss(model, {"loss": "gist", "mini_batch_size": 8, "matryoshka_dims": dims}, guide=guide)
    plain = losses.MatryoshkaLoss(model, losses.GISTEmbedLoss(model, plain_guide), matryoshka_dims=dims)
    batches = [pairs[:8], pairs[8:16]]
    for batch in batches:
        features = [model.preprocess([p.query for p in batch]), model.preprocess([p.positive for p in batch])]
        with torch.no_grad():
            a = memo([dict(f) for f in features], None)
            b = plain([dict(f) for f in features], None)
        assert torch.equal(a, b)
    assert calls == {"memo": 2 * len(batches), "plain": 2 * len(batches) * len(dims)}
