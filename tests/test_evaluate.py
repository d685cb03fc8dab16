"""Evaluation: metric functions against hand-computed values, files per the contract, HOI."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from asteroid_ml.config import load_config
from asteroid_ml.evaluation.metrics import (
    binary_metrics,
    completeness_curve,
    confusion_matrix,
    operating_point,
    per_class_report,
    threshold_at_recall,
    wilson_interval,
)
from asteroid_ml.evaluation.real_catalog import hoi_real_catalog, read_neo_catalog
from asteroid_ml.evaluation.scoring import eval_summary, evaluate_model
from asteroid_ml.models.baselines import train_detector_baseline, train_impactor_baseline
from asteroid_ml.models.synthetic import make_synthetic_dataset

# 4 positives, 6 negatives; scores sorted by hand below.
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
SCORES = np.array([0.9, 0.8, 0.4, 0.3, 0.7, 0.35, 0.2, 0.1, 0.05, 0.01])


def test_threshold_at_recall_by_hand():
    # keep 3 of 4 positives -> third-highest positive score
    assert threshold_at_recall(LABELS, SCORES, 0.75) == 0.4
    # 0.99 of 4 positives -> all 4 -> lowest positive score
    assert threshold_at_recall(LABELS, SCORES, 0.99) == 0.3
    assert threshold_at_recall(LABELS, SCORES, 0.5) == 0.8
    assert threshold_at_recall(LABELS, SCORES, 0.2) == 0.9
    assert math.isnan(threshold_at_recall(np.zeros(3, int), np.ones(3), 0.9))
    with pytest.raises(ValueError, match="target_recall"):
        threshold_at_recall(LABELS, SCORES, 0.0)


def test_operating_point_by_hand():
    # t = 0.4: selected 0.9, 0.8, 0.4 (positives) and 0.7 (negative)
    p = operating_point(LABELS, SCORES, 0.4)
    assert (p["tp"], p["fp"]) == (3, 1)
    assert p["recall"] == 0.75 and p["fdr"] == 0.25 and p["candidate_fraction"] == 0.4
    assert p["false_positive_rate"] == pytest.approx(1 / 6)
    # t = 0.3: + 0.35 (negative) and 0.3 (positive): TP 4, FP 2
    p = operating_point(LABELS, SCORES, 0.3)
    assert (
        p["recall"] == 1.0 and p["fdr"] == pytest.approx(1 / 3) and p["candidate_fraction"] == 0.6
    )


def test_wilson_interval_by_hand():
    # 0 or n successes: the bounds are n / (n + z^2) from the other side
    z2 = 1.959964**2
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))
    # the default run's held-out recall at 0.5: 45 of 51 simulated impactors
    assert wilson_interval(45, 51) == pytest.approx((0.7662, 0.9450), abs=2e-4)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)


def test_confusion_and_per_class_by_hand():
    predicted = (SCORES >= 0.5).astype(int)  # 0.9, 0.8 (TP), 0.7 (FP)
    assert confusion_matrix(LABELS, predicted) == [[5, 1], [2, 2]]
    report = per_class_report(LABELS, predicted)
    assert report["1"].pop("recall_ci95") == pytest.approx(wilson_interval(2, 4))
    assert report["0"].pop("recall_ci95") == pytest.approx(wilson_interval(5, 6))
    assert report["1"] == pytest.approx(
        {"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "support": 4}
    )
    assert report["0"] == pytest.approx(
        {"precision": 5 / 7, "recall": 5 / 6, "f1": 10 / 13, "support": 6}
    )


def test_binary_metrics_by_hand():
    m = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), 0.99, 0.35, "val")
    assert m["roc_auc"] == pytest.approx(0.75)
    # average precision: recall 0.5 at precision 1, recall 1 at precision 2/3
    assert m["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["threshold_at_target_recall"] == 0.35
    assert m["recall_at_threshold"] == 1.0
    assert m["fdr_at_target_recall"] == pytest.approx(1 / 3)
    assert m["candidate_fraction_at_target_recall"] == 0.75
    assert m["roc_curve"]["fpr"][0] == 0 and m["roc_curve"]["tpr"][-1] == 1
    full = binary_metrics(LABELS, SCORES, 0.75, 0.4, "val")
    assert full["threshold_at_target_recall"] == 0.4 and full["fdr_at_target_recall"] == 0.25


def test_no_metric_comes_from_a_threshold_chosen_on_the_scored_set():
    """A hand-built val/test pair whose own 0.75-recall thresholds differ (val 0.6, test 0.4):
    every thresholded key of the test metrics is measured at val's threshold."""
    val_labels, val_scores = np.array([1, 1, 1, 1, 0, 0]), np.array([0.9, 0.8, 0.6, 0.2, 0.5, 0.1])
    test_labels, test_scores = LABELS, SCORES
    val_choice = threshold_at_recall(val_labels, val_scores, 0.75)
    test_choice = threshold_at_recall(test_labels, test_scores, 0.75)
    assert (val_choice, test_choice) == (0.6, 0.4)
    m = binary_metrics(test_labels, test_scores, 0.75, val_choice, "val split")
    point = operating_point(test_labels, test_scores, val_choice)
    assert m["threshold_at_target_recall"] == 0.6 and m["threshold_from"] == "val split"
    assert m["recall_at_threshold"] == point["recall"] == 0.5  # not the 0.75 test would pick
    assert m["fdr_at_target_recall"] == point["fdr"]
    assert m["false_positive_rate_at_target_recall"] == point["false_positive_rate"]
    assert m["candidate_fraction_at_target_recall"] == point["candidate_fraction"]


def test_completeness_curve_by_hand():
    labels = np.array([1, 1, 1, 1, 1, 0])
    scores = np.array([0.2, 0.9, 0.6, 0.4, 0.99, 0.9])
    snr = np.array([2.0, 4.0, 12.0, 15.0, 30.0, 50.0])
    c = completeness_curve(labels, scores, snr, [0, 5, 20, 30], "snr")
    assert c["n"] == [2, 2, 1]  # 30 falls in the last (closed) bin; the negative is ignored
    assert c["completeness"] == [0.5, 0.5, 1.0]
    c = completeness_curve(labels, scores, snr, [0, 1, 5, 100], "snr")
    assert c["n"] == [0, 2, 3] and math.isnan(c["completeness"][0])
    with pytest.raises(ValueError, match="increase"):
        completeness_curve(labels, scores, snr, [0, 5, 5], "snr")


def test_read_neo_catalog_real_file(repo):
    table, dropped = read_neo_catalog(repo / "resources" / "neo" / "neos-2020.csv")
    # README of the source data: 4,226 NEOs of which 363 PHAs.
    assert len(table) + dropped == 4226
    assert int(table["pha"].sum()) == 363
    toro = table.set_index("des").loc["1685"]
    assert toro["full_name"] == "1685 Toro (1948 OA)"
    assert toro["a_au"] == pytest.approx(1.367586471676899) and not toro["pha"]
    # the PHA definition: MOID <= 0.05 au and H <= 22 (two flags predate a revised H: 22.1, 22.2)
    pha = table[table["pha"]]
    assert (pha["moid_au"] <= 0.05).all() and (pha["H_mag"] <= 22.0).sum() == 361


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A synthetic dataset with the two (fast) baselines trained on it."""
    root = tmp_path_factory.mktemp("eval")
    dataset = make_synthetic_dataset(
        root / "dataset",
        {"train": 160, "val": 32, "test": 80},
        seed=5,
        snr_range=(5.0, 50.0),
        n_objects=400,
    )
    config = copy.deepcopy(load_config("config/test.yaml"))
    config["training"]["baselines"]["n_estimators"] = 50
    train_detector_baseline(config, dataset, root / "models" / "stamp_rf" / "model.joblib")
    train_impactor_baseline(
        config, dataset / "elements.parquet", root / "models" / "impactor_rf" / "model.joblib"
    )
    return root, dataset, config


def _strict_json(path):
    def reject(token):
        raise ValueError(f"{path}: non-standard JSON constant {token}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_evaluate_files_follow_contract(trained):
    root, dataset, config = trained
    paths = []
    for model in ("stamp_rf", "impactor_rf"):
        out = root / "eval" / model
        evaluate_model(
            config,
            model,
            root / "models" / model / "model.joblib",
            dataset,
            out / "metrics.json",
            out / "predictions.parquet",
        )
        metrics = _strict_json(out / "metrics.json")
        keys = {
            "model",
            "task",
            "n",
            "accuracy",
            "per_class",
            "roc_auc",
            "pr_auc",
            "confusion_matrix",
            "roc_curve",
            "pr_curve",
            "target_recall",
            "threshold_at_target_recall",
            "recall_at_threshold",
            "fdr_at_target_recall",
            "candidate_fraction_at_target_recall",
        }
        assert keys <= set(metrics)
        predictions = pd.read_parquet(out / "predictions.parquet")
        assert len(predictions) == metrics["n"]
        assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n"]
        assert metrics["threshold_from"] == "val split"
        assert metrics["recall_at_threshold"] >= 0.9  # at val's 0.99 threshold, out of sample
        assert metrics["accuracy"] > 0.75
        # accuracy in the file is the accuracy of the predictions in the file
        assert metrics["accuracy"] == pytest.approx(
            np.mean((predictions["score"] >= 0.5) == predictions["label"])
        )
        if model.startswith("stamp"):
            assert {"sample_id", "label", "score", "kind", "mag", "snr", "trail_length_px"} <= set(
                predictions
            )
            c = metrics["completeness"]
            assert c["variable"] == "snr" and len(c["n"]) == len(c["bin_edges"]) - 1
            assert sum(c["n"]) == int(predictions["label"].sum())
            assert metrics["completeness_mag"]["variable"] == "mag"
            assert set(metrics["false_positive_rate_by_kind"]) <= {
                "empty",
                "cosmic_ray",
                "hot_pixel",
                "hot_column",
                "bright_star",
            }
        else:
            assert {"object_id", "label", "score"} <= set(predictions)
        paths.append(out / "metrics.json")
    summary = eval_summary(paths, root / "eval" / "summary.csv")
    table = pd.read_csv(root / "eval" / "summary.csv")
    assert list(table["model"]) == ["stamp_rf", "impactor_rf"]
    assert table.loc[0, "pr_auc"] == pytest.approx(_strict_json(paths[0])["pr_auc"], rel=1e-5)
    assert len(summary) == 2


def test_hoi_real_catalog(trained, repo):
    root, dataset, config = trained
    config["evaluation"]["hoi_model"] = "impactor_rf"
    out = root / "eval" / "impactor_rf"
    evaluate_model(
        config,
        "impactor_rf",
        root / "models" / "impactor_rf" / "model.joblib",
        dataset,
        out / "metrics.json",
        out / "predictions.parquet",
    )

    def run_hoi(config):
        return hoi_real_catalog(
            config,
            root / "models" / "impactor_rf" / "model.joblib",
            out / "metrics.json",
            repo / "resources" / "neo" / "neos-2020.csv",
            root / "eval" / "hoi_real_catalog.parquet",
            root / "eval" / "hoi_real_catalog.json",
        )

    summary = run_hoi(config)
    table = pd.read_parquet(root / "eval" / "hoi_real_catalog.parquet")
    assert list(table.columns) == [
        "des",
        "full_name",
        "pha",
        "H_mag",
        "a_au",
        "e",
        "i_deg",
        "moid_au",
        "score",
        "flagged",
    ]
    stored = _strict_json(root / "eval" / "hoi_real_catalog.json")
    metrics = _strict_json(out / "metrics.json")
    # The operating threshold comes from the validation split (the impactor task's own
    # recall target) and is applied to the test split and to the real catalog (default).
    op = metrics["operating_threshold"]
    assert op["chosen_on"] == "val" and op["n_val_positive"] > 0
    assert op["val_recall_target"] == config["evaluation"]["operating_recall"]["impactor"] == 0.95
    assert stored["threshold"] == op["threshold"]
    preds = pd.read_parquet(out / "predictions.parquet")
    selected = preds["score"] >= op["threshold"]
    assert op["test_recall"] == pytest.approx(selected[preds["label"] == 1].mean())
    assert stored["simulated_test_recall"] == pytest.approx(op["test_recall"])
    assert stored["simulated_test_impactors"] == int((preds["label"] == 1).sum())
    hits, n_pos = int(selected[preds["label"] == 1].sum()), int((preds["label"] == 1).sum())
    assert op["test_recall_ci95"] == pytest.approx(wilson_interval(hits, n_pos))
    assert op["test_fdr"] == pytest.approx(
        (selected & (preds["label"] == 0)).sum() / selected.sum()
    )
    assert stored["n_pha"] == 363 and stored["n_pha"] + stored["n_non_pha"] == len(table)
    assert stored["pha_flagged_fraction"] == pytest.approx(
        table.loc[table["pha"], "flagged"].mean()
    )
    low, high = stored["pha_flagged_fraction_ci95"]
    assert low <= stored["pha_flagged_fraction"] <= high and high - low < 0.1  # 363 PHAs
    assert stored["non_pha_false_positive_rate"] == pytest.approx(
        table.loc[~table["pha"], "flagged"].mean()
    )
    assert (table["flagged"] == (table["score"] >= stored["threshold"])).all()
    top = stored["top_non_pha"]
    assert len(top) == config["evaluation"]["hoi_top_n"]
    assert [t["score"] for t in top] == sorted((t["score"] for t in top), reverse=True)
    assert summary["n_flagged"] == int(table["flagged"].sum())
    # the test-split alternative
    config = copy.deepcopy(config)
    config["evaluation"]["hoi_threshold"] = "target_recall"
    other = run_hoi(config)
    assert other["threshold"] == metrics["threshold_at_target_recall"]
    assert metrics["threshold_from"] == "val split"


def test_evaluate_lightning_models(trained):
    """The checkpoint path of evaluate_model (weights_only load, normalisation, scoring)."""
    from asteroid_ml.models.training import train_detector, train_impactor

    root, dataset, config = trained
    config = copy.deepcopy(config)
    config["training"]["accelerator"] = "cpu"
    config["training"]["detector"].update(depth=5, width=4, hidden=8, max_epochs=2, batch_size=64)
    config["training"]["impactor"].update(max_epochs=5)
    train_detector(config, dataset, root / "models" / "stamp_cnn")
    train_impactor(config, dataset / "elements.parquet", root / "models" / "impactor_mlp")
    for model in ("stamp_cnn", "impactor_mlp"):
        out = root / "eval" / model
        metrics = evaluate_model(
            config,
            model,
            root / "models" / model / "best.ckpt",
            dataset,
            out / "metrics.json",
            out / "predictions.parquet",
        )
        predictions = pd.read_parquet(out / "predictions.parquet")
        assert metrics["model"] == model and len(predictions) == metrics["n"]
        assert predictions["score"].between(0, 1).all()
    with pytest.raises(ValueError, match="unknown model"):
        evaluate_model(config, "detector_svm", root, dataset, root / "m.json", root / "p.parquet")
