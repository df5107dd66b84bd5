from embedlab.evaluation.compression import evaluate_variants
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    evaluate_variants,
    snakemake.input.val,
    snakemake.input.chunks,
    snakemake.output.summary,
    snakemake.output.queries,
    spec=p.spec,
    dims=p.settings.dims,
    precisions=p.settings.precisions,
    rescore_multiplier=p.settings.rescore_multiplier,
    latency_queries=p.latency_queries,
    corpus=snakemake.wildcards.corpus,
    lang=snakemake.wildcards.lang,
    ks=p.ks,
    bootstrap_samples=p.bootstrap,
    seed=p.seed,
    device=p.device,
    cache_dir=p.cache,
)
