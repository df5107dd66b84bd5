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
    ks=p.ks,
    bootstrap_samples=p.bootstrap,
    seed=p.seed,
    device=p.device,
    cache_dir=p.cache,
    latency_queries=p.latency_queries,
    shard_block=p.shard_block,
    index=p.index,
    shard_vectors=list(snakemake.input.shard_vectors),
    shard_meta=list(snakemake.input.shard_meta),
)
