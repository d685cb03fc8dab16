# Detection stage, as surveys do it: epochs of real ~1"/px survey fields with simulated
# movers around the survey limit and single-frame artefacts, difference images, sep
# candidates with stamp triplets and labels; then the CNN on triplets, the forest on
# autoScan-like features and the sequence stage, scored on the test fields.
# See src/asteroid_ml/detection/ and docs/detection.md.


rule detection_candidates:
    input:
        survey=detection_survey_files,
        ephemerides=ephemeris_shards(),
    output:
        candidates="results/detection/candidates.parquet",
        stamps="results/detection/stamps.npy",
        movers="results/detection/movers.parquet",
    log:
        "results/logs/detection/candidates.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/detection.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config_slice("seed", "detection"),
    script:
        "../scripts/detection_candidates.py"


rule evaluate_detection:
    input:
        rules.detection_candidates.output,
    output:
        metrics=expand("results/eval/{model}/metrics.json", model=DETECTION_MODELS),
        scores="results/detection/scores.parquet",
        models=[model_file(m) for m in SAVED_DETECTION_MODELS],
        cards=expand("results/models/{model}/card.json", model=SAVED_DETECTION_MODELS),
    log:
        "results/logs/detection/evaluate.log",
    priority: LONGEST_CHAIN_PRIORITY
    conda:
        "../../envs/detection.yaml"
    # one core: it then runs beside the real catalog's forward runs on a 2-core machine
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        settings=config_slice("seed", "detection"),
    script:
        "../scripts/evaluate_detection.py"


FINAL_OUTPUTS.extend(rules.evaluate_detection.output)
