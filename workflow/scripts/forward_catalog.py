from asteroid_ml.simulation.forward import forward_catalog
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    forward_catalog(
        snakemake.config,
        snakemake.input.catalog,
        int(snakemake.wildcards.shard),
        snakemake.output.table,
        snakemake.output.series,
        snakemake.output.track,
    )
