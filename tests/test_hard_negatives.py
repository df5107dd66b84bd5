"""Hard-negative mining with the packaged MiniLM on real slices of the test corpora: the window and margins
pick exactly what a ranking computed here says, another miner is the one used, a cross-encoder oracle drops
the candidates it scores high, no negative is ever a dev, val or relevant chunk; and the plan resolves the
miner and the oracle (specs, rule inputs, one-line config errors)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from ft_fixtures import MINILM, REPO, SLICES, build_dataset_files, build_tiny_model, finetune_config

from embedlab.data.training_data import Pair, TrainingData, load_training_data
from embedlab.errors import EmbedlabError
from embedlab.models.rerank import load_cross_encoder
from embedlab.models.spec import ModelSpec, load_sentence_transformer
from embedlab.text import compact
from embedlab.train.negatives import Oracle, mine_job_negatives, mine_negatives
from embedlab.workflow import layout
from embedlab.workflow.plan import Plan

DATASETS = list(SLICES)
BASE = ModelSpec("base", source=MINILM, max_seq_length=128)


@pytest.fixture(scope="module")
def files(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("hn_data")
    return [build_dataset_files(corpora, name, root / name.replace("/", "_")) for name in DATASETS]


@pytest.fixture
def data(files) -> TrainingData:
    """Fresh pairs for each test (mining fills them in place)."""
    return load_training_data(files, 0.2, 4, 42)


@pytest.fixture(scope="module")
def defaults() -> dict:
    """The schema's hard_negatives defaults, enabled."""
    entry = finetune_config(DATASETS, MINILM, hard_negatives={"enabled": True})["finetune"]["ft"]
    return entry["hard_negatives"]


@pytest.fixture(scope="module")
def minilm():
    return load_sentence_transformer(BASE, "cpu")  # 128 tokens (BASE): every chunk of the slices fits


@pytest.fixture(scope="module")
def ranking(files, minilm):
    data = load_training_data(files, 0.2, 4, 42)
    return Ranking(minilm, data.pairs, data.train_chunks, data.dev_corpus)


@pytest.fixture(scope="module")
def tiny(corpora, tmp_path_factory):
    return build_tiny_model(corpora, tmp_path_factory.mktemp("tiny"))


class Ranking:
    """The miner's view of the queries and the pool, encoded here as mine_hard_negatives encodes them (same
    calls, same order, so the scores are the same floats); the window and the margins are applied by this
    test's own code."""

    def __init__(self, model, pairs: list[Pair], pool: dict[str, str], chunk_texts: dict[str, str]) -> None:
        rows = sorted({(p.query, chunk_texts[c]) for p in pairs for c in p.relevant_chunks})
        self.positives: dict[str, list[str]] = {}
        for query, text in rows:
            self.positives.setdefault(query, []).append(text)
        self.corpus = list(dict.fromkeys([*pool.values(), *(t for _, t in rows)]))
        self.queries = list(dict.fromkeys(q for q, _ in rows))
        kw = {"batch_size": 32, "normalize_embeddings": True, "convert_to_numpy": True}
        docs = model.encode_document(self.corpus, **kw)
        queries = model.encode_query(self.queries, **kw)
        self.scores = model.similarity(queries, docs)
        index = {t: i for i, t in enumerate(self.corpus)}
        self.lowest_positive = {}
        for qi, query in enumerate(self.queries):
            pos = docs[[index[t] for t in self.positives[query]]]
            pair_scores = model.similarity_pairwise(queries[[qi] * len(pos)], pos)
            self.lowest_positive[query] = pair_scores.min()

    def window(self, query: str, hn: dict, mined: list[Pair] | None = None) -> list[str]:
        """Candidate texts best first: the top range_max + (most positives of a query mined with it: all, or
        those of `mined`), the query's positives and those within a margin taken out, then ranks
        range_min..range_max of what is left."""
        qi = self.queries.index(query)
        row = self.scores[qi]
        queries = self.positives if mined is None else {p.query for p in mined}
        depth = hn["range_max"] + max(len(self.positives[q]) for q in queries)
        top = np.argsort(-row.numpy(), kind="stable")[:depth]
        bar = self.lowest_positive[query]
        kept = []
        for j in top:
            score = row[j]
            if self.corpus[j] in self.positives[query]:
                continue
            if hn["absolute_margin"] is not None and score + hn["absolute_margin"] > bar:
                continue
            if hn["relative_margin"] is not None and score > bar - bar.abs() * hn["relative_margin"]:
                continue
            kept.append(self.corpus[j])
        return kept[: hn["range_max"]][hn["range_min"] :]


def eligible(pair: Pair, texts: list[str], pool: dict[str, str]) -> list[str]:
    """Chunk ids of `texts` in order, skipping relevant chunks, texts holding the query, repeats."""
    out: list[str] = []
    for text in texts:
        ids = sorted(c for c, t in pool.items() if t == text and c not in pair.relevant_chunks)
        if ids and compact(pair.query) not in compact(text) and ids[0] not in out:
            out.append(ids[0])
    return out


def assert_clean(data: TrainingData, num: int, pairs: list[Pair] | None = None) -> None:
    """Every pair (of `data`, or `pairs`) has `num` distinct negatives, all training chunks: never dev, val
    or relevant, never one that holds the query."""
    val = {c for v in data.val.values() for ids in v["relevant_docs"].values() for c in ids}
    val |= {c for v in data.val.values() for c in v["corpus"]} - set(data.dev_corpus)  # val's own chunks
    for p in data.pairs if pairs is None else pairs:
        assert len(p.negative_ids) == num == len(set(p.negative_ids))
        assert set(p.negative_ids) <= set(data.train_chunks)
        assert not set(p.negative_ids) & (val | data.dev_chunk_ids | p.relevant_chunks)
        assert p.negatives == [data.train_chunks[c] for c in p.negative_ids]
        assert not [n for n in p.negatives if compact(p.query) in compact(n)]


WINDOWS = [
    {},  # the defaults: 0..50, relative margin 0.05
    {"range_min": 2, "range_max": 12, "relative_margin": None},
    {"range_min": 1, "range_max": 40, "relative_margin": 0.1, "absolute_margin": 0.05},
]


def test_window_and_margins_pick_what_the_ranking_says(files, defaults, minilm, ranking):
    picks = []
    for options in WINDOWS:
        data = load_training_data(files, 0.2, 4, 42)
        hn = {**defaults, "num": 3, **options}
        counts = mine_negatives(data.pairs, data.train_chunks, data.dev_corpus, minilm, hn, 42)
        assert_clean(data, 3)
        mined = 0
        for p in data.pairs:
            expected = eligible(p, ranking.window(p.query, hn), data.train_chunks)[:3]
            assert p.negative_ids[: len(expected)] == expected, (options, p.query)
            mined += len(expected)
        assert counts == {"mined": mined, "oracle_dropped": 0, "random_fill": 3 * len(data.pairs) - mined}
        picks.append([p.negative_ids for p in data.pairs])
    assert all(picks[0] != other for other in picks[1:])  # each option changes which negatives are picked


def test_another_miner_is_the_one_used(data, defaults, minilm, tiny):
    hn = {**defaults, "num": 2}
    spec = ModelSpec("tiny", source=str(tiny))
    facts = mine_job_negatives([data.pairs], data, hn, 42, minilm, BASE, spec, None, "cpu")
    assert facts["miner_source"] == str(tiny) and facts["oracle_source"] is None
    assert_clean(data, 2)
    ranking = Ranking(load_sentence_transformer(spec, "cpu"), data.pairs, data.train_chunks, data.dev_corpus)
    for p in data.pairs:
        expected = eligible(p, ranking.window(p.query, hn), data.train_chunks)[:2]
        assert p.negative_ids[: len(expected)] == expected
    by_tiny = [p.negative_ids for p in data.pairs]
    mine_job_negatives([data.pairs], data, hn, 42, minilm, BASE, None, None, "cpu")
    by_base = [p.negative_ids for p in data.pairs]
    assert sum(a != b for a, b in zip(by_tiny, by_base, strict=True)) > len(by_base) // 2


def test_the_base_as_miner_is_not_loaded_again(data, defaults, minilm):
    unloadable = ModelSpec("base", source="/nowhere/to/load")  # the loaded base is used as it is
    facts = mine_job_negatives(
        [data.pairs], data, {**defaults, "num": 1}, 42, minilm, unloadable, None, None, "cpu"
    )
    assert facts["miner_source"] == "/nowhere/to/load" and facts["mined"] > 0
    assert_clean(data, 1)


def test_the_oracle_drops_what_it_scores_high(data, defaults, minilm, ranking, tmp_path):
    """A cross-encoder built here (MiniLM with a fresh one-score head, seeded) vets the candidates: those it
    scores at or above the query's lowest positive minus the margin are dropped, the next ones taken."""
    torch.manual_seed(0)
    load_cross_encoder(MINILM, "cpu", name="judge", num_labels=1).save(str(tmp_path / "judge"))
    judge = load_cross_encoder(str(tmp_path / "judge"), "cpu", name="judge", max_length=64)
    hn = {**defaults, "num": 2, "range_max": 6}
    pairs = [p for p in data.pairs if p.dataset == "eu_ai_act/en"]  # the oracle reads slowly on a CPU
    queries = {p.query_id: p for p in pairs}
    candidates = {
        q: eligible(p, ranking.window(p.query, hn, pairs), data.train_chunks) for q, p in queries.items()
    }
    texts = [
        (q, text)
        for q, p in queries.items()
        for text in [
            *(data.dev_corpus[c] for c in p.relevant_chunks),
            *map(data.train_chunks.get, candidates[q]),
        ]
    ]
    scores = judge.predict(
        [(queries[q].query, t) for q, t in texts], activation_fn=torch.nn.Identity(), convert_to_numpy=True
    )
    scores = iter(np.asarray(scores).reshape(-1).tolist())
    lowest, scored = {}, {}
    for q, p in queries.items():  # in the order of `texts`: the query's positives, then its candidates
        lowest[q] = min(next(scores) for _ in p.relevant_chunks)
        scored[q] = [next(scores) for _ in candidates[q]]
    # a margin in the widest gap of the first candidates' distances to the positive: about half are dropped
    gaps = sorted(s[0] - lowest[q] for q, s in scored.items() if s)
    middle = gaps[len(gaps) // 4 : 3 * len(gaps) // 4 + 1]
    i = max(range(len(middle) - 1), key=lambda k: middle[k + 1] - middle[k])
    margin = -(middle[i] + middle[i + 1]) / 2
    kept, dropped = {}, {}
    for q, ids in candidates.items():
        kept[q], dropped[q] = [], set()
        for c, s in zip(ids, scored[q], strict=True):
            if len(kept[q]) == 2:
                break
            if s >= lowest[q] - margin:
                dropped[q].add(c)
            else:
                kept[q].append(c)

    oracle = Oracle("judge", str(tmp_path / "judge"), 64, 16)
    facts = mine_job_negatives(
        [pairs], data, {**hn, "oracle_margin": margin}, 42, minilm, BASE, None, oracle, "cpu"
    )
    assert facts["oracle_source"] == str(tmp_path / "judge")
    assert facts["oracle_dropped"] == sum(len(d) for d in dropped.values()) > 0
    assert facts["mined"] == sum(len(kept[p.query_id]) for p in pairs) > 0
    for p in pairs:
        assert p.negative_ids[: len(kept[p.query_id])] == kept[p.query_id]
        assert not set(p.negative_ids) & dropped[p.query_id]  # not even as a random fill
    assert_clean(data, 2, pairs)


# --- the plan: which models mine, what the rule reads, the config errors ---------------------------------


def plan_config(**finetunes) -> dict:
    """A raw config: models base (MiniLM), other (MiniLM with a query prefix), lex (BM25); rerankers judge (as
    it is) and trained (fine-tuned, so a rule's output); fine-tune r1 and the given entries."""
    config = copy.deepcopy(finetune_config(["eu_ai_act/en"], MINILM))
    ft = config["finetune"].pop("ft")
    config["models"].update({"other": {"source": MINILM, "query_prefix": "q: "}, "lex": {"kind": "bm25"}})
    config["rerankers"] = {
        "judge": {"source": MINILM},
        "trained": {"source": MINILM, "datasets": ["eu_ai_act/en"], "retriever": "base"},
    }
    config["finetune"] = {"r1": ft}
    for name, hn in finetunes.items():
        config["finetune"][name] = {**ft, "hard_negatives": {"enabled": True, **hn}}
    return config


def test_plan_resolves_miner_and_oracle_and_the_rule_inputs():
    plan = Plan.of(
        plan_config(
            round2={"miner": "r1", "oracle": "trained"},
            plain={"oracle": "judge"},
            prefixed={"miner": "other"},
        ),
        REPO,
    )
    args = plan.finetune_args("round2")
    assert args["miner"] == plan.registry.spec("r1") and args["miner"].source == layout.model_dir("r1")
    trained = plan.rerankers["trained"]
    assert args["oracle"] == Oracle(
        "trained", layout.reranker_dir("trained"), trained["max_length"], trained["batch_size"]
    )
    inputs = plan.finetune_inputs("round2")
    assert inputs["miner_model"] == layout.model_dir("r1")
    assert inputs["oracle_model"] == layout.reranker_dir("trained")

    args = plan.finetune_args("plain")
    assert args["miner"] == args["base"] == plan.registry.spec("base")
    assert args["oracle"].source == MINILM  # not fine-tuned: its source, and no rule input
    assert not {"miner_model", "oracle_model"} & set(plan.finetune_inputs("plain"))
    assert plan.finetune_args("prefixed")["miner"].query_prefix == "q: "
    assert plan.finetune_args("r1")["miner"] is None and plan.finetune_args("r1")["oracle"] is None


@pytest.mark.parametrize(
    ("finetunes", "message"),
    [
        ({"ft": {"miner": "nope"}}, r"finetune\.ft\.hard_negatives\.miner: unknown model 'nope'"),
        ({"ft": {"miner": "ft"}}, r"finetune\.ft\.hard_negatives\.miner: 'ft' is this entry itself"),
        ({"ft": {"miner": "lex"}}, r"finetune\.ft\.hard_negatives\.miner: model 'lex' is of kind 'bm25'"),
        (
            {"a": {"miner": "b"}, "b": {"miner": "a"}},
            r"finetune\.a\.hard_negatives\.miner: fine-tune 'b' needs a first \(a cycle\)",
        ),
        ({"ft": {"oracle": "nope"}}, r"finetune\.ft\.hard_negatives\.oracle: 'nope' is not in rerankers"),
        (
            {"ft": {"num": 3, "range_min": 4, "range_max": 6}},
            r"hard_negatives: range_max 6 - range_min 4 leaves fewer than num 3 candidates: raise range_max",
        ),
    ],
)
def test_config_errors_are_one_line(finetunes, message):
    with pytest.raises(EmbedlabError, match=message) as err:
        Plan.of(plan_config(**finetunes), REPO)
    assert "\n" not in str(err.value)
