from pathlib import Path

import torch

from asteroid_ml.frames.evaluate import frame_set_summary
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    torch.set_num_threads(snakemake.threads)
    frame_set_summary(
        snakemake.config,
        snakemake.wildcards.frameset,
        snakemake.input.model,
        list(snakemake.input.ephemerides),
        Path(snakemake.output.figure).parent,
    )
