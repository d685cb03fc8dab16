from asteroid_ml.simulation.forward import forward_simulated
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    forward_simulated(
        snakemake.config,
        snakemake.input[0],
        snakemake.output.table,
        snakemake.output.series,
        snakemake.output.track,
    )
