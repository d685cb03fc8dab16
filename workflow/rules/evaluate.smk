# Evaluate stage: every model on the test split (results/eval/{model}/metrics.json and
# predictions.parquet), one summary table, and the impactor classifier applied to the
# real NEO catalog. See src/asteroid_ml/evaluation/.


rule evaluate_model:
    input:
        unpack(evaluate_inputs),
    output:
        metrics="results/eval/{model}/metrics.json",
        predictions="results/eval/{model}/predictions.parquet",
    log:
        "results/logs/evaluate_model/{model}.log",
    wildcard_constraints:
        model="|".join(EVAL_MODELS),
    priority: evaluation_priority
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=config_slice("evaluation"),
    script:
        "../scripts/evaluate_model.py"


rule hoi_real_catalog:
    input:
        model=model_file(config["evaluation"]["hoi_model"]),
        metrics=f"results/eval/{config['evaluation']['hoi_model']}/metrics.json",
        # read beside metrics.json: the held-out recall at the chosen threshold
        predictions=f"results/eval/{config['evaluation']['hoi_model']}/predictions.parquet",
        catalog=repo_file("resources/neo/neos-2020.csv"),
    output:
        parquet="results/eval/hoi_real_catalog.parquet",
        json="results/eval/hoi_real_catalog.json",
    log:
        "results/logs/hoi_real_catalog/hoi_real_catalog.log",
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=config_slice("evaluation"),
    script:
        "../scripts/hoi_real_catalog.py"


rule eval_summary:
    input:
        expand("results/eval/{model}/metrics.json", model=list(MODELS)),
    output:
        "results/eval/summary.csv",
    log:
        "results/logs/eval_summary/eval_summary.log",
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        settings=config_slice("evaluation"),
    script:
        "../scripts/eval_summary.py"


FINAL_OUTPUTS.extend(
    expand(
        "results/eval/{model}/{name}",
        model=EVAL_MODELS,
        name=["metrics.json", "predictions.parquet"],
    )
    + [
        "results/eval/summary.csv",
        "results/eval/hoi_real_catalog.parquet",
        "results/eval/hoi_real_catalog.json",
    ]
)
