from asteroid_ml.evaluation.hazard import real_catalog_summary
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    inputs = snakemake.input
    real_catalog_summary(
        snakemake.config,
        inputs.catalog,
        list(inputs.forward),
        list(inputs.series),
        {k[len("model_") :]: v for k, v in inputs.items() if k.startswith("model_")},
        {k[len("metrics_") :]: v for k, v in inputs.items() if k.startswith("metrics_")},
        snakemake.output.summary,
        snakemake.output.scores,
        snakemake.output.approachers,
        threads=snakemake.threads,
    )
