# Fine-tuning stage: one model directory per `finetune` entry (backends sentence-transformers, llamaindex,
# autotrain). The directory is written atomically; SentenceTransformer(path) loads it offline.
from embedlab.train.finetune import finetune_inputs, finetune_params, validate_finetune

FINETUNES = config["finetune"]
try:
    validate_finetune(config)
except EmbedlabError as _exc:
    raise WorkflowError(str(_exc)) from None


rule finetune:
    input:
        unpack(lambda wc: finetune_inputs(config, wc.name)),
    output:
        directory("results/models/{name}"),
    log:
        "logs/finetune/{name}.log",
    wildcard_constraints:
        name="|".join(re.escape(n) for n in FINETUNES) or "(?!)",
    conda:
        "../envs/train.yaml"
    threads: threads_of("finetune", 8)
    resources:
        **res("finetune", gpu=1, mem_mb=8000, runtime=240),
    params:
        datasets=lambda wc: FINETUNES[wc.name]["datasets"],
        ft=lambda wc: finetune_params(config, wc.name),
    script:
        "../scripts/finetune.py"
