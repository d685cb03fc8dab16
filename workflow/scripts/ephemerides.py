from asteroid_ml.simulation.ephemeris import compute_ephemerides
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    compute_ephemerides(snakemake.config, snakemake.input[0], snakemake.output[0])
