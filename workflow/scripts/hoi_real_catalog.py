from asteroid_ml.evaluation.real_catalog import hoi_real_catalog
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    hoi_real_catalog(
        snakemake.config,
        snakemake.input.model,
        snakemake.input.metrics,
        snakemake.input.catalog,
        snakemake.output.parquet,
        snakemake.output.json,
        threads=snakemake.threads,
    )
