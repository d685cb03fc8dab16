from asteroid_ml.models.baselines import train_impactor_baseline
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    train_impactor_baseline(
        snakemake.config, snakemake.input.elements, snakemake.output[0], threads=snakemake.threads
    )
