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
    options=p.options,
    questions=getattr(snakemake.input, "questions", None),
)
