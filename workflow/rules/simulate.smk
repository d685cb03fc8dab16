# Simulation stage: AMUSE population integrations (free N-body, Mercury by default),
# ephemerides at the observation epoch, and the close-approach validation against
# JPL's 2020 Close-Approach Data (precise mode: REBOUND IAS15 with Earth and Moon
# driven by the ephemeris). See src/asteroid_ml/simulation/.


rule simulate:
    output:
        "results/sim/{population}/shard-{shard}.parquet",
    log:
        "results/logs/simulate/{population}-{shard}.log",
    wildcard_constraints:
        population="impactor|background",
        shard=r"\d{4}",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        settings=config_slice("seed", "epoch_jd_tdb", "simulation"),
    script:
        "../scripts/simulate.py"


rule ephemerides:
    input:
        "results/sim/{population}/shard-{shard}.parquet",
    output:
        "results/ephemerides/{population}/shard-{shard}.parquet",
    log:
        "results/logs/ephemerides/{population}-{shard}.log",
    wildcard_constraints:
        population="impactor|background",
        shard=r"\d{4}",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=config_slice("seed", "epoch_jd_tdb", "simulation", "observations"),
    script:
        "../scripts/ephemerides.py"


rule validate_close_approaches:
    input:
        catalog=repo_file("resources/neo/neos-2020.csv"),
        cad=repo_file("resources/neo/cad-2020.json"),
    output:
        table="results/validation/cad_comparison.parquet",
        summary="results/validation/cad_summary.json",
    log:
        "results/logs/validate_close_approaches/validate.log",
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("simulation"),
    script:
        "../scripts/validate_close_approaches.py"


rule clone_calibration:
    input:
        catalog=repo_file("resources/neo/neos-2020.csv"),
        cad=repo_file("resources/neo/cad-2020.json"),
    output:
        table=report(
            "results/validation/cad_uncertainty.csv",
            caption="../report/cad_uncertainty.rst",
            category="1. Simulation",
            subcategory="Orbit uncertainty",
        ),
    log:
        "results/logs/clone_calibration/clone_calibration.log",
    conda:
        "../../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("seed", "epoch_jd_tdb", "hazard.moid_au", "hazard.clones"),
    script:
        "../scripts/clone_calibration.py"


FINAL_OUTPUTS.extend(
    [
        "results/validation/cad_comparison.parquet",
        "results/validation/cad_summary.json",
        "results/validation/cad_uncertainty.csv",
    ]
)
