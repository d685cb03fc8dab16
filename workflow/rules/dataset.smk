# Dataset stage: inject the simulated asteroids and the hard negatives into the real
# cutouts, split by object and store (rule `assemble_dataset`). See src/asteroid_ml/dataset/.


DATASET_OUTPUTS = [
    "results/dataset/train.npy",
    "results/dataset/val.npy",
    "results/dataset/test.npy",
    "results/dataset/manifest.parquet",
    "results/dataset/elements.parquet",
    "results/dataset/card.json",
]


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
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/cutouts.yaml"
    # worker processes, as many as a cutout job's; the output bytes do not depend on them
    threads: config["survey"]["workers"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("seed", "observations", "survey", "dataset"),
    script:
        "../scripts/assemble_dataset.py"


FINAL_OUTPUTS.extend(DATASET_OUTPUTS)
