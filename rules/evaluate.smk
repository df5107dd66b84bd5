# Evaluation stage: retrieval metrics per model x corpus x language (and across languages), the tutorial's
# evaluators as cross-checks, paired model comparisons, and MTEB (custom val-split tasks + standard tasks).
# Settings are read from the validated config (the schema has filled every default): lookup(dpath=...).
EVAL = SETTINGS.evaluation
MTEB_CUSTOM = plan.mteb_custom_tasks(config)
HYBRIDS = plan.hybrid_models(config)
# Encoders (evaluate_retrieval, evaluate_crosslingual, crosscheck, MTEB) and hybrids (evaluate_hybrid).
_MODELS = one_of(sorted({*plan.eval_models(config), *plan.mteb_models(config)} - set(HYBRIDS)))
_ANY_MODEL = one_of(sorted({*plan.eval_models(config), *plan.mteb_models(config), *PIPELINES}))


# evaluation.shards > 1: fixed row ranges of a dense model's val corpus, one job each, as files that
# evaluate_retrieval searches one by one (BM25, API models and hybrids stay one job).
rule encode_shard:
    input:
        val=layout.val(),
        model=model_files,
    output:
        vectors=layout.corpus_shard(),
        meta=layout.corpus_shard_meta(),
    log:
        layout.log("encode_shard", "{model}", "{corpus}", "{lang}", "{shard}-of-{shards}"),
    wildcard_constraints:
        model=one_of(plan.sharded_models(config)),
        shard="[0-9]+",
        shards="[0-9]+",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("encode_shard", 2)
    resources:
        **res("encode_shard", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        block=EVAL.shard_block,
        device=lookup(dpath="evaluation/device", within=config),
        cache=EVAL.shard_cache_dir,
    script:
        "../scripts/encode_shard.py"


rule evaluate_retrieval:
    input:
        val=layout.val(),
        chunks=layout.chunks(),
        model=model_files,
        shard_vectors=lambda wc: [v for v, _ in plan.corpus_shards(config, wc.model, wc.corpus, wc.lang)],
        shard_meta=lambda wc: [m for _, m in plan.corpus_shards(config, wc.model, wc.corpus, wc.lang)],
    output:
        summary=layout.eval_summary(),
        queries=layout.eval_queries(),
    log:
        layout.log("evaluate_retrieval", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_retrieval", 2)
    resources:
        **res("evaluate_retrieval", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        ks=lookup(dpath="evaluation/ks", within=config),
        bootstrap=lookup(dpath="evaluation/bootstrap_samples", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        latency_queries=EVAL.latency_queries,
        shard_block=EVAL.shard_block,
        index=EVAL.index,
    script:
        "../scripts/evaluate_retrieval.py"


# Real questions (rules/queries.smk: map_questions): the same evaluation on real.json, into {lang}.real.csv.
use rule evaluate_retrieval as evaluate_retrieval_real with:
    input:
        val=layout.real_set(),
        chunks=layout.chunks(),
        model=model_files,
        shard_vectors=[],
        shard_meta=[],
    output:
        summary=layout.eval_summary(query_set="real"),
        queries=layout.eval_queries(query_set="real"),
    log:
        layout.log("evaluate_retrieval", "{model}", "{corpus}", "{lang}.real"),


# A hybrid: its members' top candidates fused (weights tuned on the dev slice of train, never on val); the
# same output files as any model, so comparisons and the report treat it as one.
rule evaluate_hybrid:
    input:
        val=layout.val(),
        train=layout.train(),
        chunks=layout.chunks(),
        model=model_files,
    output:
        summary=layout.eval_summary(),
        queries=layout.eval_queries(),
    log:
        layout.log("evaluate_hybrid", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=one_of(HYBRIDS),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_hybrid", 2)
    resources:
        **res("evaluate_hybrid", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        members=lambda wc: plan.members_of(config, wc.model),
        ks=lookup(dpath="evaluation/ks", within=config),
        bootstrap=lookup(dpath="evaluation/bootstrap_samples", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        latency_queries=EVAL.latency_queries,
    script:
        "../scripts/evaluate_hybrid.py"


# Real questions may point at train chunks (the documents are the deployment corpus): only their texts must
# differ from the dev slice's queries the weights are tuned on.
use rule evaluate_hybrid as evaluate_hybrid_real with:
    input:
        val=layout.val(),
        questions=layout.real_set(),
        train=layout.train(),
        chunks=layout.chunks(),
        model=model_files,
    output:
        summary=layout.eval_summary(query_set="real"),
        queries=layout.eval_queries(query_set="real"),
    log:
        layout.log("evaluate_hybrid", "{model}", "{corpus}", "{lang}.real"),


# Truncated dimensions x quantized precisions of a dense model: encoded once, every variant ranked, with bytes
# per vector, index size and query latency (evaluation.compression).
rule evaluate_compression:
    input:
        val=layout.val(),
        chunks=layout.chunks(),
        model=model_files,
    output:
        summary=layout.compression_summary(),
        queries=layout.compression_queries(),
    log:
        layout.log("evaluate_compression", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_compression", 2)
    resources:
        **res("evaluate_compression", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        settings=EVAL.compression,
        latency_queries=EVAL.latency_queries,
        ks=lookup(dpath="evaluation/ks", within=config),
        bootstrap=lookup(dpath="evaluation/bootstrap_samples", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
    script:
        "../scripts/evaluate_compression.py"


# A retrieve-then-rerank pipeline {retriever}.{reranker}@{k}: the retriever's top k reordered by the
# cross-encoder; the same output files as any model, with the rerank latency per query.
rule evaluate_rerank:
    input:
        val=layout.val(),
        chunks=layout.chunks(),
        model=lambda wc: plan.model_inputs(config, PIPELINES[wc.model].retriever),
        reranker=branch(
            lambda wc: PIPELINES[wc.model].reranker in RERANKERS,
            then=lambda wc: layout.reranker_dir(PIPELINES[wc.model].reranker),
        ),
    output:
        summary=layout.eval_summary(),
        queries=layout.eval_queries(),
    log:
        layout.log("evaluate_rerank", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=one_of(PIPELINES),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_rerank", 2)
    resources:
        **res("evaluate_rerank", gpu=1, mem_mb=8000, runtime=120),
    params:
        pipeline=lambda wc: PIPELINES[wc.model],
        retriever=lambda wc: plan.spec_of(config, PIPELINES[wc.model].retriever),
        source=lambda wc: plan.reranker_source(config, PIPELINES[wc.model].reranker),
        reranker=lambda wc: config["rerankers"][PIPELINES[wc.model].reranker],
        ks=lookup(dpath="evaluation/ks", within=config),
        bootstrap=lookup(dpath="evaluation/bootstrap_samples", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        latency_queries=EVAL.latency_queries,
    script:
        "../scripts/evaluate_rerank.py"


rule evaluate_crosslingual:
    input:
        val=layout.val(lang="{src}"),
        src_chunks=layout.chunks(lang="{src}"),
        tgt_chunks=layout.chunks(lang="{tgt}"),
        model=model_files,
    output:
        summary=layout.eval_summary(lang="{src}-{tgt}"),
        queries=layout.eval_queries(lang="{src}-{tgt}"),
    log:
        layout.log("evaluate_crosslingual", "{model}", "{corpus}", "{src}-{tgt}"),
    wildcard_constraints:
        model=_MODELS,
        src="[a-z]{2,3}",
        tgt="[a-z]{2,3}",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_crosslingual", 2)
    resources:
        **res("evaluate_crosslingual", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        ks=lookup(dpath="evaluation/ks", within=config),
        bootstrap=lookup(dpath="evaluation/bootstrap_samples", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        latency_queries=EVAL.latency_queries,
    script:
        "../scripts/evaluate_crosslingual.py"


rule crosscheck_evaluators:
    input:
        val=layout.val(),
        model=model_files,
    output:
        report=layout.crosscheck(),
        st_csv=layout.ir_evaluator_csv(),
    log:
        layout.log("crosscheck_evaluators", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("crosscheck_evaluators", 2)
    resources:
        **res("crosscheck_evaluators", gpu=model_gpus, mem_mb=model_mem_mb, runtime=240),
    params:
        spec=model_spec,
        evaluators=lookup(dpath="evaluation/cross_check", within=config),
        ks=lookup(dpath="evaluation/ks", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
    script:
        "../scripts/crosscheck_evaluators.py"


rule compare_models:
    input:
        a=layout.eval_queries(model="{a}"),
        b=layout.eval_queries(model="{b}"),
    output:
        layout.comparison(),
    log:
        layout.log("compare_models", "{a}__vs__{b}", "{corpus}", "{lang}"),
    wildcard_constraints:
        a=_ANY_MODEL,
        b=_ANY_MODEL,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("compare_models", 1)
    resources:
        **res("compare_models", mem_mb=1024, runtime=10),
    params:
        metric=lookup(dpath="evaluation/compare_metric", within=config),
        samples=lookup(dpath="evaluation/compare_samples", within=config),
        seed=lookup(dpath="seed", within=config),
    script:
        "../scripts/compare_models.py"


rule evaluate_mteb:
    input:
        val=lambda wc: plan.mteb_val_input(config, wc.task),
        model=model_files,
    output:
        layout.mteb_result(),
    log:
        layout.log("evaluate_mteb", "{model}", "{task}"),
    wildcard_constraints:
        model=_MODELS,
        task="[A-Za-z0-9_.-]+",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_mteb", 2)
    resources:
        **res("evaluate_mteb", gpu=model_gpus, mem_mb=model_mem_mb, runtime=480),
    params:
        spec=model_spec,
        custom=lookup(dpath="{task}", within=MTEB_CUSTOM, default=None),
        filters={k: config["mteb"][k] for k in ("languages", "eval_splits", "task_types", "categories")},
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        probe_network=lookup(dpath="mteb/probe_network", within=config),
    script:
        "../scripts/evaluate_mteb.py"


rule write_mteb_card:
    input:
        lambda wc: plan.mteb_results(config, wc.model),
    output:
        layout.mteb_card(),
    log:
        layout.log("write_mteb_card", "{model}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("write_mteb_card", 1)
    resources:
        **res("write_mteb_card", mem_mb=1024, runtime=5),
    script:
        "../scripts/write_mteb_card.py"


rule publish_model:
    input:
        model=layout.model_dir(),
        card=layout.mteb_card(model="{name}"),
        real_base=lambda wc: [
            layout.eval_summary(b, c, lang, "real") for b, c, lang in plan.real_pairs(config, wc.name)
        ],
        real_model=lambda wc: [
            layout.eval_summary(wc.name, c, lang, "real") for _, c, lang in plan.real_pairs(config, wc.name)
        ],
    output:
        directory(layout.published()),
    log:
        layout.log("publish_model", "{name}"),
    wildcard_constraints:
        name=one_of(config["finetune"]),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("publish_model", 1)
    resources:
        **res("publish_model", mem_mb=1024, runtime=10),
    script:
        "../scripts/publish_model.py"
