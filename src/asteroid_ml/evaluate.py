"""Evaluation: the numbers a paper quotes, for every model on the test split.

Metrics (``results/eval/{model}/metrics.json``): accuracy, per-class
precision/recall/F1 (the CERES table), ROC-AUC, PR-AUC (average precision),
the confusion matrix at threshold 0.5, ROC and PR curves, and the operating
point that keeps ``evaluation.target_recall`` of the positives (Autoscan /
space2vec): its threshold, the false discovery rate there and the fraction of
all candidates left for a human to inspect. Detectors also get completeness
(recall at 0.5) in bins of injected SNR and magnitude.

The impactor classifier is then applied to the real NEO catalog
(``resources/neo/neos-2020.csv``): which fraction of NASA's potentially
hazardous asteroids does it flag (Hefele et al. 2020 quote 90.99 %), and how
many non-PHAs does it flag as well.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.io import atomic_output, write_json, write_parquet

log = logging.getLogger(__name__)

MODELS = {
    "detector_cnn": ("detector", "lightning"),
    "detector_rf": ("detector", "sklearn"),
    "impactor_mlp": ("impactor", "lightning"),
    "impactor_rf": ("impactor", "sklearn"),
}

#: Hefele et al. (2020): fraction of NASA PHAs their HOI network flagged.
HOI_PUBLISHED_PHA_FRACTION = 0.9099

#: Curves in metrics.json are thinned to at most this many points.
MAX_CURVE_POINTS = 400


# --- metric functions (pure) ---------------------------------------------------------


def _check_binary(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(
            f"labels {labels.shape} and scores {scores.shape} must be equal 1-D shapes"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    return labels, scores


def threshold_at_recall(labels: np.ndarray, scores: np.ndarray, target_recall: float) -> float:
    """Highest threshold t such that ``score >= t`` keeps at least ``target_recall`` of the positives.

    With the positive scores sorted in decreasing order s_1 >= s_2 >= ..., this is
    s_k with k = ceil(target_recall x n_positive). NaN when there is no positive.
    """
    labels, scores = _check_binary(labels, scores)
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    positive = np.sort(scores[labels == 1])[::-1]
    if len(positive) == 0:
        return float("nan")
    k = max(1, math.ceil(target_recall * len(positive) - 1e-9))
    return float(positive[k - 1])


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (default 95 %) of a binomial proportion ``successes / trials``.

    Recalls here are measured on tens of simulated impactors (51 in the default test
    split, where 45/51 = 88 % has the interval 77-94 %), so every recall is reported
    with its interval. (nan, nan) when ``trials`` is 0.
    """
    if trials <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, {trials}], got {successes}")
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Counts and rates of the decision ``score >= threshold``.

    ``fdr`` = FP / (TP + FP) (false discovery rate, 1 - precision);
    ``candidate_fraction`` = (TP + FP) / N, the share of all samples a human
    would have to look at.
    """
    labels, scores = _check_binary(labels, scores)
    selected = scores >= threshold
    tp = int(np.sum(selected & (labels == 1)))
    fp = int(np.sum(selected & (labels == 0)))
    n_pos = int(np.sum(labels == 1))
    n_neg = len(labels) - n_pos
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "recall": tp / n_pos if n_pos else float("nan"),
        "recall_ci95": list(wilson_interval(tp, n_pos)),
        "fdr": fp / (tp + fp) if tp + fp else 0.0,
        "false_positive_rate": fp / n_neg if n_neg else float("nan"),
        "candidate_fraction": (tp + fp) / len(labels) if len(labels) else float("nan"),
    }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """[[tn, fp], [fn, tp]] (rows = true class, columns = predicted class)."""
    labels, predicted = np.asarray(labels).astype(int), np.asarray(predicted).astype(int)
    return [[int(np.sum((labels == t) & (predicted == p))) for p in (0, 1)] for t in (0, 1)]


def per_class_report(labels: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class ("0", "1"); 0 where undefined."""
    (tn, fp), (fn, tp) = confusion_matrix(labels, predicted)
    report = {}
    for name, hit, false_pos, miss in (("0", tn, fn, fp), ("1", tp, fp, fn)):
        precision = hit / (hit + false_pos) if hit + false_pos else 0.0
        recall = hit / (hit + miss) if hit + miss else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[name] = {
            "precision": precision,
            "recall": recall,
            "recall_ci95": list(wilson_interval(hit, hit + miss)),
            "f1": f1,
            "support": hit + miss,
        }
    return report


def _thin(*arrays: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> list[list[float]]:
    n = len(arrays[0])
    if n <= max_points:
        idx = np.arange(n)
    else:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return [np.asarray(a)[idx].astype(float).tolist() for a in arrays]


def binary_metrics(
    labels: np.ndarray, scores: np.ndarray, target_recall: float, threshold: float = 0.5
) -> dict[str, Any]:
    """The metric set of the contract (without model/task/completeness)."""
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    labels, scores = _check_binary(labels, scores)
    predicted = (scores >= threshold).astype(int)
    both = 0 < labels.sum() < len(labels)
    out: dict[str, Any] = {
        "n": len(labels),
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        "per_class": per_class_report(labels, predicted),
        "confusion_matrix": confusion_matrix(labels, predicted),
        "decision_threshold": threshold,
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "pr_auc": float(average_precision_score(labels, scores)) if labels.any() else float("nan"),
    }
    if both:
        fpr, tpr, _ = roc_curve(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        out["roc_curve"] = dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True))
        out["pr_curve"] = dict(zip(("precision", "recall"), _thin(precision, recall), strict=True))
    else:
        out["roc_curve"] = {"fpr": [], "tpr": []}
        out["pr_curve"] = {"precision": [], "recall": []}
    t = threshold_at_recall(labels, scores, target_recall) if labels.any() else float("nan")
    point = operating_point(labels, scores, t) if np.isfinite(t) else {}
    out.update(
        {
            "target_recall": target_recall,
            "threshold_at_target_recall": t,
            "recall_at_threshold": point.get("recall", float("nan")),
            "fdr_at_target_recall": point.get("fdr", float("nan")),
            "candidate_fraction_at_target_recall": point.get("candidate_fraction", float("nan")),
            "false_positive_rate_at_target_recall": point.get("false_positive_rate", float("nan")),
        }
    )
    return out


def completeness_curve(
    labels: np.ndarray,
    scores: np.ndarray,
    values: np.ndarray,
    bin_edges: Sequence[float],
    variable: str,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Fraction of positives with ``score >= threshold`` in bins of ``values`` (e.g. SNR, mag).

    Bins are [edge_i, edge_i+1); the last bin includes its upper edge. Empty bins
    have completeness NaN (null in JSON).
    """
    labels, scores = _check_binary(labels, scores)
    edges = np.asarray(bin_edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"completeness bin edges must increase: {bin_edges}")
    pos = labels == 1
    v, s = np.asarray(values, float)[pos], scores[pos]
    ok = np.isfinite(v)
    v, s = v[ok], s[ok]
    which = np.searchsorted(edges, v, side="right") - 1
    which[v == edges[-1]] = len(edges) - 2
    inside = (which >= 0) & (which < len(edges) - 1)
    n = np.bincount(which[inside], minlength=len(edges) - 1)
    hits = np.bincount(which[inside], weights=(s[inside] >= threshold), minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        completeness = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
    return {
        "variable": variable,
        "threshold": threshold,
        "bin_edges": edges.tolist(),
        "completeness": completeness.tolist(),
        "n": n.astype(int).tolist(),
    }


def _clean(obj: Any) -> Any:
    """NaN/inf -> None recursively, so that metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- scoring the test split ----------------------------------------------------------


def _detector_scores(
    model_name: str, model_path: Path, dataset_dir: Path, threads: int, split: str = "test"
) -> np.ndarray:
    from asteroid_ml.models.datamodules import load_split_images

    images = load_split_images(dataset_dir, split)
    if model_name == "detector_rf":
        from asteroid_ml.baselines import image_features, load_baseline, predict_baseline

        bundle = load_baseline(model_path)
        return predict_baseline(bundle, image_features(images))
    import torch

    from asteroid_ml.models.datamodules import robust_normalise
    from asteroid_ml.models.training import load_checkpoint, score_batches

    torch.set_num_threads(max(1, threads))
    model = load_checkpoint(model_path, "detector")
    chunks = [
        score_batches(model, torch.from_numpy(robust_normalise(images[i : i + 4096])).unsqueeze(1))
        for i in range(0, len(images), 4096)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0)


def score_elements(
    model_name: str, model_path: Path, elements: pd.DataFrame, threads: int = 1
) -> np.ndarray:
    """Impactor probability of each row of an elements table (columns as elements.parquet)."""
    from asteroid_ml.models.datamodules import element_features

    if model_name == "impactor_rf":
        from asteroid_ml.baselines import load_baseline, predict_baseline

        bundle = load_baseline(model_path)
        return predict_baseline(bundle, element_features(elements, bundle["features"]))
    import torch

    from asteroid_ml.models.training import load_checkpoint, score_batches

    torch.set_num_threads(max(1, threads))
    model = load_checkpoint(model_path, "impactor")
    x = torch.from_numpy(element_features(elements, model.hparams.features))
    return score_batches(model, x)


def evaluate_model(
    config: Mapping[str, Any],
    model_name: str,
    model_path: str | Path,
    dataset_dir: str | Path,
    metrics_path: str | Path,
    predictions_path: str | Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Score the test split with one model; write predictions.parquet and metrics.json."""
    if model_name not in MODELS:
        raise ValueError(f"unknown model {model_name!r}; expected one of {sorted(MODELS)}")
    task = MODELS[model_name][0]
    cfg = config["evaluation"]
    dataset_dir = Path(dataset_dir)
    if task == "detector":
        from asteroid_ml.models.datamodules import load_manifest

        rows = load_manifest(dataset_dir, "test")
        scores = _detector_scores(model_name, Path(model_path), dataset_dir, threads)
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
    else:
        from asteroid_ml.models.datamodules import load_elements

        table = load_elements(dataset_dir / "elements.parquet")
        test = table[table["split"] == "test"].reset_index(drop=True)
        scores = score_elements(model_name, Path(model_path), test, threads)
        predictions = pd.DataFrame(
            {
                "object_id": test["object_id"].astype(str).to_numpy(),
                "label": test["label"].to_numpy(int),
                "score": scores,
                "population": test["population"].astype(str).to_numpy(),
            }
        )
    labels = predictions["label"].to_numpy()
    metrics: dict[str, Any] = {"model": model_name, "task": task}
    metrics.update(binary_metrics(labels, scores, cfg["target_recall"]))
    # The operating threshold is chosen on the validation split and applied to the test
    # split, so that the recall reported there is out of sample (threshold_at_target_recall
    # above is the test split's own, the space2vec/Autoscan diagnostic).
    if task == "detector":
        from asteroid_ml.models.datamodules import load_manifest

        val_labels = load_manifest(dataset_dir, "val")["label"].to_numpy(int)
        val_scores = _detector_scores(model_name, Path(model_path), dataset_dir, threads, "val")
    else:
        val = table[table["split"] == "val"].reset_index(drop=True)
        val_labels = val["label"].to_numpy(int)
        val_scores = score_elements(model_name, Path(model_path), val, threads)
    if val_labels.any():
        operating_recall = cfg["operating_recall"][task]
        threshold = threshold_at_recall(val_labels, val_scores, operating_recall)
        point = operating_point(labels, scores, threshold)
        metrics["operating_threshold"] = {
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
    if task == "detector":
        snr = predictions["snr"].to_numpy()
        mag = predictions["mag"].to_numpy()
        metrics["completeness"] = completeness_curve(
            labels, scores, snr, cfg["snr_bin_edges"], "snr"
        )
        finite_mag = mag[(labels == 1) & np.isfinite(mag)]
        width = cfg["mag_bin_width"]
        if len(finite_mag):
            lo = math.floor(finite_mag.min() / width) * width
            hi = math.ceil(finite_mag.max() / width) * width + (
                width if finite_mag.max() % width == 0 else 0
            )
            mag_edges = np.arange(lo, hi + width / 2, width)
            if len(mag_edges) < 2:
                mag_edges = np.array([lo, lo + width])
            metrics["completeness_mag"] = completeness_curve(labels, scores, mag, mag_edges, "mag")
        bright = (labels == 1) & (snr >= cfg["completeness_snr_min"])
        metrics["completeness_snr_min"] = {
            "snr_min": cfg["completeness_snr_min"],
            "n": int(bright.sum()),
            "completeness": float(np.mean(scores[bright] >= 0.5)) if bright.any() else float("nan"),
        }
        kinds = predictions["kind"].to_numpy()
        metrics["false_positive_rate_by_kind"] = {
            kind: float(np.mean(scores[(kinds == kind) & (labels == 0)] >= 0.5))
            for kind in sorted(set(kinds[labels == 0]))
        }
    write_parquet(predictions, predictions_path, metadata={"model": model_name, "split": "test"})
    write_json(_clean(metrics), metrics_path)
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
        for cls in ("0", "1"):
            for stat in ("precision", "recall", "f1"):
                row[f"{stat}_{cls}"] = m["per_class"][cls][stat]
        row["recall_1_ci95_low"], row["recall_1_ci95_high"] = m["per_class"]["1"].get(
            "recall_ci95", (None, None)
        )
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


# --- the real NEO catalog ---------------------------------------------------------


def read_neo_catalog(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Read the JPL SBDB export (``neos-2020.csv``) into elements.parquet-style columns.

    Returns the table (``des``, ``full_name``, ``pha`` bool, ``H_mag``, ``a_au``,
    ``e``, ``i_deg``, ``om_deg``, ``w_deg``, ``ma_deg``, ``q_au``, ``moid_au``) and
    the number of rows dropped for missing or non-elliptic elements.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NEO catalog not found: {path}")
    raw = pd.read_csv(path, dtype={"pdes": str, "full_name": str, "pha": str}, low_memory=False)
    needed = ("full_name", "pdes", "pha", "H", "a", "e", "i", "om", "w", "ma", "q", "moid")
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    flags = raw["pha"].fillna("N").str.strip().str.upper()
    if not flags.isin(["Y", "N"]).all():
        raise ValueError(f"{path}: column 'pha' must hold 'Y' or 'N'")
    table = pd.DataFrame(
        {
            "des": raw["pdes"].astype(str).str.strip(),
            "full_name": raw["full_name"].astype(str).str.strip(),
            "pha": flags.eq("Y"),
            "H_mag": pd.to_numeric(raw["H"], errors="coerce"),
            "a_au": pd.to_numeric(raw["a"], errors="coerce"),
            "e": pd.to_numeric(raw["e"], errors="coerce"),
            "i_deg": pd.to_numeric(raw["i"], errors="coerce"),
            "om_deg": pd.to_numeric(raw["om"], errors="coerce"),
            "w_deg": pd.to_numeric(raw["w"], errors="coerce"),
            "ma_deg": pd.to_numeric(raw["ma"], errors="coerce"),
            "q_au": pd.to_numeric(raw["q"], errors="coerce"),
            "moid_au": pd.to_numeric(raw["moid"], errors="coerce"),
        }
    )
    ok = table[["a_au", "e", "i_deg", "om_deg", "w_deg", "q_au"]].notna().all(axis=1)
    ok &= (table["e"] < 1) & (table["a_au"] > 0)
    dropped = int((~ok).sum())
    if dropped:
        log.warning("%s: dropped %d row(s) with missing or hyperbolic elements", path, dropped)
    return table[ok].reset_index(drop=True), dropped


def hoi_real_catalog(
    config: Mapping[str, Any],
    model_path: str | Path,
    model_metrics_path: str | Path,
    catalog_path: str | Path,
    out_parquet: str | Path,
    out_json: str | Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Apply the impactor classifier to the real NEOs and compare with the PHA flags.

    The threshold is ``evaluation.hoi_threshold``: ``operating`` = the model's
    operating threshold (chosen on the validation split, see :func:`evaluate_model`),
    ``target_recall`` = the threshold that keeps ``target_recall`` of the simulated
    impactors of the test split (both read from the model's metrics.json), or a
    number. Simulations alone choose it; the catalog never does. The summary also
    holds the held-out (test-split) recall of simulated impactors at that threshold,
    so that both HOI figures come from one operating point (read from the
    ``predictions.parquet`` that :func:`evaluate_model` writes beside metrics.json).
    """
    cfg = config["evaluation"]
    model_name = cfg["hoi_model"]
    catalog, dropped = read_neo_catalog(catalog_path)
    scores = score_elements(model_name, Path(model_path), catalog, threads)
    metrics = json.loads(Path(model_metrics_path).read_text())
    setting = cfg["hoi_threshold"]
    if setting == "operating":
        threshold = (metrics.get("operating_threshold") or {}).get("threshold")
        source = (
            f"operating threshold of {model_name}: keeps "
            f"{cfg['operating_recall']['impactor']} of the validation-split impactors"
        )
    elif setting == "target_recall":
        threshold = metrics["threshold_at_target_recall"]
        source = (
            f"threshold keeping {cfg['target_recall']} of simulated test impactors ({model_name})"
        )
    else:
        threshold, source = float(setting), "evaluation.hoi_threshold"
    if threshold is None:
        raise ValueError(
            f"{model_metrics_path}: no {setting} threshold (no impactor in the split?)"
        )
    predictions = pd.read_parquet(Path(model_metrics_path).with_name("predictions.parquet"))
    positive = predictions["label"].to_numpy() == 1
    recalled = int((predictions["score"].to_numpy()[positive] >= threshold).sum())
    flagged = scores >= threshold
    table = catalog[["des", "full_name", "pha", "H_mag", "a_au", "e", "i_deg", "moid_au"]].copy()
    table["score"] = scores
    table["flagged"] = flagged
    pha = table["pha"].to_numpy()
    close = (table["moid_au"] <= 0.05).to_numpy()
    non_pha = table[~pha].sort_values("score", ascending=False)
    top = non_pha.head(cfg["hoi_top_n"])
    summary = {
        "model": model_name,
        "threshold": float(threshold),
        "threshold_source": source,
        "n_objects": len(table),
        "n_dropped": dropped,
        "n_pha": int(pha.sum()),
        "n_non_pha": int((~pha).sum()),
        "n_flagged": int(flagged.sum()),
        "pha_flagged_fraction": float(flagged[pha].mean()) if pha.any() else float("nan"),
        "pha_flagged_fraction_ci95": list(wilson_interval(int(flagged[pha].sum()), int(pha.sum()))),
        "non_pha_false_positive_rate": float(flagged[~pha].mean())
        if (~pha).any()
        else float("nan"),
        "moid_le_0.05_flagged_fraction": float(flagged[close].mean())
        if close.any()
        else float("nan"),
        "moid_gt_0.05_flagged_fraction": float(flagged[~close].mean())
        if (~close).any()
        else float("nan"),
        "pha_flagged_fraction_at_0.5": float((scores[pha] >= 0.5).mean())
        if pha.any()
        else float("nan"),
        "published_hoi_pha_fraction": HOI_PUBLISHED_PHA_FRACTION,
        "simulated_test_impactors": int(positive.sum()),
        "simulated_test_recall": recalled / positive.sum() if positive.any() else float("nan"),
        "simulated_test_recall_ci95": list(wilson_interval(recalled, int(positive.sum()))),
        "top_non_pha": [
            {
                "des": r.des,
                "full_name": r.full_name,
                "score": float(r.score),
                "moid_au": float(r.moid_au),
                "H_mag": float(r.H_mag),
                "a_au": float(r.a_au),
                "e": float(r.e),
                "i_deg": float(r.i_deg),
            }
            for r in top.itertuples()
        ],
    }
    write_parquet(
        table.sort_values("score", ascending=False).reset_index(drop=True),
        out_parquet,
        metadata={
            "model": model_name,
            "threshold": float(threshold),
            "catalog": Path(catalog_path).name,
        },
    )
    write_json(_clean(summary), out_json)
    log.info(
        "HOI on %d real NEOs: %.2f %% of %d PHAs flagged, %.2f %% of non-PHAs (threshold %.4g)",
        len(table),
        100 * summary["pha_flagged_fraction"],
        summary["n_pha"],
        100 * summary["non_pha_false_positive_rate"],
        threshold,
    )
    return summary


# --- command line ---------------------------------------------------------------------


def _cli_evaluate(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config

    config = load_config(args.config)
    models = Path(args.models)
    out = Path(args.out)
    names = args.model or list(MODELS)
    for name in names:
        model_file = "best.ckpt" if MODELS[name][1] == "lightning" else "model.joblib"
        evaluate_model(
            config,
            name,
            models / name / model_file,
            args.dataset,
            out / name / "metrics.json",
            out / name / "predictions.parquet",
            args.threads,
        )
    eval_summary([out / n / "metrics.json" for n in names], out / "summary.csv")
    if args.catalog:
        hoi = config["evaluation"]["hoi_model"]
        model_file = "best.ckpt" if MODELS[hoi][1] == "lightning" else "model.joblib"
        hoi_real_catalog(
            config,
            models / hoi / model_file,
            out / hoi / "metrics.json",
            args.catalog,
            out / "hoi_real_catalog.parquet",
            out / "hoi_real_catalog.json",
            args.threads,
        )
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate trained models on the test split (and the real NEO catalog)"
    )
    p.add_argument("--model", action="append", choices=sorted(MODELS), help="model(s); default all")
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--dataset", default="results/dataset", help="dataset folder")
    p.add_argument("--models", default="results/models", help="models folder")
    p.add_argument("--out", default="results/eval", help="evaluation folder")
    p.add_argument("--catalog", help="real NEO catalog CSV (e.g. resources/neo/neos-2020.csv)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_cli_evaluate)
