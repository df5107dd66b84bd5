from embedlab.evaluation.retrieval import evaluate
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    evaluate,
    snakemake.input.val,
    snakemake.output.summary,
    snakemake.output.queries,
    p.spec,
    chunks_path=snakemake.input.chunks,
    corpus=snakemake.wildcards.corpus,
    lang=snakemake.wildcards.lang,
    options=p.options,
    shard_vectors=list(snakemake.input.shard_vectors),
    shard_meta=list(snakemake.input.shard_meta),
)
