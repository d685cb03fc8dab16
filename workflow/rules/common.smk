# Included first by the Snakefile and shared by every stage file. It holds config validation, the one definition of every
# results path, shard lists, and the list of final outputs.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
# The package is importable even when snakemake runs outside the project's .venv.
sys.path.insert(0, str(REPO / "src"))

from asteroid_ml.config import validate_config
from asteroid_ml.workflow_support import export_source_path

# Validate against workflow/schemas/config.schema.yaml before any job is planned.
# (Our validate() reports every problem at once as `dotted.key: reason` and fills
# the schema's defaults, like snakemake.utils.validate(set_default=True).)
config.update(validate_config(config, source="workflow config"))

# Jobs (local, SLURM, conda environments) import the package from this checkout.
export_source_path(REPO / "src")
POPULATIONS = ["impactor", "background"]

# Final products of each stage; rule `all` requests them all.
FINAL_OUTPUTS = []


def config_slice(*keys):
    """The config sections a rule reads (dotted keys), declared as its ``settings`` param.

    Snakemake reruns a job when its params change, so editing any of these
    sections (e.g. simulation.impactor.window_end_years) reruns the rules that
    read it and everything downstream, and nothing else.
    """
    sections = {}
    for key in keys:
        value = config
        for part in key.split("."):
            value = value[part]
        sections[key] = value
    return sections


# Trainer settings shared by the two Lightning models.
TRAINER_KEYS = (
    "training.precision",
    "training.accelerator",
    "training.deterministic",
    "training.num_workers",
)


def repo_file(relative):
    """A file shipped with the repository (resources/, config/), as an absolute path.

    Marked local() so that it is read from the checkout even when the default
    storage provider (S3 on AWS Batch) holds the results.
    """
    return local(str(REPO / relative))


def survey_location():
    """The HiPS survey: URLs as given, relative folders against the repository."""
    location = config["survey"]["location"]
    if "://" in location or Path(location).is_absolute():
        return location
    return str(REPO / location)


def shard_ids(n):
    return [f"{i:04d}" for i in range(n)]


# Simulation shards per population: results/sim/{population}/shard-{shard}.parquet
SIM_SHARDS = {
    pop: shard_ids(config["simulation"][pop]["shards"]) for pop in POPULATIONS
}
# Cutout extraction shards: results/cutouts/shard-{shard}.npy (+ .parquet)
CUTOUT_SHARDS = shard_ids(config["survey"]["shards"])


def sim_shards(population):
    return expand(
        "results/sim/{population}/shard-{shard}.parquet",
        population=population,
        shard=SIM_SHARDS[population],
    )


def ephemeris_shards():
    return [
        f"results/ephemerides/{pop}/shard-{shard}.parquet"
        for pop in POPULATIONS
        for shard in SIM_SHARDS[pop]
    ]


def all_sim_shards():
    return [
        f"results/sim/{pop}/shard-{shard}.parquet"
        for pop in POPULATIONS
        for shard in SIM_SHARDS[pop]
    ]


def cutout_shards(ext):
    return [f"results/cutouts/shard-{shard}.{ext}" for shard in CUTOUT_SHARDS]
