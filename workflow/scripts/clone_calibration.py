from asteroid_ml.simulation.clones import write_calibration
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    write_calibration(
        snakemake.config, snakemake.input.catalog, snakemake.input.cad, snakemake.output.table
    )
