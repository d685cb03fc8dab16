from asteroid_ml.simulation.populations import simulate_shard
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    simulate_shard(
        snakemake.config,
        snakemake.wildcards.population,
        int(snakemake.wildcards.shard),
        snakemake.output[0],
    )
