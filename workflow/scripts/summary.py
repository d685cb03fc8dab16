from asteroid_ml.evaluation.summary import write_summary
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    inputs = {key: snakemake.input[key] for key in snakemake.input.keys()}
    write_summary(inputs, snakemake.output[0])
