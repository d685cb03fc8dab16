# Cutout stage: square TAN images of the real sky cut out of the HiPS survey
# (config survey.location: the shipped DSS2 red tiles, an http(s):// or s3:// URL).
# Rule `cutout_targets` (which rows go to which shard, grouped by tile) belongs to
# dataset.smk; this file extracts each shard. See src/asteroid_ml/hips/.


rule cutouts:
    input:
        targets="results/cutouts/targets.parquet",
        # The survey's properties file when it is a local folder (URLs are not tracked).
        survey=lambda wildcards: (
            []
            if "://" in survey_location()
            else [local(str(Path(survey_location()) / "properties"))]
        ),
    output:
        npy="results/cutouts/shard-{shard}.npy",
        manifest="results/cutouts/shard-{shard}.parquet",
    log:
        "results/logs/cutouts/{shard}.log",
    wildcard_constraints:
        shard=r"\d{4}",
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
