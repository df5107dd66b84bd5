from embedlab.evaluation.hybrid import evaluate_hybrid
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    evaluate_hybrid,
    snakemake.input.val,
    snakemake.input.train,
    snakemake.input.chunks,
    snakemake.output.summary,
    snakemake.output.queries,
    spec=p.spec,
    members=p.members,
    corpus=snakemake.wildcards.corpus,
    lang=snakemake.wildcards.lang,
    ks=p.ks,
    bootstrap_samples=p.bootstrap,
    seed=p.seed,
    device=p.device,
    cache_dir=p.cache,
    latency_queries=p.latency_queries,
    questions=getattr(snakemake.input, "questions", None),
)
