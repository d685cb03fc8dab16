from asteroid_ml.evaluation.ranking import hazard_ranking
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    inputs = snakemake.input
    hazard_ranking(
        snakemake.config,
        {"forward": inputs.sim_forward, "series": inputs.sim_series, "track": inputs.sim_track},
        {"forward": inputs.cat_forward, "series": inputs.cat_series, "track": inputs.cat_track},
        inputs.elements,
        snakemake.output.table,
        snakemake.output.model,
    )
