"""Metrics of the detection chain, as surveys report them, on the test fields only.

Operating points are chosen on the val fields (never on test): the threshold that keeps
``target_recall`` of the real candidates (stamps) or of the findable movers (sequences).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.detection.candidates import BOGUS_LABELS
from asteroid_ml.detection.sequences import LinkSettings, label_sequences, link, score_sequences
from asteroid_ml.evaluation.metrics import (
    binary_metrics,
    cluster_bootstrap_rows,
    operating_point,
    threshold_at_recall,
    wilson_interval,
)
from asteroid_ml.seeds import rng_for


def completeness_limits(mags: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """m50 and m90: where a logistic completeness ``c(m) = 1 / (1 + exp((m - m50) / w))``,
    fitted to (injected magnitude, found 0/1) by maximum likelihood, is 0.5 and 0.9."""
    from scipy.optimize import minimize

    m = np.asarray(mags, float)
    k = np.asarray(found, float)
    if len(m) < 5 or k.min() == k.max():
        return {"m50_mag": float("nan"), "m90_mag": float("nan"), "width_mag": float("nan")}

    def nll(p: np.ndarray) -> float:
        z = np.clip((m - p[0]) / math.exp(p[1]), -50, 50)
        c = np.clip(1.0 / (1.0 + np.exp(z)), 1e-12, 1 - 1e-12)
        return -float(np.sum(k * np.log(c) + (1 - k) * np.log(1 - c)))

    fit = minimize(nll, x0=[float(np.median(m)), math.log(0.3)], method="Nelder-Mead")
    m50, w = float(fit.x[0]), math.exp(float(fit.x[1]))
    return {"m50_mag": m50, "m90_mag": m50 - w * math.log(9.0), "width_mag": w}


#: What the candidate reduction factor counts. DES's autoScan (Goldstein et al. 2015) cut "the
#: number of transient candidates eligible for human scanning" by 13.4x while losing 1 % of
#: the fakes injected to monitor efficiency: the reduction is measured on the survey's own
#: candidates, the loss on the fakes. Our fields' own candidates are the bogus ones (the
#: real sky of the survey holds no movers of its own; the fakes are all injected).
REDUCTION_STREAM = "candidates that are not injected fakes (Goldstein et al. 2015)"


def reduction_ci95(passed: int, n: int) -> list[float]:
    """95 % interval of a reduction factor n / passed: the inverse of the Wilson interval of
    the fraction passed (the upper end is infinite when the interval reaches 0)."""
    lo, hi = wilson_interval(passed, n)
    return [1.0 / hi if hi > 0 else float("inf"), 1.0 / lo if lo > 0 else float("inf")]


#: Real fractions of a candidate stream at which the reduction factor is also reported.
STREAM_REAL_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2)


def reduction_at_real_fraction(
    recall: float, false_positive_rate: float, real_fraction: float
) -> float:
    """Candidate reduction factor of a classifier on a stream with ``real_fraction`` real
    candidates: 1 / (pi * recall + (1 - pi) * FPR). Recall and FPR are properties of the
    classifier; the stream's mix is not (a survey's depends on its sky and pipeline)."""
    kept = real_fraction * recall + (1.0 - real_fraction) * false_positive_rate
    return 1.0 / kept if kept > 0 else float("inf")


def fdr_at_real_fraction(recall: float, false_positive_rate: float, real_fraction: float) -> float:
    """False discovery rate on a stream with ``real_fraction`` real candidates:
    (1 - pi) FPR / (pi recall + (1 - pi) FPR)."""
    kept_bogus = (1.0 - real_fraction) * false_positive_rate
    kept = real_fraction * recall + kept_bogus
    return kept_bogus / kept if kept > 0 else float("nan")


def _rates(labels: np.ndarray, kept: np.ndarray) -> dict[str, float]:
    """FDR, recall, false-positive rate (:func:`operating_point` of the decision ``kept``)
    and reduction (bogus in / bogus kept)."""
    point = operating_point(labels, kept.astype(float), 0.5)
    n_neg = int(np.sum(labels == 0))
    return {
        "n": len(labels), "n_real": len(labels) - n_neg, "fdr": point["fdr"],
        "recall": point["recall"], "false_positive_rate": point["false_positive_rate"],
        "candidate_reduction": n_neg / point["fp"] if point["fp"] else float("inf"),
    }  # fmt: skip


#: Statistics that :func:`field_intervals` bootstraps.
FIELD_STATISTICS = ("fdr", "recall", "false_positive_rate", "candidate_reduction")


def field_intervals(
    labels: np.ndarray, kept: np.ndarray, fields: np.ndarray, n_resamples: int, seed: int,
    name: str,
) -> dict[str, Any]:  # fmt: skip
    """The decision ``kept`` on each test field, and 95 % percentile intervals of
    :data:`FIELD_STATISTICS` from a bootstrap that draws whole fields with replacement.

    The candidates of one field share its sky (its stars, nebulosity, crowding) over every
    realisation, so they are not independent: a Wilson interval over candidates is too
    narrow. With few test fields the interval is coarse (3 fields give 10 distinct
    resamples), and the per-field values say how far apart the fields are."""
    labels, kept, fields = (
        np.asarray(labels).astype(int),
        np.asarray(kept, bool),
        np.asarray(fields),
    )
    rng = rng_for(seed, f"detection_field_bootstrap_{name}")
    samples = [_rates(labels[rows], kept[rows])
               for rows in cluster_bootstrap_rows(fields, n_resamples, rng)]  # fmt: skip
    out: dict[str, Any] = {
        "method": "percentile bootstrap over whole test fields",
        "n_fields": int(len(np.unique(fields))), "n_resamples": int(n_resamples),
    }  # fmt: skip
    for key in FIELD_STATISTICS:
        values = np.array([s[key] for s in samples], float)
        values = values[~np.isnan(values)]
        out[f"{key}_ci95"] = (
            # order statistics (no interpolation: a reduction can be infinite)
            [float(np.percentile(values, 2.5, method="lower")),
             float(np.percentile(values, 97.5, method="higher"))]
            if len(values) else [float("nan"), float("nan")]
        )  # fmt: skip
    out["by_field"] = {
        str(f): _rates(labels[fields == f], kept[fields == f]) for f in np.unique(fields)
    }
    return out


#: Observable classes of a bogus candidate, measured by the same features on simulated and
#: real difference images, so that their mixes compare like for like (the simulation's
#: truth kinds have no counterpart on real frames). A candidate takes the first that
#: applies. The cuts are descriptive choices, not physics, set on the simulation's truth
#: (docs/detection.md gives each truth kind's classes).
OBSERVABLE_CLASSES = {
    "on_star": "within 8 px of a template star at least 3x its flux (reference_distance, "
    "reference_flux_ratio): a star's residual, a variable star",
    "sharp": "peak_ratio >= 0.15, a peak holding >= 15 % of the flux (a 1-px PSF's would be "
    "~5 %): cosmic ray, hot pixel",
    "dipole": "negative_fraction >= 0.45: a negative lobe as large as the positive "
    "(misregistration, a bad subtraction, noise)",
    "point_like": "the rest: off stars, not sharp, no negative lobe (what a mover looks like)",
}


def observable_class(table: pd.DataFrame) -> np.ndarray:
    """Each candidate's :data:`OBSERVABLE_CLASSES` key, from its features."""
    out = np.full(len(table), "point_like", dtype=object)
    out[table["negative_fraction"].to_numpy() >= 0.45] = "dipole"
    out[table["peak_ratio"].to_numpy() >= 0.15] = "sharp"
    on_star = (table["reference_distance"].to_numpy() <= 8.0) & (
        table["reference_flux_ratio"].to_numpy() >= 3.0
    )
    out[on_star] = "on_star"
    return out


def bogus_mix(table: pd.DataFrame, scores: np.ndarray, threshold: float) -> pd.DataFrame:
    """The bogus candidates (``real`` 0) of ``table`` by observable class: how many, their
    share, and how many pass ``threshold``."""
    bogus = (table["real"] == 0).to_numpy()
    classes = observable_class(table)[bogus]
    passed = np.asarray(scores)[bogus] >= threshold
    rows = []
    for name in OBSERVABLE_CLASSES:
        mine = classes == name
        n, k = int(mine.sum()), int(passed[mine].sum())
        rows.append({"observable_class": name, "n": n, "share": n / max(len(classes), 1),
                     "passed": k, "pass_fraction": k / n if n else float("nan")})  # fmt: skip
    return pd.DataFrame(rows)


def stamp_metrics(
    candidates: pd.DataFrame, scores: np.ndarray, target_recall: float, n_resamples: int,
    seed: int, name: str,
) -> dict[str, Any]:  # fmt: skip
    """ROC/PR, and at the val threshold for ``target_recall``: recall (Wilson), candidate
    reduction factor (of :data:`REDUCTION_STREAM`, and with the fakes counted), FDR (fakes
    and bogus: it depends on their mix), false-positive rate per bogus kind, on the test
    fields; ``field_bootstrap``: the same at that threshold per test field, with intervals
    from ``n_resamples`` bootstrap draws of whole fields (:func:`field_intervals`; ``seed``
    and the model's ``name`` key its random stream)."""
    val = (candidates["split"] == "val").to_numpy()
    test = (candidates["split"] == "test").to_numpy()
    labels = candidates["real"].to_numpy()
    threshold = threshold_at_recall(labels[val], scores[val], target_recall)
    out = binary_metrics(labels[test], scores[test], target_recall, threshold, "val fields")
    point = operating_point(labels[test], scores[test], threshold)
    n_bogus = int((labels[test] == 0).sum())
    kinds = candidates["kind"].to_numpy()[test]
    per_kind = {}
    for kind in BOGUS_LABELS:
        mine = kinds == kind
        passed = int(np.sum(scores[test][mine] >= threshold))
        per_kind[kind] = {"n": int(mine.sum()), "passed": passed,
                          "false_positive_rate": passed / mine.sum() if mine.sum() else float("nan"),
                          "ci95": list(wilson_interval(passed, int(mine.sum())))}  # fmt: skip
    out.update({
        "recall_ci95": point["recall_ci95"],
        "false_positive_rate_by_kind": per_kind,
        # Reduction of the survey's own stream (REDUCTION_STREAM); the fakes measure recall.
        "reduction_stream": REDUCTION_STREAM,
        "candidate_reduction_at_target_recall": n_bogus / point["fp"]
        if point["fp"] else float("inf"),
        "candidate_reduction_ci95": reduction_ci95(point["fp"], n_bogus),
        # Counting the fakes in the stream caps the factor at 1 / (recall x fake fraction):
        # a property of how densely the experiment injects, not of the classifier.
        "candidate_reduction_with_fakes": 1.0 / point["candidate_fraction"]
        if point["candidate_fraction"] else float("inf"),
        "max_reduction_with_fakes": len(labels[test]) / max(int(labels[test].sum()), 1),
        "field_bootstrap": field_intervals(
            labels[test], scores[test] >= threshold, candidates["field"].to_numpy()[test],
            n_resamples, seed, name,
        ),
        "bogus_mix": bogus_mix(candidates[test], scores[test], threshold).to_dict("records"),
    })  # fmt: skip
    out["reduction_at_real_fraction"] = {
        str(pi): reduction_at_real_fraction(point["recall"], point["false_positive_rate"], pi)
        for pi in STREAM_REAL_FRACTIONS
    }
    # The FDR on a stream of the anchors' own real fractions (the test stream's mix is the
    # experiment's, not a survey's): the same recall and false-positive rate.
    out["fdr_at_real_fraction"] = {
        str(pi): fdr_at_real_fraction(point["recall"], point["false_positive_rate"], pi)
        for pi in STREAM_REAL_FRACTIONS
    }
    return out


def mover_completeness(
    movers: pd.DataFrame, candidates: pd.DataFrame, scores: np.ndarray, threshold: float,
    n_epochs: int, rate_edges: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 16.0),
) -> dict[str, Any]:  # fmt: skip
    """Per injected mover-epoch of the test fields: found by the detection step, and found
    and kept by the model at ``threshold``; m50/m90 of both, and completeness vs rate."""
    test_movers = movers[movers["split"] == "test"]
    test = candidates[candidates["split"] == "test"].assign(
        score=scores[(candidates["split"] == "test").to_numpy()]
    )
    real = test[test["real"] == 1]
    found = real.groupby(["mover_id", "epoch"]).size()
    kept = real[real["score"] >= threshold].groupby(["mover_id", "epoch"]).size()
    mags, det, keep, rates = [], [], [], []
    for row in test_movers.itertuples():
        for e in range(n_epochs):
            mags.append(row.injected_mag)
            rates.append(row.rate_arcsec_min)
            det.append((row.mover_id, e) in found.index)
            keep.append((row.mover_id, e) in kept.index)
    mags, det, keep, rates = map(np.asarray, (mags, det, keep, rates))
    by_rate = []
    for lo, hi in zip(rate_edges[:-1], rate_edges[1:], strict=True):
        sel = (rates >= lo) & (rates < hi)
        k, n = int(keep[sel].sum()), int(sel.sum())
        by_rate.append({"rate_arcsec_min": [lo, hi], "n": n, "completeness": k / n if n else float("nan"),
                        "ci95": list(wilson_interval(k, n))})  # fmt: skip
    return {
        "n_mover_epochs": int(len(mags)),
        "detection_step": completeness_limits(mags, det),
        "after_model": completeness_limits(mags, keep),
        "completeness_by_rate": by_rate,
        "curve": {
            "injected_mag": mags.tolist(),
            "detected": det.astype(int).tolist(),
            "kept": keep.astype(int).tolist(),
        },  # fmt: skip
    }


def findable_movers(candidates: pd.DataFrame, settings: LinkSettings) -> tuple[pd.Index, int]:
    """Movers that the detection step found in at least ``settings.min_detections`` epochs
    and that moved by at least ``settings.min_motion_px`` between their first and last
    detection (``candidates``: one split's rows): the ones a sequence stage could report.
    Returns (their ids, how many were detected often enough but moved less: a source that
    stays put is not a mover to the linker, as to a survey in one night)."""
    real = candidates[candidates["real"] == 1].sort_values("epoch")
    grouped = real.groupby("mover_id")
    first, last = grouped[["x_ref", "y_ref"]].first(), grouped[["x_ref", "y_ref"]].last()
    moved = np.hypot(last["x_ref"] - first["x_ref"], last["y_ref"] - first["y_ref"])
    often = grouped["epoch"].nunique() >= settings.min_detections
    findable = often & (moved >= settings.min_motion_px)
    ids = pd.Index(sorted(findable.index[findable]), name="mover_id")
    return ids, int((often & ~findable).sum())


def sequence_metrics(
    candidates: pd.DataFrame, scores: np.ndarray, threshold: float, target_recall: float,
    settings: LinkSettings, n_resamples: int, seed: int,
) -> dict[str, Any]:  # fmt: skip
    """Link every val and test field realisation; score sequences by their detections' median
    score; keep a sequence when that passes ``threshold``, the detection step's operating
    point (the CNN's threshold at ``target_recall`` of the val fields' real candidates); a
    mover is kept when its best sequence passes. Reports, on test, the findable movers
    missed (not linked, or linked below the threshold) and how many fewer sequences there
    are to screen (of :data:`REDUCTION_STREAM`, and with the fakes counted), and the val
    fields' findable movers that the threshold keeps.

    Why the detections' operating point and not a quantile of the val movers' sequence
    scores: a 99.9 % quantile of a few hundred movers is their minimum, one mover's score;
    the detection threshold is set on several times more val detections, and on the val
    fields it met both targets (<= 0.4 % missed, >= 90 % fewer) where the quantile did not
    (docs/decisions.md).

    ``field_bootstrap``: the sequences' FDR and reduction, and the findable movers kept
    (``movers_kept_ci95``), per test field and bootstrapped over whole fields."""
    table = candidates.assign(score=scores, index=candidates["candidate_id"])
    by_id = table.set_index("candidate_id")
    result = {}
    for split in ("val", "test"):
        rows = []
        for (field, _), group in table[table["split"] == split].groupby(["field", "realisation"]):
            seqs = link(group, settings)
            if len(seqs):
                seqs["field"] = field
                seqs["score"] = score_sequences(seqs, by_id["score"])
                seqs["real"], seqs["mover_id"] = label_sequences(seqs, by_id["mover_id"])
                rows.append(seqs)
        result[split] = (
            pd.concat(rows, ignore_index=True)
            if rows
            else pd.DataFrame(
                columns=["members", "n", "rms_px", "vx", "vy", "field", "score", "real", "mover_id"]
            )
        )
    # A findable mover's score is its best sequence's; one that no sequence is of (its
    # detections did not link) is missed whatever the threshold.
    best, too_slow = {}, {}
    for split in ("val", "test"):
        seqs = result[split]
        linked = seqs[seqs["real"] == 1].groupby("mover_id")["score"].max()
        findable, too_slow[split] = findable_movers(table[table["split"] == split], settings)
        best[split] = linked.reindex(findable)
    val_kept = int((best["val"] >= threshold).sum())
    test = result["test"]
    not_linked = int(best["test"].isna().sum())
    below = int((best["test"] < threshold).sum())
    missed, n_movers = not_linked + below, len(best["test"])
    kept = test["score"].to_numpy() >= threshold
    passed = int(kept.sum())
    lo, hi = wilson_interval(missed, n_movers)
    labels = test["real"].to_numpy()
    n_bogus = int((labels == 0).sum())
    bogus_passed = int((kept & (labels == 0)).sum())
    chosen_on = "the detections' operating point (val fields)"
    out = (
        binary_metrics(labels, test["score"].to_numpy(), target_recall, threshold, chosen_on)
        if len(test)
        else {"threshold_from": chosen_on, "threshold_at_target_recall": threshold}
    )
    out.update({
        "val_findable_movers": len(best["val"]), "val_movers_kept": val_kept,
        "findable_movers": n_movers, "movers_missed": missed,
        "movers_not_linked": not_linked, "movers_below_threshold": below,
        "movers_too_slow": too_slow["test"],
        "movers_missed_fraction": missed / n_movers if n_movers else float("nan"),
        "movers_missed_ci95": [lo, hi],
        "sequences": int(len(test)), "sequences_passed": passed,
        "fdr_at_target_recall": float(np.mean(labels[kept] == 0))
        if passed else 0.0,
        # The survey's own sequences (REDUCTION_STREAM: not a fake's), as for stamps.
        "reduction_stream": REDUCTION_STREAM, "bogus_sequences": n_bogus,
        "candidate_reduction_at_target_recall": n_bogus / bogus_passed
        if bogus_passed else float("inf"),
        "candidate_reduction_ci95": reduction_ci95(bogus_passed, n_bogus),
        "sequences_screened_fewer_fraction": 1 - bogus_passed / n_bogus
        if n_bogus else float("nan"),
        "sequences_screened_fewer_ci95": list(wilson_interval(n_bogus - bogus_passed, n_bogus)),
        # with the fakes' sequences counted, capped at their share (all must be screened)
        "candidate_reduction_with_fakes": len(test) / passed if passed else float("inf"),
        "sequences_screened_fewer_with_fakes": 1 - passed / len(test)
        if len(test) else float("nan"),
        "max_screened_fewer_with_fakes": 1 - labels.sum() / len(test)
        if len(test) else float("nan"),
        "link_settings": vars(settings),
        "field_bootstrap": field_intervals(
            labels, kept, test["field"].to_numpy(), n_resamples, seed, "detector_sequence"
        ),
    })  # fmt: skip
    # Movers found: each findable test mover, kept or not, bootstrapped over its field.
    mover_field = table.drop_duplicates("mover_id").set_index("mover_id")["field"]
    movers_kept = (best["test"] >= threshold).to_numpy()
    movers = field_intervals(
        np.ones(len(movers_kept), int), movers_kept,
        mover_field.reindex(best["test"].index).to_numpy(), n_resamples, seed, "movers",
    )  # fmt: skip
    out["field_bootstrap"]["movers_kept_ci95"] = movers["recall_ci95"]
    for f, row in movers["by_field"].items():
        out["field_bootstrap"]["by_field"].setdefault(f, {})["movers_kept"] = row["recall"]
    return out
