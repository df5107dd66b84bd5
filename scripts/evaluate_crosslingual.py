from embedlab.evaluation.crosslingual import evaluate_crosslingual
from embedlab.workflow.run_rule import run_rule

p, w = snakemake.params, snakemake.wildcards
run_rule(
    snakemake,
    evaluate_crosslingual,
    snakemake.input.val,
    snakemake.input.src_chunks,
    snakemake.input.tgt_chunks,
    snakemake.output.summary,
    snakemake.output.queries,
    p.spec,
    corpus=w.corpus,
    src=w.src,
    tgt=w.tgt,
    options=p.options,
)
