"""Sequences: detections of one field in several epochs that one object moving in a straight
line at constant rate could have made (ATLAS-style tracklets).

A sequence needs at least ``min_detections`` epochs; its positions (reference frame, px)
must fit ``x(t) = x0 + vx t, y(t) = y0 + vy t`` within ``tolerance_px`` rms, and it must move
by at least ``min_motion_px`` over its span: a source that stays put (a hot pixel, a
variable star, a star residual) is not a mover. Its score is the median of its detections'
scores under a candidate model: one detection, however scored, neither sinks nor lifts it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LinkSettings:
    """``tolerance_px``: largest rms of a sequence's straight-line fit. ``gate_px``: how far
    from the line through two detections a third may lie to be tried. The gate is wider than
    the tolerance: a pair's own position errors tilt its line, so the third detection's
    distance from it is up to ~3x the final fit's residuals (docs/decisions.md)."""

    min_detections: int = 3
    tolerance_px: float = 2.0
    min_motion_px: float = 3.0
    gate_px: float = 4.0


def _fit(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares straight-line motion: (rms residual px, vx, vy in px per unit of t)."""
    design = np.column_stack([np.ones_like(t), t])
    coef_x, *_ = np.linalg.lstsq(design, x, rcond=None)
    coef_y, *_ = np.linalg.lstsq(design, y, rcond=None)
    res = np.hypot(x - design @ coef_x, y - design @ coef_y)
    return float(np.sqrt(np.mean(res * res))), float(coef_x[1]), float(coef_y[1])


def link(
    candidates: pd.DataFrame, settings: LinkSettings | None = None,
    seed_pairs: list[tuple[int, int]] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """All distinct sequences of one field.

    ``candidates``: one row per detection with columns ``epoch``, ``t_min``, ``x_ref``,
    ``y_ref`` (reference frame) and ``index`` (its id). Each pair of detections in two
    epochs predicts where the object is at every other epoch; the nearest detection within
    ``gate_px`` there joins, and the sequence is kept when its fit is within
    ``tolerance_px`` and it shares fewer than two detections with a longer or
    better-fitting sequence. ``seed_pairs``: the pairs of epochs whose detections start
    sequences (default all pairs). Returns columns ``members`` (tuple of ids, by epoch),
    ``n``, ``rms_px``, ``vx``, ``vy`` (px per minute).
    """
    settings = settings or LinkSettings()
    # Plain arrays per epoch (ids, x, y and the epoch's time): the inner loop runs
    # (pairs of detections) x (epochs) times, where pandas indexing costs ~100x more.
    by_epoch = {
        e: (g["index"].to_numpy(), g["x_ref"].to_numpy(float), g["y_ref"].to_numpy(float),
            float(g["t_min"].iloc[0]))
        for e, g in candidates.groupby("epoch")
    }  # fmt: skip
    epochs = sorted(by_epoch)
    seen: dict[tuple[int, ...], dict] = {}
    tol, gate = settings.tolerance_px, settings.gate_px
    pairs = itertools.combinations(epochs, 2) if seed_pairs is None else seed_pairs
    for a, b in pairs:
        if a not in by_epoch or b not in by_epoch:
            continue
        (ids_a, xs_a, ys_a, ta), (ids_b, xs_b, ys_b, tb) = by_epoch[a], by_epoch[b]
        for ia, xa, ya in zip(ids_a, xs_a, ys_a, strict=True):
            for ib, xb, yb in zip(ids_b, xs_b, ys_b, strict=True):
                if np.hypot(xb - xa, yb - ya) < settings.min_motion_px:
                    continue
                vx, vy = (xb - xa) / (tb - ta), (yb - ya) / (tb - ta)
                members = {a: (int(ia), xa, ya, ta), b: (int(ib), xb, yb, tb)}
                for e in epochs:
                    if e in members:
                        continue
                    ids_e, xs_e, ys_e, te = by_epoch[e]
                    d = np.hypot(xs_e - (xa + vx * (te - ta)), ys_e - (ya + vy * (te - ta)))
                    k = int(np.argmin(d))
                    if d[k] <= gate:
                        members[e] = (int(ids_e[k]), xs_e[k], ys_e[k], te)
                if len(members) < settings.min_detections:
                    continue
                key = tuple(members[e][0] for e in sorted(members))
                if key in seen:
                    continue
                t = np.array([members[e][3] for e in sorted(members)])
                x = np.array([members[e][1] for e in sorted(members)])
                y = np.array([members[e][2] for e in sorted(members)])
                rms, fvx, fvy = _fit(t, x, y)
                if rms <= tol:
                    seen[key] = dict(members=key, n=len(key), rms_px=rms, vx=fvx, vy=fvy)
    # Two sequences that share two detections are copies of one track (two detections fix
    # the line): the longest, then the best-fitting, is kept, so a cosmic ray beside a
    # mover's path does not make a second copy of it. Sequences that share one detection
    # are kept both, as MOPS keeps them (removing only subsets): a bogus sequence through one
    # of a mover's detections that happens to fit better must not take it from the mover
    # (it did, for 10 of the 14 val movers lost to linking in the 400-realisation run).
    kept: list[dict] = []
    for seq in sorted(seen.values(), key=lambda s: (-s["n"], s["rms_px"], s["members"])):
        members = set(seq["members"])
        if all(len(members.intersection(k["members"])) < 2 for k in kept):
            kept.append(seq)
    return pd.DataFrame(kept, columns=["members", "n", "rms_px", "vx", "vy"])


def score_sequences(sequences: pd.DataFrame, detection_scores: pd.Series) -> np.ndarray:
    """Median per-detection score of each sequence (``detection_scores`` indexed by id).

    Chosen over the mean on the val fields (docs/decisions.md): with the mean, one detection
    scored near 0 sinks a mover, and one mover's detection lifts a bogus line through it."""
    return np.array([float(detection_scores.loc[list(m)].median()) for m in sequences["members"]])


def label_sequences(sequences: pd.DataFrame, object_ids: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A sequence is a mover's (real) when more than half of its detections are that
    injected mover's: a screener sees the mover, and one stray detection on its path (a
    star residual where the mover was not detected) does not hide it. ``object_ids`` maps a
    detection's id to its mover ("" for bogus)."""
    labels, objects = [], []
    for members in sequences["members"]:
        counts = object_ids.loc[list(members)].value_counts()
        counts = counts[counts.index != ""]
        real = len(counts) > 0 and 2 * int(counts.iloc[0]) > len(members)
        labels.append(int(real))
        objects.append(str(counts.index[0]) if real else "")
    return np.array(labels, np.int64), objects
