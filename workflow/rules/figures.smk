# Figures stage: one rule per paper figure, each writing results/figures/{name}.png and
# .pdf with the generic script workflow/scripts/figure.py (the figure name is a param;
# the drawing lives in src/asteroid_ml/figures.py). Every figure is marked report() with
# its caption in workflow/report/{name}.rst, so `snakemake --report` collects them all.


include: "figures_common.smk"


rule figure_orbital_elements:
    input:
        sim=all_sim_shards(),
        neos=repo_file("resources/neo/neos-2020.csv"),
    output:
        png=figure_output("orbital_elements", "png"),
        pdf=figure_output("orbital_elements", "pdf"),
    log:
        "results/logs/figures/orbital_elements.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=config_slice("figures"),
        name="orbital_elements",
    script:
        "../scripts/figure.py"


rule figure_close_approach_validation:
    input:
        comparison="results/validation/cad_comparison.parquet",
    output:
        png=figure_output("close_approach_validation", "png"),
        pdf=figure_output("close_approach_validation", "pdf"),
    log:
        "results/logs/figures/close_approach_validation.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="close_approach_validation",
    script:
        "../scripts/figure.py"


rule figure_sky_map:
    input:
        targets="results/cutouts/targets.parquet",
        properties=figures_survey_inputs,
    output:
        png=figure_output("sky_map", "png"),
        pdf=figure_output("sky_map", "pdf"),
    log:
        "results/logs/figures/sky_map.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=config_slice("figures"),
        name="sky_map",
        survey=survey_location(),
    script:
        "../scripts/figure.py"


rule figure_example_cutouts:
    input:
        images="results/dataset/test.npy",
        manifest="results/dataset/manifest.parquet",
    output:
        png=figure_output("example_cutouts", "png"),
        pdf=figure_output("example_cutouts", "pdf"),
    log:
        "results/logs/figures/example_cutouts.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="example_cutouts",
    script:
        "../scripts/figure.py"


rule figure_training_curves:
    input:
        metrics=expand("results/models/{model}/metrics.csv", model=FIGURE_LIGHTNING),
    output:
        png=figure_output("training_curves", "png"),
        pdf=figure_output("training_curves", "pdf"),
    log:
        "results/logs/figures/training_curves.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="training_curves",
    script:
        "../scripts/figure.py"


rule figure_roc_pr:
    input:
        metrics=eval_files(FIGURE_MODELS, "metrics.json"),
    output:
        png=figure_output("roc_pr", "png"),
        pdf=figure_output("roc_pr", "pdf"),
    log:
        "results/logs/figures/roc_pr.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="roc_pr",
    script:
        "../scripts/figure.py"


rule figure_confusion_matrices:
    input:
        metrics=eval_files(FIGURE_MODELS, "metrics.json"),
    output:
        png=figure_output("confusion_matrices", "png"),
        pdf=figure_output("confusion_matrices", "pdf"),
    log:
        "results/logs/figures/confusion_matrices.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="confusion_matrices",
    script:
        "../scripts/figure.py"


rule figure_score_histograms:
    input:
        metrics=eval_files(FIGURE_MODELS, "metrics.json"),
        predictions=eval_files(FIGURE_MODELS, "predictions.parquet"),
    output:
        png=figure_output("score_histograms", "png"),
        pdf=figure_output("score_histograms", "pdf"),
    log:
        "results/logs/figures/score_histograms.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="score_histograms",
    script:
        "../scripts/figure.py"


rule figure_completeness:
    input:
        metrics=eval_files(FIGURE_DETECTORS, "metrics.json"),
        predictions=eval_files(FIGURE_DETECTORS, "predictions.parquet"),
    output:
        png=figure_output("completeness", "png"),
        pdf=figure_output("completeness", "pdf"),
    log:
        "results/logs/figures/completeness.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="completeness",
    script:
        "../scripts/figure.py"


rule figure_hoi_real_catalog:
    input:
        catalog="results/eval/hoi_real_catalog.parquet",
        summary="results/eval/hoi_real_catalog.json",
    output:
        png=figure_output("hoi_real_catalog", "png"),
        pdf=figure_output("hoi_real_catalog", "pdf"),
    log:
        "results/logs/figures/hoi_real_catalog.log",
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=config_slice("figures"),
        name="hoi_real_catalog",
    script:
        "../scripts/figure.py"


FINAL_OUTPUTS.extend(
    f"results/figures/{name}.{fmt}"
    for name in FIGURE_CATEGORIES
    for fmt in ("png", "pdf")
)
