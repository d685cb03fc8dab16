from asteroid_ml.hips.targets import plan_cutout_targets
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    plan_cutout_targets(
        snakemake.config,
        list(snakemake.input.ephemerides),
        snakemake.output[0],
        snakemake.params.survey,
    )
