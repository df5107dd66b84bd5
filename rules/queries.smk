# Query stage: one file per generator, merged into the dataset, then split by chunk group.


rule generate_queries:
    input:
        "results/chunks/{corpus}/{lang}.json",
    output:
        "results/qa/{corpus}/{lang}/queries/{generator}.json",
    log:
        "logs/generate_queries/{corpus}/{lang}/{generator}.log",
    conda:
        "../envs/data.yaml"
    threads: threads_of("generate_queries", 1)
    resources:
        **res("generate_queries", mem_mb=2048, runtime=60),
    params:
        settings=lambda wc: config["generators"].get(wc.generator, {}),
        seed=config["seed"],
    script:
        "../scripts/generate_queries.py"


# The llm generator has its own rule: a drop report as a second output, a checkpoint beside the output that
# is deliberately NOT an output (Snakemake never deletes it, so a killed or failed run resumes from it), and
# a GPU slot only when a model computes on this machine (Ollama/OpenAI-compatible server on localhost, or a
# neural round-trip retriever). The round-trip retriever is resolved in `models` here, before any job.
from embedlab.data.llm.providers import uses_gpu as _llm_uses_gpu
from embedlab.data.llm.roundtrip import llm_settings as _llm_settings, retriever_needs_gpu as _round_trip_gpu

try:
    _LLM_SETTINGS = _llm_settings(config)
except EmbedlabError as _exc:
    sys.exit(str(_exc))


ruleorder: generate_llm_queries > generate_queries


rule generate_llm_queries:
    input:
        "results/chunks/{corpus}/{lang}.json",
    output:
        queries="results/qa/{corpus}/{lang}/queries/llm.json",
        report="results/qa/{corpus}/{lang}/queries/llm.report.json",
    log:
        "logs/generate_queries/{corpus}/{lang}/llm.log",
    conda:
        "../envs/llm.yaml"
    threads: threads_of("generate_llm_queries", 1)
    resources:
        **res(
            "generate_llm_queries",
            mem_mb=2048,
            runtime=1440,
            gpu=int(_llm_uses_gpu(_LLM_SETTINGS) or _round_trip_gpu(_LLM_SETTINGS["retriever_spec"])),
        ),
    params:
        settings=_LLM_SETTINGS,
        seed=config["seed"],
        checkpoint=lambda wc: f"results/qa/{wc.corpus}/{wc.lang}/queries/llm.checkpoint.jsonl",
    script:
        "../scripts/generate_llm_queries.py"


rule dataset:
    input:
        chunks="results/chunks/{corpus}/{lang}.json",
        queries=lambda wc: expand(
            "results/qa/{{corpus}}/{{lang}}/queries/{generator}.json",
            generator=cfg.generators(config, wc.corpus),
        ),
    output:
        dataset="results/qa/{corpus}/{lang}/dataset.json",
        provenance="results/qa/{corpus}/{lang}/provenance.json",
    log:
        "logs/dataset/{corpus}/{lang}.log",
    conda:
        "../envs/data.yaml"
    threads: threads_of("dataset", 1)
    resources:
        **res("dataset", mem_mb=1024, runtime=10),
    script:
        "../scripts/dataset.py"


rule split:
    input:
        chunks="results/chunks/{corpus}/{lang}.json",
        dataset="results/qa/{corpus}/{lang}/dataset.json",
        provenance="results/qa/{corpus}/{lang}/provenance.json",
    output:
        train="results/qa/{corpus}/{lang}/train.json",
        val="results/qa/{corpus}/{lang}/val.json",
        report="results/qa/{corpus}/{lang}/split.json",
    log:
        "logs/split/{corpus}/{lang}.log",
    conda:
        "../envs/data.yaml"
    threads: threads_of("split", 1)
    resources:
        **res("split", mem_mb=1024, runtime=10),
    params:
        val_fraction=config["split"]["val_fraction"],
        seed=config["seed"],
    script:
        "../scripts/split.py"
