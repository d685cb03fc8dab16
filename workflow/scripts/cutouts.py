import os

# cdshealpix (Rust/rayon) sizes its thread pool from this variable at first use.
os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))

from asteroid_ml.hips import extract_shard  # noqa: E402
from asteroid_ml.workflow_support import rule_logging  # noqa: E402

with rule_logging(snakemake):
    extract_shard(
        snakemake.config,
        snakemake.input.targets,
        int(snakemake.wildcards.shard),
        snakemake.output.npy,
        snakemake.output.manifest,
        snakemake.params.survey,
    )
