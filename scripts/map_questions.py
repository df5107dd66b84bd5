from embedlab.data.questions import prepare_questions
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    prepare_questions,
    snakemake.params.source,
    snakemake.input.questions,
    snakemake.input.chunks,
    snakemake.output.real,
    snakemake.output.mapping,
    snakemake.output.train,
    val_fraction=snakemake.params.val_fraction,
    seed=snakemake.params.seed,
)
