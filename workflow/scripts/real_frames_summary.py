from asteroid_ml.frames.evaluate import combine_summaries
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    combine_summaries(list(snakemake.input), snakemake.output[0])
