"""Metric functions: pure NumPy/scikit-learn on labels and scores, no files.

The one home of every number the evaluation and the figures report: the metric set
of a binary classifier (accuracy, per-class precision/recall/F1, ROC-AUC, PR-AUC,
curves), the operating point at a target recall (threshold, recall with its Wilson
interval, false discovery rate, fraction of candidates left), completeness in bins.
Labels are 0/1, scores are probabilities of class 1 (higher = more likely).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

#: Curves in metrics.json are thinned to at most this many points.
MAX_CURVE_POINTS = 400

#: z of a 68 % (one-sigma) interval, used for error bars in figures.
Z_68 = 1.0
#: z of a 95 % interval, used for every interval that metrics.json reports.
Z_95 = 1.959964


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


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
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
    labels: np.ndarray,
    scores: np.ndarray,
    target_recall: float,
    operating_threshold: float,
    threshold_from: str,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """The metric set of the contract (without model/task/completeness), on the evaluated
    (test) set.

    Every ``*_at_target_recall`` key and ``recall_at_threshold`` is measured at
    ``operating_threshold``, chosen elsewhere (``threshold_from``: the validation split,
    the val fields) to keep ``target_recall`` of *its* positives: this function never
    chooses a threshold on the data it scores, so no key can come from a test-chosen
    threshold. ``threshold`` is the decision threshold of accuracy and the confusion matrix.
    """
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
    t = float(operating_threshold)
    point = operating_point(labels, scores, t) if np.isfinite(t) and labels.any() else {}
    out.update(
        {
            "target_recall": target_recall,
            "threshold_from": threshold_from,
            "threshold_at_target_recall": t,
            "recall_at_threshold": point.get("recall", float("nan")),
            "fdr_at_target_recall": point.get("fdr", float("nan")),
            "candidate_fraction_at_target_recall": point.get("candidate_fraction", float("nan")),
            "false_positive_rate_at_target_recall": point.get("false_positive_rate", float("nan")),
        }
    )
    return out


def binned_fraction(
    values: np.ndarray, hits: np.ndarray, bin_edges: Sequence[float], z: float = Z_95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fraction of ``hits`` in bins of ``values``, with its Wilson interval.

    Bins are [edge_i, edge_i+1); the last bin includes its upper edge; non-finite values
    and values outside the edges are left out. Returns (fraction, lower, upper, n) per
    bin; NaN where a bin is empty.
    """
    edges = np.asarray(bin_edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"completeness bin edges must increase: {bin_edges}")
    v = np.asarray(values, dtype=float)
    h = np.asarray(hits, dtype=bool)
    ok = np.isfinite(v)
    v, h = v[ok], h[ok]
    which = np.searchsorted(edges, v, side="right") - 1
    which[v == edges[-1]] = len(edges) - 2
    inside = (which >= 0) & (which < len(edges) - 1)
    n = np.bincount(which[inside], minlength=len(edges) - 1)
    k = np.bincount(which[inside], weights=h[inside], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    interval = np.array([wilson_interval(int(ki), int(ni), z) for ki, ni in zip(k, n, strict=True)])
    return fraction, interval[:, 0], interval[:, 1], n


def completeness_curve(
    labels: np.ndarray,
    scores: np.ndarray,
    values: np.ndarray,
    bin_edges: Sequence[float],
    variable: str,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Fraction of positives with ``score >= threshold`` in bins of ``values`` (e.g. SNR, mag).

    Bins as :func:`binned_fraction`; empty bins have completeness NaN (null in JSON).
    """
    labels, scores = _check_binary(labels, scores)
    pos = labels == 1
    completeness, _, _, n = binned_fraction(
        np.asarray(values, float)[pos], scores[pos] >= threshold, bin_edges
    )
    return {
        "variable": variable,
        "threshold": threshold,
        "bin_edges": np.asarray(bin_edges, dtype=float).tolist(),
        "completeness": completeness.tolist(),
        "n": n.astype(int).tolist(),
    }


def strict_json(obj: Any) -> Any:
    """NaN/inf -> None recursively, so that metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC from ranks (ties count one half), as ``sklearn.metrics.roc_auc_score``;
    NaN when one class is absent. Fast enough to be called inside a bootstrap."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cluster_bootstrap_rows(
    groups: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Row indices of ``n_resamples`` bootstrap samples that draw whole groups (fields,
    objects) with replacement: rows of one group stay together, so the interval respects
    how the data cluster."""
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    single = bool((counts == 1).all())
    for _ in range(n_resamples):
        pick = rng.integers(0, len(counts), len(counts))
        if single:
            yield order[pick]
            continue
        yield np.concatenate([order[starts[g] : starts[g] + counts[g]] for g in pick])
