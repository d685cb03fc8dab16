# Hazard stage: what physics can say about each object's future. Forward runs of the
# simulated objects (one per simulation shard) and of the real NEO catalog over the impact
# window with the population engine (Earth MOID sampled along the way, Earth encounters
# from the code's record), then every impactor model and MOID baseline on the real catalog
# against the PHA flag and the physics label, and the future close approachers checked with
# the precise propagator. See src/asteroid_ml/simulation/forward.py and
# src/asteroid_ml/evaluation/hazard.py.


rule forward_simulated:
    input:
        "results/sim/{population}/shard-{shard}.parquet",
    output:
        table="results/forward/{population}/shard-{shard}.parquet",
        series="results/forward/{population}/series-{shard}.npy",
        track="results/forward/{population}/track-{shard}.npy",
    log:
        "results/logs/forward_simulated/{population}-{shard}.log",
    wildcard_constraints:
        population="impactor|background",
        shard=r"\d{4}",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        settings=forward_settings(config),
    script:
        "../scripts/forward_simulated.py"


rule forward_catalog:
    input:
        catalog=repo_file("resources/neo/neos-2020.csv"),
    output:
        table="results/forward/catalog/shard-{shard}.parquet",
        series="results/forward/catalog/series-{shard}.npy",
        track="results/forward/catalog/track-{shard}.npy",
    log:
        "results/logs/forward_catalog/{shard}.log",
    wildcard_constraints:
        shard=r"\d{4}",
    priority: CATALOG_RUN_PRIORITY
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        settings=forward_settings(config),
    script:
        "../scripts/forward_catalog.py"


rule real_catalog_summary:
    input:
        unpack(real_catalog_inputs),
    output:
        summary=report(
            "results/eval/real_catalog_summary.csv",
            caption="../report/real_catalog_summary.rst",
            category="5. Real NEOs",
            subcategory="Models and MOID baselines",
        ),
        scores="results/eval/real_catalog_scores.parquet",
        approachers=report(
            "results/eval/future_approachers.csv",
            caption="../report/future_approachers.rst",
            category="5. Real NEOs",
            subcategory="Future close approachers",
        ),
    log:
        "results/logs/real_catalog_summary/real_catalog_summary.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings={
            "epoch_jd_tdb": config["epoch_jd_tdb"],
            "hazard": forward_settings(config)["hazard"],
            "evaluation": config["evaluation"],
        },
    script:
        "../scripts/real_catalog_summary.py"


rule approacher_clones:
    input:
        catalog=repo_file("resources/neo/neos-2020.csv"),
        approachers="results/eval/future_approachers.csv",
    output:
        report(
            "results/eval/approacher_clones.csv",
            caption="../report/approacher_clones.rst",
            category="5. Real NEOs",
            subcategory="Future close approachers",
        ),
    log:
        "results/logs/approacher_clones/approacher_clones.log",
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("seed", "epoch_jd_tdb", "simulation", "hazard"),
    script:
        "../scripts/approacher_clones.py"


rule hazard_ranking:
    input:
        unpack(hazard_ranking_inputs),
    output:
        table=report(
            "results/eval/hazard_ranking.csv",
            caption="../report/hazard_ranking.rst",
            category="5. Real NEOs",
            subcategory="Hazard ranking",
        ),
        model="results/models/hazard_ranking/model.joblib",
    log:
        "results/logs/hazard_ranking/hazard_ranking.log",
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("seed", "epoch_jd_tdb", "simulation", "hazard"),
    script:
        "../scripts/hazard_ranking.py"


FINAL_OUTPUTS.extend(
    [
        "results/eval/real_catalog_summary.csv",
        "results/eval/real_catalog_scores.parquet",
        "results/eval/future_approachers.csv",
        "results/eval/hazard_ranking.csv",
        "results/eval/approacher_clones.csv",
    ]
)
