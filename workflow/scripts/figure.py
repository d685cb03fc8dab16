# One script for every figure rule: the figure's name is params.name, its input files are
# the rule's named inputs (see asteroid_ml.figures.FIGURES for the keys each figure reads).
from asteroid_ml.figures.registry import make_figure
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    inputs = dict(snakemake.input.items())
    if "survey" in snakemake.params.keys():
        inputs["survey"] = snakemake.params.survey
    make_figure(
        snakemake.params.name, inputs, snakemake.config, snakemake.output.png, snakemake.output.pdf
    )
