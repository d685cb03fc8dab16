# Figures stage: one rule per paper figure, made from the table below. Rule figure_{name}
# writes results/figures/{name}.png and .pdf with the generic script
# workflow/scripts/figure.py (the drawing lives in src/asteroid_ml/figures/). Every figure
# is marked report() with its caption in workflow/report/{name}.rst, so
# `snakemake --report` collects them all. (One rule per figure rather than one wildcard
# rule: report captions cannot contain wildcards.)

# name: report section, named inputs (the keys the figure's loader reads), memory (MB),
# runtime (min), extra params.
FIGURES = {
    "orbital_elements": (
        "simulation",
        {"sim": all_sim_shards(), "neos": repo_file("resources/neo/neos-2020.csv")},
        4000,
        10,
        {},
    ),
    "close_approach_validation": (
        "simulation",
        {"comparison": "results/validation/cad_comparison.parquet"},
        1000,
        5,
        {},
    ),
    "clone_calibration": (
        "simulation",
        {"table": "results/validation/cad_uncertainty.csv"},
        1000,
        5,
        {},
    ),
    "sky_map": (
        "dataset",
        {"targets": "results/cutouts/targets.parquet", "properties": survey_properties},
        4000,
        10,
        {"survey": survey_location()},
    ),
    "example_cutouts": (
        "dataset",
        {
            "images": "results/dataset/test.npy",
            "manifest": "results/dataset/manifest.parquet",
        },
        2000,
        5,
        {},
    ),
    "training_curves": (
        "training",
        {
            "metrics": [
                f"results/models/{m}/metrics.csv"
                for m in model_names(framework="lightning")
            ]
        },
        1000,
        5,
        {},
    ),
    "roc_pr": (
        "evaluation",
        {"metrics": eval_files(EVAL_MODELS, "metrics.json")},
        1000,
        5,
        {},
    ),
    "confusion_matrices": (
        "evaluation",
        {"metrics": eval_files(EVAL_MODELS, "metrics.json")},
        1000,
        5,
        {},
    ),
    "score_histograms": (
        "evaluation",
        {
            "metrics": eval_files(EVAL_MODELS, "metrics.json"),
            "predictions": eval_files(EVAL_MODELS, "predictions.parquet"),
        },
        2000,
        5,
        {},
    ),
    "completeness": (
        "evaluation",
        {
            "metrics": eval_files(model_names("detector"), "metrics.json"),
            "predictions": eval_files(model_names("detector"), "predictions.parquet"),
        },
        2000,
        5,
        {},
    ),
    "hazard": (
        "real_neos",
        {
            "summary": "results/eval/real_catalog_summary.csv",
            "scores": "results/eval/real_catalog_scores.parquet",
            "forward": [
                f"results/forward/catalog/shard-{s}.parquet"
                for s in shard_ids(config["hazard"]["catalog_shards"])
            ],
        },
        2000,
        5,
        {},
    ),
    "detection_completeness": (
        "detection",
        {"metrics": eval_files(["detector_cnn", "detector_rf"], "metrics.json")},
        1000,
        5,
        {},
    ),
    "impactor_visibility": (
        "detection",
        {
            "ephemerides": ephemeris_shards(),
            "sim": all_sim_shards(),
            "metrics": "results/eval/detector_cnn/metrics.json",
        },
        2000,
        5,
        {},
    ),
    "hoi_real_catalog": (
        "real_neos",
        {
            "catalog": "results/eval/hoi_real_catalog.parquet",
            "summary": "results/eval/hoi_real_catalog.json",
        },
        1000,
        5,
        {},
    ),
}


for figure, (
    section,
    figure_inputs,
    figure_mem_mb,
    figure_runtime,
    extra,
) in FIGURES.items():

    rule:
        name:
            f"figure_{figure}"
        input:
            **figure_inputs,
        output:
            png=figure_output(figure, "png", section),
            pdf=figure_output(figure, "pdf", section),
        log:
            f"results/logs/figures/{figure}.log",
        conda:
            "../../envs/figures.yaml"
        threads: 1
        resources:
            mem_mb=figure_mem_mb,
            runtime=figure_runtime,
        params:
            **extra,
            settings=config_slice("figures"),
            name=figure,
        script:
            "../scripts/figure.py"


FINAL_OUTPUTS.extend(
    f"results/figures/{name}.{fmt}" for name in FIGURES for fmt in ("png", "pdf")
)
