from pathlib import Path

from asteroid_ml.models.training import train_detector
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    train_detector(
        snakemake.config,
        Path(snakemake.input.train).parent,
        Path(snakemake.output.best).parent,
        threads=snakemake.threads,
    )
