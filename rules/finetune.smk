# Fine-tuning stage: one model directory per `finetune` entry and seed replica (backends sentence-transformers,
# llamaindex, autotrain), and its merges with the base. The directory is written atomically; SentenceTransformer(path) loads it offline.
# An entry with gpus/nodes > 1 trains data-parallel under torchrun (embedlab.train.distributed) and asks for
# gpus x the rule's per-process GPU and memory, and on several nodes for the nodes (resources.data_parallel).
from embedlab.workflow.resources import data_parallel


rule finetune_model:
    input:
        unpack(lambda wc: PLAN.finetune_inputs(wc.name)),
    output:
        directory(layout.model_dir()),
    log:
        layout.log("finetune_model", "{name}"),
    wildcard_constraints:
        name=one_of(PLAN.finetunes),
    # Training and the evaluations of its model are the run's longest chain: start it as soon as its data is
    # ready, ahead of evaluation jobs that can fill the cores around it (issue 27).
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: threads_of("finetune_model", 8)
    resources:
        **res("finetune_model", runtime=240, **data_parallel(PLAN.finetunes, gpu=1, mem_mb=8000)),
    params:
        datasets=lambda wc: PLAN.finetune_datasets(wc.name),
        args=lambda wc: PLAN.finetune_args(wc.name),
    script:
        "../scripts/finetune_model.py"


# A fine-tune merged with its base (finetune.<name>.merge): {name}.merge{w} at a fixed weight (CPU only), and
# {name}.merged at the weight chosen on the dev slice under the forgetting guard (candidates encoded: GPU).
# Seed replicas ({name}.seed{s}) are trained by finetune_model above. merge.json says what went in.
rule merge_model:
    input:
        unpack(lambda wc: PLAN.merge_inputs(wc.name)),
    output:
        directory(layout.model_dir()),
    log:
        layout.log("merge_model", "{name}"),
    wildcard_constraints:
        name=one_of(PLAN.merges),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("merge_model", 1)
    resources:
        **res(
            "merge_model",
            gpu=lambda wc: PLAN.merge_gpus(wc.name),
            mem_mb=8000,
            runtime=120,
        ),
    params:
        job=lambda wc: PLAN.merge_job(wc.name),
        options=EVAL_OPTIONS,
    script:
        "../scripts/merge_model.py"


# A cross-encoder reranker fine-tuned on train.json (negatives mined by its retriever from the training chunks,
# its dev slice selecting the checkpoint): results/rerankers/{name}/, used by evaluation.rerank pipelines.
rule finetune_reranker:
    input:
        train=lambda wc: [f.train for f in PLAN.reranker_datasets(wc.name)],
        val=lambda wc: [f.val for f in PLAN.reranker_datasets(wc.name)],
        chunks=lambda wc: [f.chunks for f in PLAN.reranker_datasets(wc.name)],
        retriever=lambda wc: PLAN.model_inputs(PLAN.rerankers[wc.name]["retriever"]),
    output:
        directory(layout.reranker_dir()),
    log:
        layout.log("finetune_reranker", "{name}"),
    wildcard_constraints:
        name=one_of(PLAN.trained_rerankers),
    conda:
        "../envs/train.yaml"
    threads: threads_of("finetune_reranker", 8)
    resources:
        **res("finetune_reranker", gpu=1, mem_mb=8000, runtime=240),
    params:
        datasets=lambda wc: PLAN.reranker_datasets(wc.name),
        args=lambda wc: PLAN.reranker_args(wc.name),
        cache=EMB_CACHE,
    script:
        "../scripts/finetune_reranker.py"


# A fine-tuned model as ONNX (+ dynamic int8), checked against the torch model on its val texts; the export
# joins the registry as {name}.onnx / {name}.onnx-int8 and is evaluated like any model.
rule export_onnx:
    input:
        model=layout.model_dir(),
        val=lambda wc: [f.val for f in PLAN.finetune_datasets(wc.name)],
    output:
        directory(layout.onnx_dir()),
    log:
        layout.log("export_onnx", "{name}"),
    wildcard_constraints:
        name=one_of(PLAN.finetunes),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("export_onnx", 1)
    resources:
        **res("export_onnx", mem_mb=4000, runtime=60),
    params:
        settings=lambda wc: PLAN.finetunes[wc.name]["export_onnx"],
        seed=PLAN.settings.seed,
        batch_size=lambda wc: PLAN.registry.spec(wc.name).batch_size,
    script:
        "../scripts/export_onnx.py"
