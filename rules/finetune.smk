# Fine-tuning stage: one model directory per `finetune` entry (backends sentence-transformers, llamaindex,
# autotrain). The directory is written atomically; SentenceTransformer(path) loads it offline.
# An entry with gpus/nodes > 1 trains data-parallel under torchrun (embedlab.train.distributed) and asks for
# gpus x the rule's per-process GPU and memory, and on several nodes for the nodes (resources.data_parallel).
from embedlab.workflow.resources import data_parallel


rule finetune_model:
    input:
        unpack(lambda wc: plan.finetune_inputs(config, wc.name)),
    output:
        directory(layout.model_dir()),
    log:
        layout.log("finetune_model", "{name}"),
    wildcard_constraints:
        name=one_of(config["finetune"]),
    conda:
        "../envs/train.yaml"
    threads: threads_of("finetune_model", 8)
    resources:
        **res("finetune_model", runtime=240, **data_parallel(config["finetune"], gpu=1, mem_mb=8000)),
    params:
        datasets=lambda wc: [plan.dataset_files(ds) for ds in config["finetune"][wc.name]["datasets"]],
        args=lambda wc: plan.finetune_args(config, wc.name),
    script:
        "../scripts/finetune_model.py"


# A cross-encoder reranker fine-tuned on train.json (negatives mined by its retriever from the training chunks,
# its dev slice selecting the checkpoint): results/rerankers/{name}/, used by evaluation.rerank pipelines.
rule finetune_reranker:
    input:
        train=lambda wc: [plan.dataset_files(ds).train for ds in config["rerankers"][wc.name]["datasets"]],
        val=lambda wc: [plan.dataset_files(ds).val for ds in config["rerankers"][wc.name]["datasets"]],
        chunks=lambda wc: [plan.dataset_files(ds).chunks for ds in config["rerankers"][wc.name]["datasets"]],
        retriever=lambda wc: plan.model_inputs(config, config["rerankers"][wc.name]["retriever"]),
    output:
        directory(layout.reranker_dir()),
    log:
        layout.log("finetune_reranker", "{name}"),
    wildcard_constraints:
        name=one_of(RERANKERS),
    conda:
        "../envs/train.yaml"
    threads: threads_of("finetune_reranker", 8)
    resources:
        **res("finetune_reranker", gpu=1, mem_mb=8000, runtime=240),
    params:
        datasets=lambda wc: [plan.dataset_files(ds) for ds in config["rerankers"][wc.name]["datasets"]],
        args=lambda wc: plan.reranker_args(config, wc.name),
        cache=EMB_CACHE,
    script:
        "../scripts/finetune_reranker.py"


# A fine-tuned model as ONNX (+ dynamic int8), checked against the torch model on its val texts; the export
# joins the registry as {name}.onnx / {name}.onnx-int8 and is evaluated like any model.
rule export_onnx:
    input:
        model=layout.model_dir(),
        val=lambda wc: [plan.dataset_files(ds).val for ds in config["finetune"][wc.name]["datasets"]],
    output:
        directory(layout.onnx_dir()),
    log:
        layout.log("export_onnx", "{name}"),
    wildcard_constraints:
        name=one_of(config["finetune"]),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("export_onnx", 2)
    resources:
        **res("export_onnx", mem_mb=4000, runtime=60),
    params:
        settings=lambda wc: config["finetune"][wc.name]["export_onnx"],
        seed=lookup(dpath="seed", within=config),
        batch_size=lambda wc: plan.spec_of(config, wc.name).batch_size,
    script:
        "../scripts/export_onnx.py"
