from asteroid_ml.evaluation.scoring import eval_summary
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    eval_summary(list(snakemake.input), snakemake.output[0])
