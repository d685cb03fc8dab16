from pathlib import Path

import torch

from asteroid_ml.detection.workflow import evaluate_detection
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    torch.set_num_threads(snakemake.threads)
    evaluate_detection(
        snakemake.config,
        Path(snakemake.input[0]).parent,
        {Path(p).parent.name: p for p in snakemake.output.metrics},
        snakemake.output.scores,
        threads=snakemake.threads,
        models_dir=Path(snakemake.output.cards[0]).parent.parent,
    )
