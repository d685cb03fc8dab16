from pathlib import Path

from asteroid_ml.models.baselines import train_detector_baseline
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    train_detector_baseline(
        snakemake.config,
        Path(snakemake.input.train).parent,
        snakemake.output[0],
        threads=snakemake.threads,
    )
