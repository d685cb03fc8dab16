# Definitions used by figures.smk, kept in their own file so that figures.smk holds only
# rules: which models each figure reads, the report section of each figure, and the
# report()-marked output paths.

FIGURE_MODELS = ["detector_cnn", "detector_rf", "impactor_mlp", "impactor_rf"]
FIGURE_DETECTORS = ["detector_cnn", "detector_rf"]
FIGURE_LIGHTNING = ["detector_cnn", "impactor_mlp"]
# Report sections, in the order of the workflow.
FIGURE_CATEGORIES = {
    "orbital_elements": "1. Simulation",
    "close_approach_validation": "1. Simulation",
    "sky_map": "2. Data set",
    "example_cutouts": "2. Data set",
    "training_curves": "3. Training",
    "roc_pr": "4. Evaluation",
    "confusion_matrices": "4. Evaluation",
    "score_histograms": "4. Evaluation",
    "completeness": "4. Evaluation",
    "hoi_real_catalog": "5. Real NEOs",
}


def figure_output(name, fmt):
    """results/figures/{name}.{fmt}, marked for the report with the figure's caption."""
    return report(
        f"results/figures/{name}.{fmt}",
        caption=f"../report/{name}.rst",
        category=FIGURE_CATEGORIES[name],
        subcategory=name.replace("_", " ").capitalize(),
        labels={"figure": name.replace("_", " "), "format": fmt.upper()},
    )


def figures_survey_inputs(wildcards):
    """The survey's properties file when it is a local folder (URLs are not tracked)."""
    location = survey_location()
    if "://" in location:
        return []
    return [local(str(Path(location) / "properties"))]


def eval_files(models, filename):
    return [f"results/eval/{model}/{filename}" for model in models]
