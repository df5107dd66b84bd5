# Evaluation stage: retrieval metrics per model x corpus x language (and across languages), the tutorial's
# evaluators as cross-checks, paired model comparisons, and MTEB (custom val-split tasks + standard tasks).
from embedlab.workflow import plan as eval_plan

EVAL = config.get("evaluation", {})
MTEB_CFG = config.get("mteb", {})
EVAL_KS = EVAL.get("ks", [1, 3, 5, 10])
EMB_CACHE = EVAL.get("cache", {}).get("dir", "results/cache/embeddings") if EVAL.get("cache", {}).get("enabled", True) else None
MTEB_CUSTOM = eval_plan.mteb_custom_tasks(config)
_MODEL_RE = "|".join(re.escape(m) for m in sorted({*eval_plan.eval_models(config), *eval_plan.mteb_models(config)})) or "(?!)"


rule evaluate:
    input:
        val="results/qa/{corpus}/{lang}/val.json",
        chunks="results/chunks/{corpus}/{lang}.json",
        model=lambda wc: eval_plan.model_inputs(config, wc.model),
    output:
        summary="results/eval/{model}/{corpus}/{lang}.csv",
        queries="results/eval/{model}/{corpus}/{lang}.queries.csv",
    wildcard_constraints:
        model=_MODEL_RE,
    params:
        spec=lambda wc: eval_plan.spec_of(config, wc.model).to_json(),
        ks=EVAL_KS,
        bootstrap=EVAL.get("bootstrap_samples", 1000),
        seed=config["seed"],
        device=EVAL.get("device", "auto"),
        cache=EMB_CACHE,
        exact_max_corpus=EVAL.get("exact_max_corpus", 200000),
    log:
        "logs/evaluate/{model}/{corpus}/{lang}.log",
    threads: threads_of("evaluate", 2)
    resources:
        **res(
            "evaluate",
            gpu=lambda wc: eval_plan.gpus_for(config, wc.model),
            mem_mb=lambda wc: eval_plan.mem_mb_for(config, wc.model),
            runtime=120,
        ),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/evaluate.py"


rule evaluate_crosslingual:
    input:
        val="results/qa/{corpus}/{src}/val.json",
        src_chunks="results/chunks/{corpus}/{src}.json",
        tgt_chunks="results/chunks/{corpus}/{tgt}.json",
        model=lambda wc: eval_plan.model_inputs(config, wc.model),
    output:
        summary="results/eval/{model}/{corpus}/{src}-{tgt}.csv",
        queries="results/eval/{model}/{corpus}/{src}-{tgt}.queries.csv",
    wildcard_constraints:
        model=_MODEL_RE,
        src="[a-z]{2,3}",
        tgt="[a-z]{2,3}",
    params:
        spec=lambda wc: eval_plan.spec_of(config, wc.model).to_json(),
        ks=EVAL_KS,
        bootstrap=EVAL.get("bootstrap_samples", 1000),
        seed=config["seed"],
        device=EVAL.get("device", "auto"),
        cache=EMB_CACHE,
    log:
        "logs/evaluate_crosslingual/{model}/{corpus}/{src}-{tgt}.log",
    threads: threads_of("evaluate_crosslingual", 2)
    resources:
        **res(
            "evaluate_crosslingual",
            gpu=lambda wc: eval_plan.gpus_for(config, wc.model),
            mem_mb=lambda wc: eval_plan.mem_mb_for(config, wc.model),
            runtime=120,
        ),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/evaluate_crosslingual.py"


rule crosscheck:
    input:
        val="results/qa/{corpus}/{lang}/val.json",
        model=lambda wc: eval_plan.model_inputs(config, wc.model),
    output:
        report="results/eval/{model}/{corpus}/{lang}.crosscheck.json",
        st_csv="results/eval/{model}/{corpus}/{lang}.ir_evaluator.csv",
    wildcard_constraints:
        model=_MODEL_RE,
    params:
        spec=lambda wc: eval_plan.spec_of(config, wc.model).to_json(),
        evaluators=EVAL.get("cross_check", []),
        ks=EVAL_KS,
        device=EVAL.get("device", "auto"),
        cache=EMB_CACHE,
    log:
        "logs/crosscheck/{model}/{corpus}/{lang}.log",
    threads: threads_of("crosscheck", 2)
    resources:
        **res(
            "crosscheck",
            gpu=lambda wc: eval_plan.gpus_for(config, wc.model),
            mem_mb=lambda wc: eval_plan.mem_mb_for(config, wc.model),
            runtime=240,
        ),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/crosscheck.py"


rule compare:
    input:
        a="results/eval/{a}/{corpus}/{lang}.queries.csv",
        b="results/eval/{b}/{corpus}/{lang}.queries.csv",
    output:
        "results/eval/compare/{a}__vs__{b}/{corpus}/{lang}.json",
    wildcard_constraints:
        a=_MODEL_RE,
        b=_MODEL_RE,
    params:
        metric=EVAL.get("compare_metric", "mrr@10"),
        samples=EVAL.get("compare_samples", 10000),
        seed=config["seed"],
    log:
        "logs/compare/{a}__vs__{b}/{corpus}/{lang}.log",
    threads: threads_of("compare", 1)
    resources:
        **res("compare", mem_mb=1024, runtime=10),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/compare.py"


rule mteb:
    input:
        val=lambda wc: eval_plan.mteb_val_input(config, wc.task),
        model=lambda wc: eval_plan.model_inputs(config, wc.model),
    output:
        "results/mteb/{model}/{task}.json",
    wildcard_constraints:
        model=_MODEL_RE,
        task="[A-Za-z0-9_.-]+",
    params:
        spec=lambda wc: eval_plan.spec_of(config, wc.model).to_json(),
        custom=lambda wc: MTEB_CUSTOM.get(wc.task),
        filters={k: MTEB_CFG.get(k) for k in ("languages", "eval_splits", "task_types", "categories")},
        device=EVAL.get("device", "auto"),
        cache=EMB_CACHE,
        probe_network=MTEB_CFG.get("probe_network", True),
    log:
        "logs/mteb/{model}/{task}.log",
    threads: threads_of("mteb", 2)
    resources:
        **res(
            "mteb",
            gpu=lambda wc: eval_plan.gpus_for(config, wc.model),
            mem_mb=lambda wc: eval_plan.mem_mb_for(config, wc.model),
            runtime=480,
        ),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/mteb.py"


rule mteb_card:
    input:
        lambda wc: expand("results/mteb/{model}/{task}.json", model=wc.model, task=eval_plan.mteb_tasks(config)),
    output:
        "results/mteb/{model}/README.md",
    wildcard_constraints:
        model=_MODEL_RE,
    log:
        "logs/mteb_card/{model}.log",
    threads: threads_of("mteb_card", 1)
    resources:
        **res("mteb_card", mem_mb=1024, runtime=5),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/mteb_card.py"


rule publish_model:
    input:
        model="results/models/{name}",
        card="results/mteb/{name}/README.md",
    output:
        directory("results/published/{name}"),
    wildcard_constraints:
        name="|".join(re.escape(n) for n in config.get("finetune") or {}) or "(?!)",
    log:
        "logs/publish_model/{name}.log",
    threads: threads_of("publish_model", 1)
    resources:
        **res("publish_model", mem_mb=1024, runtime=10),
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/publish_model.py"
