from embedlab.train.reranker import finetune_reranker
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    finetune_reranker,
    snakemake.params.datasets,
    snakemake.output[0],
    **snakemake.params.args,
    device="auto",
    cache_dir=snakemake.params.cache,
)
