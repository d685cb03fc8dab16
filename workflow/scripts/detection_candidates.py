from pathlib import Path

from asteroid_ml.detection.workflow import make_candidates
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    make_candidates(
        snakemake.config,
        Path(snakemake.input.survey[0]).parent,
        list(snakemake.input.ephemerides),
        Path(snakemake.output.candidates).parent,
    )
