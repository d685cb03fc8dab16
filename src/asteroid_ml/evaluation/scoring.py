"""Scoring: every model of the registry on the test split, and the summary table.

:func:`evaluate_model` (rule ``evaluate_model``) scores the test split with one
model and writes ``results/eval/{model}/metrics.json`` and ``predictions.parquet``:
the metric set of :func:`~asteroid_ml.evaluation.metrics.binary_metrics`, the
operating point chosen on the validation split (out of sample), and for detectors
completeness in bins of SNR and magnitude and the false-positive rate per kind.
:func:`eval_summary` (rule ``eval_summary``) puts the headline numbers side by side.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.evaluation.metrics import (
    binary_metrics,
    completeness_curve,
    operating_point,
    strict_json,
    threshold_at_recall,
)
from asteroid_ml.evaluation.physics import physics_scores, read_forward
from asteroid_ml.io import atomic_output, write_json, write_parquet
from asteroid_ml.registry import ModelSpec, model_spec

log = logging.getLogger(__name__)

#: Images scored per forward pass of the CNN (bounds memory).
SCORE_CHUNK = 4096


def detector_scores(
    spec: ModelSpec, model_path: Path, dataset_dir: Path, threads: int, split: str = "test"
) -> np.ndarray:
    """Asteroid probability of every image of ``{dataset_dir}/{split}.npy``."""
    from asteroid_ml.models.datamodules import load_split_images
    from asteroid_ml.models.features import image_features, robust_normalise

    images = load_split_images(dataset_dir, split)
    if spec.framework == "sklearn":
        from asteroid_ml.models.baselines import load_baseline, predict_baseline

        return predict_baseline(load_baseline(model_path), image_features(images))
    import torch

    from asteroid_ml.models.training import load_checkpoint, score_batches

    torch.set_num_threads(max(1, threads))
    model = load_checkpoint(model_path, "detector")
    chunks = [
        score_batches(
            model, torch.from_numpy(robust_normalise(images[i : i + SCORE_CHUNK])).unsqueeze(1)
        )
        for i in range(0, len(images), SCORE_CHUNK)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0)


def score_elements(
    model_name: str, model_path: Path, elements: pd.DataFrame, threads: int = 1
) -> np.ndarray:
    """Impactor probability of each row of an elements table (columns as elements.parquet)."""
    from asteroid_ml.models.features import element_features

    if model_spec(model_name).framework == "sklearn":
        from asteroid_ml.models.baselines import load_baseline, predict_baseline

        bundle = load_baseline(model_path)
        return predict_baseline(bundle, element_features(elements, bundle["features"]))
    import torch

    from asteroid_ml.models.training import load_checkpoint, score_batches

    torch.set_num_threads(max(1, threads))
    model = load_checkpoint(model_path, "impactor")
    x = torch.from_numpy(element_features(elements, model.hparams.features))
    return score_batches(model, x)


def _detector_splits(
    spec: ModelSpec, model_path: Path, dataset_dir: Path, threads: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Test predictions (one row per image) and the validation labels and scores."""
    from asteroid_ml.models.datamodules import load_manifest

    rows = load_manifest(dataset_dir, "test")
    scores = detector_scores(spec, model_path, dataset_dir, threads)
    if len(scores) != len(rows):
        raise ValueError(
            f"{dataset_dir}/test.npy has {len(scores)} cutouts, the manifest {len(rows)} test rows"
        )
    predictions = pd.DataFrame(
        {
            "sample_id": rows["sample_id"].to_numpy(),
            "label": rows["label"].to_numpy(int),
            "score": scores,
            "kind": rows["kind"].astype(str).to_numpy(),
            "mag": rows["mag"].to_numpy(float),
            "snr": rows["snr"].to_numpy(float),
            "trail_length_px": rows["trail_length_px"].to_numpy(float),
        }
    )
    val_labels = load_manifest(dataset_dir, "val")["label"].to_numpy(int)
    val_scores = detector_scores(spec, model_path, dataset_dir, threads, "val")
    return predictions, val_labels, val_scores


def impactor_scorer(
    config: Mapping[str, Any],
    spec: ModelSpec,
    model_path: str | Path,
    threads: int = 1,
    forward_paths: Sequence[str | Path] = (),
    series_paths: Sequence[str | Path] = (),
    key: str = "object_id",
) -> Callable[[pd.DataFrame], np.ndarray]:
    """A function that scores the rows of an elements table (objects named in column ``key``)
    with the impactor model ``spec``, whatever it reads (:attr:`ModelSpec.inputs`)."""
    if spec.inputs == "forward":
        forward = read_forward(forward_paths)
        limit = float(config["hazard"]["moid_au"])
        return lambda table: physics_scores(
            spec.name, forward, key, table[key].astype(str).tolist(), limit
        )
    if spec.inputs == "series":
        import torch

        from asteroid_ml.models.series import read_series, series_features, series_for
        from asteroid_ml.models.training import load_checkpoint, score_batches

        torch.set_num_threads(max(1, threads))
        ids, raw = read_series(forward_paths, series_paths, key)
        model = load_checkpoint(model_path, spec.name)
        return lambda table: score_batches(
            model,
            torch.from_numpy(
                series_features(series_for(table[key].astype(str).tolist(), ids, raw))
            ),
        )
    return lambda table: score_elements(spec.name, Path(model_path), table, threads)


def _impactor_splits(
    dataset_dir: Path, score: Callable[[pd.DataFrame], np.ndarray]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Test predictions (one row per object) and the validation labels and scores;
    ``score(table)`` gives the scores of the rows of an elements table."""
    from asteroid_ml.models.datamodules import load_elements

    table = load_elements(dataset_dir / "elements.parquet")
    test = table[table["split"] == "test"].reset_index(drop=True)
    predictions = pd.DataFrame(
        {
            "object_id": test["object_id"].astype(str).to_numpy(),
            "label": test["label"].to_numpy(int),
            "score": score(test),
            "population": test["population"].astype(str).to_numpy(),
        }
    )
    val = table[table["split"] == "val"].reset_index(drop=True)
    return predictions, val["label"].to_numpy(int), score(val)


def operating_threshold(
    labels: np.ndarray,
    scores: np.ndarray,
    val_labels: np.ndarray,
    val_scores: np.ndarray,
    operating_recall: float,
) -> dict[str, Any]:
    """The threshold that keeps ``operating_recall`` of the validation positives, applied
    to the test split (so that the recall reported there is out of sample)."""
    threshold = threshold_at_recall(val_labels, val_scores, operating_recall)
    point = operating_point(labels, scores, threshold)
    return {
        "chosen_on": "val",
        "val_recall_target": operating_recall,
        "n_val": len(val_labels),
        "n_val_positive": int(val_labels.sum()),
        "threshold": threshold,
        "test_recall": point["recall"],
        "test_recall_ci95": point["recall_ci95"],
        "test_fdr": point["fdr"],
        "test_false_positive_rate": point["false_positive_rate"],
        "test_candidate_fraction": point["candidate_fraction"],
    }


def _magnitude_edges(mag: np.ndarray, width: float) -> np.ndarray:
    """Bin edges of ``width`` mag that cover every finite magnitude of the positives."""
    lo = math.floor(mag.min() / width) * width
    hi = math.ceil(mag.max() / width) * width + (width if mag.max() % width == 0 else 0)
    edges = np.arange(lo, hi + width / 2, width)
    return edges if len(edges) >= 2 else np.array([lo, lo + width])


def detector_extras(predictions: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Completeness (recall at 0.5) by SNR and magnitude, and the false-positive rate per kind."""
    labels = predictions["label"].to_numpy()
    scores = predictions["score"].to_numpy()
    snr = predictions["snr"].to_numpy()
    mag = predictions["mag"].to_numpy()
    extras: dict[str, Any] = {
        "completeness": completeness_curve(labels, scores, snr, cfg["snr_bin_edges"], "snr")
    }
    finite_mag = mag[(labels == 1) & np.isfinite(mag)]
    if len(finite_mag):
        edges = _magnitude_edges(finite_mag, cfg["mag_bin_width"])
        extras["completeness_mag"] = completeness_curve(labels, scores, mag, edges, "mag")
    bright = (labels == 1) & (snr >= cfg["completeness_snr_min"])
    extras["completeness_snr_min"] = {
        "snr_min": cfg["completeness_snr_min"],
        "n": int(bright.sum()),
        "completeness": float(np.mean(scores[bright] >= 0.5)) if bright.any() else float("nan"),
    }
    kinds = predictions["kind"].to_numpy()
    extras["false_positive_rate_by_kind"] = {
        kind: float(np.mean(scores[(kinds == kind) & (labels == 0)] >= 0.5))
        for kind in sorted(set(kinds[labels == 0]))
    }
    return extras


def evaluate_model(
    config: Mapping[str, Any],
    model_name: str,
    model_path: str | Path,
    dataset_dir: str | Path,
    metrics_path: str | Path,
    predictions_path: str | Path,
    threads: int = 1,
    forward_paths: Sequence[str | Path] = (),
    series_paths: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Score the test split with one model; write predictions.parquet and metrics.json.

    The MOID baselines read the forward runs of the simulated objects (``forward_paths``)
    instead of a model file (``model_path`` is ignored); the series network reads the
    element series (``series_paths``, rows as the forward-run tables).
    """
    spec = model_spec(model_name)
    cfg = config["evaluation"]
    if spec.task == "detector":
        predictions, val_labels, val_scores = _detector_splits(
            spec, Path(model_path), Path(dataset_dir), threads
        )
    else:
        score = impactor_scorer(config, spec, model_path, threads, forward_paths, series_paths)
        predictions, val_labels, val_scores = _impactor_splits(Path(dataset_dir), score)
    labels = predictions["label"].to_numpy()
    scores = predictions["score"].to_numpy()
    metrics: dict[str, Any] = {"model": model_name, "task": spec.task}
    # every metric at a threshold is measured at one chosen on the validation split
    chosen = (
        threshold_at_recall(val_labels, val_scores, cfg["target_recall"])
        if val_labels.any()
        else float("nan")
    )
    metrics.update(binary_metrics(labels, scores, cfg["target_recall"], chosen, "val split"))
    if val_labels.any():
        metrics["operating_threshold"] = operating_threshold(
            labels, scores, val_labels, val_scores, cfg["operating_recall"][spec.task]
        )
    if spec.task == "detector":
        metrics.update(detector_extras(predictions, cfg))
    write_parquet(predictions, predictions_path, metadata={"model": model_name, "split": "test"})
    write_json(strict_json(metrics), metrics_path)
    log.info(
        "%s: n=%d accuracy %.4f ROC-AUC %s PR-AUC %s; threshold %.4g at recall %.3f, FDR %.4f",
        model_name,
        metrics["n"],
        metrics["accuracy"],
        metrics["roc_auc"],
        metrics["pr_auc"],
        metrics["threshold_at_target_recall"],
        metrics["recall_at_threshold"],
        metrics["fdr_at_target_recall"],
    )
    return metrics


SUMMARY_COLUMNS = (
    "model",
    "task",
    "n",
    "accuracy",
    "precision_0",
    "recall_0",
    "f1_0",
    "precision_1",
    "recall_1",
    "recall_1_ci95_low",
    "recall_1_ci95_high",
    "f1_1",
    "roc_auc",
    "pr_auc",
    "target_recall",
    "threshold_at_target_recall",
    "recall_at_threshold",
    "fdr_at_target_recall",
    "candidate_fraction_at_target_recall",
    "candidate_reduction_at_target_recall",
    "m50_mag",
    "operating_recall",
    "operating_threshold",
    "test_recall_at_operating_threshold",
    "test_fdr_at_operating_threshold",
    "completeness_snr_min",
)


def eval_summary(metrics_paths: Iterable[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """One row per model with the headline numbers side by side; write ``summary.csv``."""
    rows = []
    for path in metrics_paths:
        m = json.loads(Path(path).read_text())
        row = {k: m.get(k) for k in SUMMARY_COLUMNS if k in m and not isinstance(m.get(k), dict)}
        per_class = m.get("per_class") or {}  # absent when a test split had no sequence
        for cls in ("0", "1"):
            for stat in ("precision", "recall", "f1"):
                row[f"{stat}_{cls}"] = (per_class.get(cls) or {}).get(stat)
        row["recall_1_ci95_low"], row["recall_1_ci95_high"] = (per_class.get("1") or {}).get(
            "recall_ci95", (None, None)
        )
        fraction = m.get("candidate_fraction_at_target_recall")
        if row.get("candidate_reduction_at_target_recall") is None and fraction:
            row["candidate_reduction_at_target_recall"] = 1.0 / fraction
        row["completeness_snr_min"] = (m.get("completeness_snr_min") or {}).get("completeness")
        op = m.get("operating_threshold") or {}
        row["operating_recall"] = op.get("val_recall_target")
        row["operating_threshold"] = op.get("threshold")
        row["test_recall_at_operating_threshold"] = op.get("test_recall")
        row["test_fdr_at_operating_threshold"] = op.get("test_fdr")
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table
