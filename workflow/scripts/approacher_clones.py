from asteroid_ml.simulation.clones import write_approacher_clones
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    write_approacher_clones(
        snakemake.config, snakemake.input.catalog, snakemake.input.approachers, snakemake.output[0]
    )
