# Shared by every rule file: config validation, the one definition of every
# results path, shard lists, and the list of final outputs.
from pathlib import Path

from asteroid_ml.config import validate_config


# Validate before any job is planned: a bad config stops here with the dotted key.
config.update(validate_config(config, source="workflow config"))

REPO = Path(workflow.basedir)
POPULATIONS = ["impactor", "background"]

# Final products of each stage; rule `all` requests them all.
FINAL_OUTPUTS = []


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
SIM_SHARDS = {pop: shard_ids(config["simulation"][pop]["shards"]) for pop in POPULATIONS}
# Cutout extraction shards: results/cutouts/shard-{shard}.npy (+ .parquet)
CUTOUT_SHARDS = shard_ids(config["survey"]["shards"])


def sim_shards(population):
    return expand("results/sim/{population}/shard-{shard}.parquet", population=population, shard=SIM_SHARDS[population])


def ephemeris_shards():
    return [
        f"results/ephemerides/{pop}/shard-{shard}.parquet" for pop in POPULATIONS for shard in SIM_SHARDS[pop]
    ]


def all_sim_shards():
    return [f"results/sim/{pop}/shard-{shard}.parquet" for pop in POPULATIONS for shard in SIM_SHARDS[pop]]


def cutout_shards(ext):
    return [f"results/cutouts/shard-{shard}.{ext}" for shard in CUTOUT_SHARDS]
