from embedlab.data.split import split_dataset
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    split_dataset,
    snakemake.input.chunks,
    snakemake.input.dataset,
    snakemake.input.provenance,
    snakemake.output.train,
    snakemake.output.val,
    snakemake.output.report,
    snakemake.params.val_fraction,
    snakemake.params.seed,
    real_questions=getattr(snakemake.input, "real", None),
    real_train=getattr(snakemake.input, "real_train", None),
)
