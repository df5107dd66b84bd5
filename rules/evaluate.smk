# Evaluation stage: retrieval metrics per model x corpus x language (and across languages), the tutorial's
# evaluators as cross-checks, paired model comparisons, and MTEB (custom val-split tasks + standard tasks).
# Settings are read from the validated config (the schema has filled every default): lookup(dpath=...).
_CACHE = config["evaluation"]["cache"]
EMB_CACHE = _CACHE["dir"] if _CACHE["enabled"] else None
MTEB_CUSTOM = eval_plan.mteb_custom_tasks(config)
_MODEL_RE = (
    "|".join(re.escape(m) for m in sorted({*eval_plan.eval_models(config), *eval_plan.mteb_models(config)}))
    or "(?!)"
)


rule evaluate:
    input:
        val="results/qa/{corpus}/{lang}/val.json",
        chunks="results/chunks/{corpus}/{lang}.json",
        model=model_files,
    output:
        summary="results/eval/{model}/{corpus}/{lang}.csv",
        queries="results/eval/{model}/{corpus}/{lang}.queries.csv",
    log:
        "logs/evaluate/{model}/{corpus}/{lang}.log",
    wildcard_constraints:
        model=_MODEL_RE,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate", 2)
    resources:
        **res("evaluate", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        ks=lookup(dpath="evaluation/ks", within=config),
        bootstrap=lookup(dpath="evaluation/bootstrap_samples", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        exact_max_corpus=lookup(dpath="evaluation/exact_max_corpus", within=config),
    script:
        "../scripts/evaluate.py"


rule evaluate_crosslingual:
    input:
        val="results/qa/{corpus}/{src}/val.json",
        src_chunks="results/chunks/{corpus}/{src}.json",
        tgt_chunks="results/chunks/{corpus}/{tgt}.json",
        model=model_files,
    output:
        summary="results/eval/{model}/{corpus}/{src}-{tgt}.csv",
        queries="results/eval/{model}/{corpus}/{src}-{tgt}.queries.csv",
    log:
        "logs/evaluate_crosslingual/{model}/{corpus}/{src}-{tgt}.log",
    wildcard_constraints:
        model=_MODEL_RE,
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
    script:
        "../scripts/evaluate_crosslingual.py"


rule crosscheck:
    input:
        val="results/qa/{corpus}/{lang}/val.json",
        model=model_files,
    output:
        report="results/eval/{model}/{corpus}/{lang}.crosscheck.json",
        st_csv="results/eval/{model}/{corpus}/{lang}.ir_evaluator.csv",
    log:
        "logs/crosscheck/{model}/{corpus}/{lang}.log",
    wildcard_constraints:
        model=_MODEL_RE,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("crosscheck", 2)
    resources:
        **res("crosscheck", gpu=model_gpus, mem_mb=model_mem_mb, runtime=240),
    params:
        spec=model_spec,
        evaluators=lookup(dpath="evaluation/cross_check", within=config),
        ks=lookup(dpath="evaluation/ks", within=config),
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
    script:
        "../scripts/crosscheck.py"


rule compare:
    input:
        a="results/eval/{a}/{corpus}/{lang}.queries.csv",
        b="results/eval/{b}/{corpus}/{lang}.queries.csv",
    output:
        "results/eval/compare/{a}__vs__{b}/{corpus}/{lang}.json",
    log:
        "logs/compare/{a}__vs__{b}/{corpus}/{lang}.log",
    wildcard_constraints:
        a=_MODEL_RE,
        b=_MODEL_RE,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("compare", 1)
    resources:
        **res("compare", mem_mb=1024, runtime=10),
    params:
        metric=lookup(dpath="evaluation/compare_metric", within=config),
        samples=lookup(dpath="evaluation/compare_samples", within=config),
        seed=lookup(dpath="seed", within=config),
    script:
        "../scripts/compare.py"


rule mteb:
    input:
        val=lambda wc: eval_plan.mteb_val_input(config, wc.task),
        model=model_files,
    output:
        "results/mteb/{model}/{task}.json",
    log:
        "logs/mteb/{model}/{task}.log",
    wildcard_constraints:
        model=_MODEL_RE,
        task="[A-Za-z0-9_.-]+",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("mteb", 2)
    resources:
        **res("mteb", gpu=model_gpus, mem_mb=model_mem_mb, runtime=480),
    params:
        spec=model_spec,
        custom=lookup(dpath="{task}", within=MTEB_CUSTOM, default=None),
        filters={k: config["mteb"][k] for k in ("languages", "eval_splits", "task_types", "categories")},
        device=lookup(dpath="evaluation/device", within=config),
        cache=EMB_CACHE,
        probe_network=lookup(dpath="mteb/probe_network", within=config),
    script:
        "../scripts/mteb.py"


rule mteb_card:
    input:
        lambda wc: expand(
            "results/mteb/{model}/{task}.json", model=wc.model, task=eval_plan.mteb_tasks(config)
        ),
    output:
        "results/mteb/{model}/README.md",
    log:
        "logs/mteb_card/{model}.log",
    wildcard_constraints:
        model=_MODEL_RE,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("mteb_card", 1)
    resources:
        **res("mteb_card", mem_mb=1024, runtime=5),
    script:
        "../scripts/mteb_card.py"


rule publish_model:
    input:
        model="results/models/{name}",
        card="results/mteb/{name}/README.md",
    output:
        directory("results/published/{name}"),
    log:
        "logs/publish_model/{name}.log",
    wildcard_constraints:
        name="|".join(re.escape(n) for n in config["finetune"]) or "(?!)",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("publish_model", 1)
    resources:
        **res("publish_model", mem_mb=1024, runtime=10),
    script:
        "../scripts/publish_model.py"
