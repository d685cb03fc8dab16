from asteroid_ml.simulation.cad_validation import validate_against_cad
from asteroid_ml.workflow_support import rule_logging

with rule_logging(snakemake):
    validate_against_cad(
        snakemake.input.catalog,
        snakemake.input.cad,
        snakemake.output.table,
        snakemake.output.summary,
    )
