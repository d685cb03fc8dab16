from pathlib import Path

from asteroid_ml.dataset.assemble import assemble_dataset
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    assemble_dataset(
        snakemake.config,
        snakemake.input.targets,
        list(snakemake.input.cutouts),
        list(snakemake.input.cutout_manifests),
        list(snakemake.input.ephemerides),
        list(snakemake.input.sims),
        Path(snakemake.output[0]).parent,  # all outputs share one folder
        workers=snakemake.threads,
    )
