# Cutout stage: plan which sky positions to cut out (rule `cutout_targets`: one target per
# simulated observation plus negatives, grouped by tile into shards), then cut square TAN
# images of the real sky out of the HiPS survey (rule `cutouts`; config survey.location:
# the shipped DSS2 red tiles, an http(s):// or s3:// URL). See src/asteroid_ml/hips/.


rule cutout_targets:
    input:
        ephemerides=ephemeris_shards(),
        survey=survey_properties,
    output:
        "results/cutouts/targets.parquet",
    log:
        "results/logs/cutout_targets/cutout_targets.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/cutouts.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=config_slice(
            "seed", "epoch_jd_tdb", "observations", "survey", "dataset"
        ),
        survey=survey_location(),
    script:
        "../scripts/cutout_targets.py"


rule cutouts:
    input:
        targets="results/cutouts/targets.parquet",
        survey=survey_properties,
    output:
        npy="results/cutouts/shard-{shard}.npy",
        manifest="results/cutouts/shard-{shard}.parquet",
    log:
        "results/logs/cutouts/{shard}.log",
    wildcard_constraints:
        shard=r"\d{4}",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/cutouts.yaml"
    threads: config["survey"]["workers"]
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        settings=config_slice("survey"),
        survey=survey_location(),
    script:
        "../scripts/cutouts.py"


FINAL_OUTPUTS.extend(cutout_shards("npy") + cutout_shards("parquet"))
