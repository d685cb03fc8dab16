# Dataset stage: plan the sky cutouts (rule `cutout_targets`; the extraction itself is
# rule `cutouts` in cutouts.smk), then inject the simulated asteroids and the hard
# negatives into the real cutouts, split by object and store (rule `assemble_dataset`).
# See src/asteroid_ml/dataset/.


DATASET_OUTPUTS = [
    "results/dataset/train.npy",
    "results/dataset/val.npy",
    "results/dataset/test.npy",
    "results/dataset/manifest.parquet",
    "results/dataset/elements.parquet",
    "results/dataset/card.json",
]


rule cutout_targets:
    input:
        ephemerides=ephemeris_shards(),
        # the survey's properties file when it is a local folder (URLs are not tracked)
        survey=lambda wildcards: (
            []
            if "://" in survey_location()
            else [local(str(Path(survey_location()) / "properties"))]
        ),
    output:
        "results/cutouts/targets.parquet",
    log:
        "results/logs/cutout_targets/cutout_targets.log",
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


rule assemble_dataset:
    input:
        targets="results/cutouts/targets.parquet",
        cutouts=cutout_shards("npy"),
        cutout_manifests=cutout_shards("parquet"),
        ephemerides=ephemeris_shards(),
        sims=all_sim_shards(),
    output:
        DATASET_OUTPUTS,
    log:
        "results/logs/assemble_dataset/assemble_dataset.log",
    conda:
        "../../envs/cutouts.yaml"
    # worker processes; the output bytes do not depend on their number
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("seed", "observations", "survey", "dataset"),
    script:
        "../scripts/assemble_dataset.py"


FINAL_OUTPUTS.extend(DATASET_OUTPUTS)
