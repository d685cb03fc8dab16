"""results/summary.md from hand-made tables: values, intervals and the data label of each section."""

from __future__ import annotations

import json

import pandas as pd

from asteroid_ml.evaluation.metrics import wilson_interval
from asteroid_ml.evaluation.summary import summary_markdown


def test_summary_quotes_values_and_intervals(tmp_path):
    (tmp_path / "cad.json").write_text(json.dumps({
        "n": 200, "fraction_within_1min": 0.99, "median_rel_dist_err": 1e-6,
        "p95_rel_dist_err": 2e-5,
    }))  # fmt: skip
    pd.DataFrame({"model": ["impactor_mlp", "impactor_moid_now"], "task": "impactor", "n": 40,
                  "roc_auc": [0.8123, 0.7], "recall_at_threshold": [0.9, 1.0],
                  "fdr_at_target_recall": [0.5, 0.6]}).to_csv(tmp_path / "s.csv", index=False)  # fmt: skip
    metrics = []
    for model in ("impactor_mlp", "impactor_moid_now"):
        (tmp_path / model).mkdir()
        path = tmp_path / model / "metrics.json"
        path.write_text(json.dumps({"per_class": {"1": {"support": 20}}}))
        metrics.append(path)
    text = summary_markdown({"cad_summary": tmp_path / "cad.json",
                             "eval_summary": tmp_path / "s.csv", "metrics": metrics})  # fmt: skip
    low, high = wilson_interval(198, 200)
    assert f"| approaches within 1 min of JPL's time | 0.99 | {low:.3g}-{high:.3g} | 200 |" in text
    assert "*Real data: JPL's close-approach table of 2020.*" in text
    low, high = wilson_interval(18, 20)
    assert f"| impactor_mlp | 40 | 20 | 0.812 | 0.9 | {low:.3g}-{high:.3g} | 0.5 |" in text
    assert "## Impactor models on the simulated test split\n\n*Simulation.*" in text
    # stages this config does not run have no section
    assert "Hazard ranking" not in text and "real frames" not in text
    assert "`.venv/bin/snakemake --cores all results/eval/summary.csv`" in text
