from pathlib import Path

from asteroid_ml.evaluation.scoring import evaluate_model
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    dataset = snakemake.input.get("manifest") or snakemake.input.get("elements")
    evaluate_model(
        snakemake.config,
        snakemake.wildcards.model,
        snakemake.input.get("model", ""),
        Path(dataset).parent,
        snakemake.output.metrics,
        snakemake.output.predictions,
        threads=snakemake.threads,
        forward_paths=list(snakemake.input.get("forward", [])),
        series_paths=list(snakemake.input.get("series", [])),
    )
