from pathlib import Path

from asteroid_ml.models.training import train_series
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    train_series(
        snakemake.config,
        snakemake.input.elements,
        list(snakemake.input.forward),
        list(snakemake.input.series),
        Path(snakemake.output.best).parent,
        threads=snakemake.threads,
    )
