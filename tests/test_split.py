import pytest
import yaml
from prepared_corpora import default_generators

from embedlab import io
from embedlab.data.prepare import prepare_dataset
from embedlab.data.question_files import Label, Question
from embedlab.data.questions import prepare_questions
from embedlab.data.split import POSITIVE_SEP, REAL_PREFIX, split_dataset
from embedlab.errors import EmbedlabError

from conftest import REPO


@pytest.fixture(
    scope="module",
    params=[
        ("eu_ai_act", "en", "eu_ai_act/EN.md"),
        ("securities_law", "zh", "securities_law/securities_law_2019.md"),
    ],
)
def split_run(request, corpora, tmp_path_factory):
    corpus, lang, rel = request.param
    d = tmp_path_factory.mktemp(corpus)
    prepare_dataset(corpora / rel, d, corpus, lang, val_fraction=0.2, seed=42)
    report = io.read_json(d / "split.json")
    return d, report


def test_no_chunk_on_both_sides(split_run):
    d, report = split_run
    train, val = io.read_json(d / "train.json"), io.read_json(d / "val.json")
    train_pos = {cid.split(POSITIVE_SEP)[0] for ids in train["relevant_docs"].values() for cid in ids}
    val_pos = {cid for ids in val["relevant_docs"].values() for cid in ids}
    assert train_pos and val_pos and not train_pos & val_pos
    assert not {c.split(POSITIVE_SEP)[0] for c in train["corpus"]} & val_pos
    assert set(val["queries"]).isdisjoint(train["queries"])
    assert report["queries"]["dropped_straddling"] == 0


def test_val_corpus_is_every_chunk_and_queries_point_at_val_chunks(split_run):
    d, report = split_run
    chunks = io.read_json(d / "chunks.json")["chunks"]
    val = io.read_json(d / "val.json")
    assert set(val["corpus"]) == {c["id"] for c in chunks}
    side = report["side"]
    assert all(side[cid] == "val" for ids in val["relevant_docs"].values() for cid in ids)
    share = report["chunks"]["val"] / len(chunks)
    assert 0.1 < share < 0.45


def test_groups_stay_whole_and_split_is_deterministic(split_run, tmp_path):
    d, report = split_run
    chunks = io.read_json(d / "chunks.json")["chunks"]
    by_group = {}
    for c in chunks:
        by_group.setdefault(c["group"], set()).add(report["side"][c["id"]])
    assert all(len(sides) == 1 for sides in by_group.values())
    again = split_dataset(
        d / "chunks.json",
        d / "dataset.json",
        d / "provenance.json",
        tmp_path / "t.json",
        tmp_path / "v.json",
        tmp_path / "s.json",
        0.2,
        42,
    )
    assert (tmp_path / "t.json").read_bytes() == (d / "train.json").read_bytes()
    assert again["side"] == report["side"]


def test_train_ict_positive_is_the_chunk_without_the_sentence(split_run):
    d, _ = split_run
    train = io.read_json(d / "train.json")
    ict = [q for q in train["queries"] if q.startswith("ict.")]
    assert ict
    for qid in ict[:50]:
        (pid,) = train["relevant_docs"][qid]
        assert pid.endswith(POSITIVE_SEP + qid)
        assert train["queries"][qid] not in " ".join(train["corpus"][pid].split())


def test_more_val_queries_per_chunk_never_change_training(corpora, tmp_path):
    src = corpora / "securities_law" / "securities_law_2019.md"

    def run(name, **ict):
        d = prepare_dataset(src, tmp_path / name, "securities_law", "zh", settings={"ict": ict})
        files = ("train.json", "val.json", "split.json", "provenance.json")
        return (d / "train.json").read_bytes(), *(io.read_json(d / f) for f in files)

    train_a, _, val_a, report_a, _ = run("a")
    train_b, tb, val_b, report_b, prov = run("b", val_queries_per_chunk=3)
    assert train_b == train_a  # the extra draws are val chunks' only: training sees the same queries
    assert set(val_a["queries"]) < set(val_b["queries"])
    assert len(val_b["queries"]) > 2 * sum(q.startswith("ict.") for q in val_a["queries"])
    assert report_a["draws"] == {"ict": {"train": 1, "val": 1}} and report_a["queries"]["unused_draws"] == {
        "train": 0,
        "val": 0,
    }
    assert report_b["draws"] == {"ict": {"train": 1, "val": 3}}
    assert report_b["queries"]["unused_draws"]["train"] > 0 == report_b["queries"]["unused_draws"]["val"]
    assert report_b["queries"]["val"] == len(val_b["queries"])
    assert {prov["queries"][q]["draw"] for q in tb["queries"] if q.startswith("ict.")} == {0}
    assert {prov["queries"][q]["draw"] for q in val_b["queries"] if q.startswith("ict.")} == {0, 1, 2}

    *_, val_c, report_c, prov_c = run("c", queries_per_chunk=2, val_queries_per_chunk=1)  # fewer in val
    assert {prov_c["queries"][q]["draw"] for q in val_c["queries"] if q.startswith("ict.")} == {0}
    assert report_c["queries"]["unused_draws"]["val"] > 0


@pytest.mark.parametrize(
    ("rel", "corpus", "lang"),
    [
        ("eu_ai_act/EN.html", "eu_ai_act", "en"),
        ("securities_law/securities_law_2019.pdf", "securities_law", "zh"),
    ],
)
def test_the_default_config_gives_each_default_dataset_150_validation_queries(tmp_path, rel, corpus, lang):
    """Issue 12: enough queries to rank models, on the documents the default run ships with."""
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    use, settings = default_generators()
    out = prepare_dataset(
        REPO / config["corpus_root"] / rel, tmp_path, corpus, lang, generators=use, settings=settings,
        val_fraction=config["split"]["val_fraction"],
    )  # fmt: skip
    assert len(io.read_json(out / "val.json")["queries"]) >= 150
    assert io.read_json(out / "split.json")["labels"]["unlabeled_verbatim"] == 0


def test_strict_real_questions_keep_their_groups_out_of_training(split_run, tmp_path):
    """questions.training: strict: every chunk group a real question points to is on the val side, so no
    training query comes from it; the rest of the split fills val as before."""
    d, report = split_run
    chunks = io.read_json(d / "chunks.json")["chunks"]
    train_chunks = [c for c in chunks if report["side"][c["id"]] == "train"]
    picked = train_chunks[:: max(1, len(train_chunks) // 5)][:5]  # five chunks now on the train side
    real = tmp_path / "real.json"
    io.write_json(real, {"queries": {f"real.{i}": "q" for i in range(5)}, "corpus": {},
                         "relevant_docs": {f"real.{i}": [c["id"] for c in picked[i:i + 1]] for i in range(5)},
                         "mode": "text"})  # fmt: skip
    out = [tmp_path / n for n in ("t.json", "v.json", "s.json")]
    strict = split_dataset(
        d / "chunks.json", d / "dataset.json", d / "provenance.json", *out, 0.2, 42, real_questions=real
    )
    held = {c["group"] for c in picked}
    assert strict["held_out_groups"] == sorted(held)
    assert all(strict["side"][c["id"]] == "val" for c in chunks if c["group"] in held)
    train = io.read_json(out[0])
    train_pos = {cid.split(POSITIVE_SEP)[0] for ids in train["relevant_docs"].values() for cid in ids}
    assert train_pos and not train_pos & {c["id"] for c in chunks if c["group"] in held}
    assert "held_out_groups" not in report


def test_split_real_questions_train_on_their_train_side_and_evaluate_the_rest(split_run, tmp_path):
    """questions.training: split: a question quoting a chunk goes to the side its chunk lies on; the train
    side's reach train.json (ids real:<id>), the val side's are real.json; a real.train.json written for
    another split is refused."""
    d, report = split_run
    chunks = io.read_json(d / "chunks.json")["chunks"]
    picked = chunks[:: max(1, len(chunks) // 40)]
    questions = [
        Question(f"real.{i}", c["text"][:80], (Label("quote", c["text"][:80]),), (i + 1,))
        for i, c in enumerate(picked)
    ]
    real, mapping, real_train = (
        tmp_path / "real.json",
        tmp_path / "real.mapping.json",
        tmp_path / "real.train.json",
    )
    doc = prepare_questions(
        {"file": "asked.csv", "training": "split"}, tmp_path / "asked.csv", d / "chunks.json",
        real, mapping, real_train, val_fraction=0.2, seed=42, questions=questions,
    )  # fmt: skip
    placement = doc["stats"]["placement"]
    evaluated, trained = io.read_json(real)["relevant_docs"], io.read_json(real_train)["relevant_docs"]
    assert placement["evaluated"] == len(evaluated) > 0 and placement["trained_on"] == len(trained) > 0
    assert len(evaluated) + len(trained) + placement["dropped_straddling"] == doc["stats"]["mapped"]
    assert all(report["side"][cid] == "val" for ids in evaluated.values() for cid in ids)
    assert all(report["side"][cid] == "train" for ids in trained.values() for cid in ids)
    out = [tmp_path / n for n in ("t.json", "v.json", "s.json")]
    split = split_dataset(
        d / "chunks.json", d / "dataset.json", d / "provenance.json", *out, 0.2, 42, real_train=real_train
    )
    train = io.read_json(out[0])
    assert split["queries"]["real_train"] == len(trained)
    assert {f"{REAL_PREFIX}{q}": ids for q, ids in trained.items()}.items() <= train["relevant_docs"].items()
    assert split["side"] == report["side"] and io.read_json(out[1]) == io.read_json(d / "val.json")
    with pytest.raises(EmbedlabError, match=r"points at val chunks.*rerun map_questions"):
        split_dataset(
            d / "chunks.json", d / "dataset.json", d / "provenance.json", *out, 0.5, 7, real_train=real_train
        )
