# Train stage: the Lightning models (CNN detector, impactor MLP) and their scikit-learn
# random-forest baselines. See src/asteroid_ml/models/.
# The Lightning rules declare gpu=1: Snakemake only limits resources given with
# --resources, so a laptop run without a gpu pool still runs them (on the CPU), and a
# GPU profile (--resources gpu=N, or a cluster executor) schedules them onto GPUs.
# An interrupted training run leaves results/models/{model}/work/checkpoints/last.ckpt (not an
# output, so Snakemake keeps it); rerunning the rule resumes from it.


rule train_detector:
    input:
        train="results/dataset/train.npy",
        val="results/dataset/val.npy",
        manifest="results/dataset/manifest.parquet",
    output:
        best="results/models/stamp_cnn/best.ckpt",
        last="results/models/stamp_cnn/last.ckpt",
        metrics="results/models/stamp_cnn/metrics.csv",
    log:
        "results/logs/train_detector/train_detector.log",
    conda:
        "../../envs/ml.yaml"
    # One torch thread: measured faster than two on a 2-core machine as soon as anything else
    # runs (thread contention), and it lets the baselines run beside it under --cores 2.
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=1,
    params:
        settings=config_slice("seed", "training.detector", *TRAINER_KEYS),
    script:
        "../scripts/train_detector.py"


rule train_impactor:
    input:
        elements="results/dataset/elements.parquet",
    output:
        best="results/models/impactor_mlp/best.ckpt",
        last="results/models/impactor_mlp/last.ckpt",
        metrics="results/models/impactor_mlp/metrics.csv",
    log:
        "results/logs/train_impactor/train_impactor.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
        gpu=1,
    params:
        settings=config_slice("seed", "training.impactor", *TRAINER_KEYS),
    script:
        "../scripts/train_impactor.py"


rule train_series:
    input:
        elements="results/dataset/elements.parquet",
        forward=forward_shards(),
        series=forward_shards("series", "npy"),
    output:
        best="results/models/impactor_series/best.ckpt",
        last="results/models/impactor_series/last.ckpt",
        metrics="results/models/impactor_series/metrics.csv",
    log:
        "results/logs/train_series/train_series.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
        gpu=1,
    params:
        settings=config_slice("seed", "training.series", *TRAINER_KEYS),
    script:
        "../scripts/train_series.py"


rule baseline_detector:
    input:
        train="results/dataset/train.npy",
        manifest="results/dataset/manifest.parquet",
    output:
        "results/models/stamp_rf/model.joblib",
    log:
        "results/logs/baseline_detector/baseline_detector.log",
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=config_slice("seed", "training.baselines"),
    script:
        "../scripts/baseline_detector.py"


rule baseline_impactor:
    input:
        elements="results/dataset/elements.parquet",
    output:
        "results/models/impactor_rf/model.joblib",
    log:
        "results/logs/baseline_impactor/baseline_impactor.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=config_slice(
            "seed", "training.baselines", "training.impactor.features"
        ),
    script:
        "../scripts/baseline_impactor.py"
