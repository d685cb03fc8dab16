# Helpers of evaluate.smk (kept apart: Snakemake lint wants rules and functions separate).

EVAL_MODELS = ["detector_cnn", "detector_rf", "impactor_mlp", "impactor_rf"]


def model_file(model):
    """The file a trained model is loaded from."""
    name = "model.joblib" if model.endswith("_rf") else "best.ckpt"
    return f"results/models/{model}/{name}"


def evaluate_inputs(wildcards):
    inputs = {"model": model_file(wildcards.model)}
    if wildcards.model.startswith("detector"):
        inputs.update(
            test="results/dataset/test.npy", manifest="results/dataset/manifest.parquet"
        )
    else:
        inputs["elements"] = "results/dataset/elements.parquet"
    return inputs
