from pathlib import Path

from asteroid_ml.models.training import train_impactor
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    train_impactor(
        snakemake.config,
        snakemake.input.elements,
        Path(snakemake.output.best).parent,
        threads=snakemake.threads,
    )
