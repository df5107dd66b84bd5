"""Every path the workflow writes, in one place (formats: docs/formats.md).

Rules and the library ask here instead of spelling `results/...`: called with no arguments a function
returns the rule's wildcard pattern (`chunks()` -> "results/chunks/{corpus}/{lang}.json"), with arguments
the concrete path, so a rename happens once and a rule's outputs are the paths its script writes.

File names: a stage module may not import the workflow layer, so the files it writes inside a folder it is
handed (a model folder, an ONNX export, a word2vec run, a prepared dataset) are named in `embedlab.filenames`,
and the paths here are composed from those names; every other name is spelled here only
(tests/test_layout.py finds any other spelling).
"""

from __future__ import annotations

from embedlab import filenames

RESULTS = "results"
LOGS = "logs"


def chunks(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{RESULTS}/chunks/{corpus}/{lang}.json"


def qa_dir(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{RESULTS}/qa/{corpus}/{lang}"


def queries(corpus: str = "{corpus}", lang: str = "{lang}", generator: str = "{generator}") -> str:
    return f"{qa_dir(corpus, lang)}/queries/{filenames.queries(generator)}"


def llm_report(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{qa_dir(corpus, lang)}/queries/llm.report.json"


def llm_checkpoint(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    """Deliberately not a rule output: Snakemake never deletes it, so a killed LLM run resumes from it."""
    return f"{qa_dir(corpus, lang)}/queries/llm.checkpoint.jsonl"


def dataset(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{qa_dir(corpus, lang)}/{filenames.DATASET}"


def provenance(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{qa_dir(corpus, lang)}/{filenames.PROVENANCE}"


def real_set(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    """Real questions mapped onto chunks (rule map_questions) that are evaluated like val.json."""
    return f"{qa_dir(corpus, lang)}/real.json"


def real_train_set(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    """Real questions trained on (questions.training: split; a BEIR folder's train qrels): split_dataset adds
    them to train.json."""
    return f"{qa_dir(corpus, lang)}/real.train.json"


def real_mapping(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    """What the real questions' labels mapped onto, and the questions that did not map, with the reason."""
    return f"{qa_dir(corpus, lang)}/real.mapping.json"


def query_sets(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    """How lexical each query set is, one row per set (rule diagnose_queries)."""
    return f"{qa_dir(corpus, lang)}/query_sets.csv"


def query_set_queries(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return filenames.per_query(query_sets(corpus, lang))


def train(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{qa_dir(corpus, lang)}/{filenames.TRAIN}"


def val(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{qa_dir(corpus, lang)}/{filenames.VAL}"


def split_report(corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{qa_dir(corpus, lang)}/{filenames.SPLIT}"


def model_dir(name: str = "{name}") -> str:
    """A fine-tuned model's folder (SentenceTransformer(path) loads it offline)."""
    return f"{RESULTS}/models/{name}"


def onnx_dir(name: str = "{name}") -> str:
    """A fine-tuned model's ONNX export (filenames.ONNX_*; rule export_onnx)."""
    return f"{RESULTS}/models/{name}.onnx"


def reranker_dir(name: str = "{name}") -> str:
    """A fine-tuned cross-encoder (CrossEncoder(path) loads it; rule finetune_reranker)."""
    return f"{RESULTS}/rerankers/{name}"


QUERY_SETS = ("val", "real")  # the generators' val queries; real questions (real_set)


def _set_suffix(query_set: str) -> str:
    return "" if query_set == "val" else f".{query_set}"


def eval_summary(
    model: str = "{model}", corpus: str = "{corpus}", lang: str = "{lang}", query_set: str = "val"
) -> str:
    """`lang` is a language, or "src-tgt" for a cross-lingual run; real questions: `{lang}.real.csv`."""
    return f"{RESULTS}/eval/{model}/{corpus}/{lang}{_set_suffix(query_set)}.csv"


def eval_queries(
    model: str = "{model}", corpus: str = "{corpus}", lang: str = "{lang}", query_set: str = "val"
) -> str:
    return filenames.per_query(eval_summary(model, corpus, lang, query_set))


def corpus_shard(
    model: str = "{model}",
    corpus: str = "{corpus}",
    lang: str = "{lang}",
    shard: str | int = "{shard}",
    shards: str | int = "{shards}",
) -> str:
    """Rows of a val corpus encoded by one encode_shard job (evaluation.shards > 1): float32 .npy."""
    return f"{RESULTS}/vectors/{model}/{corpus}/{lang}/{shard}-of-{shards}.npy"


def corpus_shard_meta(
    model: str = "{model}",
    corpus: str = "{corpus}",
    lang: str = "{lang}",
    shard: str | int = "{shard}",
    shards: str | int = "{shards}",
) -> str:
    """The shard's JSON sidecar: row range, chunk-id hash, model fingerprint, counts."""
    return f"{RESULTS}/vectors/{model}/{corpus}/{lang}/{shard}-of-{shards}.json"


def compression_summary(model: str = "{model}", corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    """One row per dims x precision variant of a dense model (evaluation.compression)."""
    return f"{RESULTS}/eval/{model}/{corpus}/{lang}.compression.csv"


def compression_queries(model: str = "{model}", corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return filenames.per_query(compression_summary(model, corpus, lang))


def crosscheck(model: str = "{model}", corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{RESULTS}/eval/{model}/{corpus}/{lang}.crosscheck.json"


def ir_evaluator_csv(model: str = "{model}", corpus: str = "{corpus}", lang: str = "{lang}") -> str:
    return f"{RESULTS}/eval/{model}/{corpus}/{lang}.ir_evaluator.csv"


def comparison(
    a: str = "{a}", b: str = "{b}", corpus: str = "{corpus}", lang: str = "{lang}", query_set: str = "val"
) -> str:
    return f"{RESULTS}/eval/compare/{a}__vs__{b}/{corpus}/{lang}{_set_suffix(query_set)}.json"


def mteb_result(model: str = "{model}", task: str = "{task}") -> str:
    return f"{RESULTS}/mteb/{model}/{task}.json"


def mteb_card(model: str = "{model}") -> str:
    return f"{RESULTS}/mteb/{model}/{filenames.MODEL_CARD}"


def published(name: str = "{name}") -> str:
    return f"{RESULTS}/published/{name}"


REPORT_DIR = f"{RESULTS}/report"


def summary_csv() -> str:
    return f"{REPORT_DIR}/summary.csv"


def summary_md() -> str:
    return f"{REPORT_DIR}/summary.md"


def deploy_csv() -> str:
    """Every deployable configuration with quality, size, latency and the Pareto flag (summary.md's table)."""
    return f"{REPORT_DIR}/deploy.csv"


def release_csv() -> str:
    """The release gate's verdict per fine-tune and dataset (summary.md's first table, the published card)."""
    return f"{REPORT_DIR}/release.csv"


def plot(name: str, fmt: str) -> str:
    return f"{REPORT_DIR}/plots/{name}.{fmt}"


def word2vec(name: str = "{name}") -> dict[str, str]:
    """A word2vec run's outputs by the train_word2vec rule's output name (`output: **layout.word2vec()`)."""
    return {key: f"{RESULTS}/word2vec/{name}/{file}" for key, file in filenames.WORD2VEC.items()}


def download(resources_dir: str, url_file: str = "{url_file}") -> str:
    """A corpus file fetched by download_source: the config's `file` below `resources_dir`, where
    data.corpus.resolve_source looks for it (so it is fetched once)."""
    return f"{resources_dir}/{url_file}"


def log(rule: str, *parts: str) -> str:
    """A rule's log: logs/<rule>/<wildcards joined by />.log (one per job)."""
    return f"{LOGS}/{'/'.join((rule, *parts))}.log"
