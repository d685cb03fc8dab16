"""Figures of the evaluation: ROC/PR, confusion matrices, scores, completeness, real PHAs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asteroid_ml.evaluation.metrics import Z_68, binned_fraction
from asteroid_ml.figures.style import (
    PAGE_WIDTH_IN,
    PALETTE,
    model_style,
    new_figure,
    number_label,
    panel_label,
    require_columns,
    styled,
)
from asteroid_ml.registry import TASK_TITLE

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (keeps `asteroid-ml` fast)
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- 5. ROC & PR
@styled
def plot_roc_pr(metrics: Mapping[str, Mapping[str, Any]]) -> Figure:
    """ROC (left) and precision-recall (right) curves; one row per task.

    ``metrics`` maps model name to its ``metrics.json`` dictionary
    (``task``, ``roc_curve``, ``pr_curve``, ``roc_auc``, ``pr_auc``, ``n``,
    ``per_class``).
    """
    tasks = [
        t for t in ("detector", "impactor") if any(m.get("task") == t for m in metrics.values())
    ]
    if not tasks:
        raise ValueError("ROC/PR: no metrics with task 'detector' or 'impactor'")
    fig = new_figure(PAGE_WIDTH_IN, 2.45 * len(tasks) + 0.1)
    axes = fig.subplots(len(tasks), 2, squeeze=False)
    letters = iter("abcd")
    for row, task in enumerate(tasks):
        ax_roc, ax_pr = axes[row]
        prevalence = None
        for model, m in metrics.items():
            if m.get("task") != task:
                continue
            style = model_style(model)
            kw = {"color": style["color"], "ls": style["linestyle"]}
            roc, pr = m["roc_curve"], m["pr_curve"]
            ax_roc.plot(
                roc["fpr"],
                roc["tpr"],
                label=f"{style['label']} (AUC = {number_label(m.get('roc_auc'))})",
                drawstyle="steps-post",
                **kw,
            )
            ax_pr.plot(
                pr["recall"],
                pr["precision"],
                label=f"{style['label']} (AP = {number_label(m.get('pr_auc'))})",
                drawstyle="steps-post",
                **kw,
            )
            support = m.get("per_class", {})
            if "1" in support and "0" in support:
                n1, n0 = support["1"]["support"], support["0"]["support"]
                prevalence = n1 / max(n1 + n0, 1)
        ax_roc.plot([0, 1], [0, 1], color=PALETTE["grey"], lw=0.6, ls=":", label="Chance")
        if prevalence is not None:
            ax_pr.axhline(
                prevalence,
                color=PALETTE["grey"],
                lw=0.6,
                ls=":",
                label=f"Chance ({prevalence:.2f})",
            )
        ax_roc.set(
            xlim=(0, 1),
            ylim=(0, 1.01),
            xlabel="False-positive rate",
            ylabel="True-positive rate (recall)",
        )
        ax_pr.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision")
        ax_roc.set_title(f"{TASK_TITLE[task]}: ROC")
        ax_pr.set_title(f"{TASK_TITLE[task]}: precision-recall")
        ax_roc.legend(loc="lower right")
        ax_pr.legend(loc="lower left")
        panel_label(ax_roc, next(letters))
        panel_label(ax_pr, next(letters))
    return fig


# --------------------------------------------------------------------------- 6. confusion matrices
CLASS_NAMES = {"detector": ("no asteroid", "asteroid"), "impactor": ("background", "impactor")}


@styled
def plot_confusion_matrices(metrics: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Confusion matrices at threshold 0.5 (``confusion_matrix`` [[tn, fp], [fn, tp]]).

    Cells show counts and the fraction of the true class (row-normalised);
    colour is the row-normalised fraction.
    """
    models = list(metrics)
    ncols = min(len(models), 4)
    nrows = int(np.ceil(len(models) / ncols))
    fig = new_figure(PAGE_WIDTH_IN, 2.1 * nrows + 0.2)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    image = None
    for ax, model, letter in zip(axes, models, "abcdefgh", strict=False):
        m = metrics[model]
        matrix = np.asarray(m["confusion_matrix"], dtype=float)
        if matrix.shape != (2, 2):
            raise ValueError(
                f"{model} metrics.json: confusion_matrix must be 2x2, got {matrix.shape}"
            )
        fraction = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1, origin="upper")
        for (r, c), count in np.ndenumerate(matrix):
            dark = fraction[r, c] > 0.6
            ax.text(
                c,
                r,
                f"{int(count):,}\n{fraction[r, c]:.1%}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if dark else "black",
            )
        names = CLASS_NAMES.get(m.get("task", ""), ("0", "1"))
        ax.set_xticks([0, 1], names, fontsize=6)
        ax.set_yticks([0, 1], names, fontsize=6, rotation=90, va="center")
        ax.tick_params(top=False, right=False, length=0)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        task = TASK_TITLE.get(m.get("task", ""), "")
        ax.set_title(f"({letter}) {model_style(model)['label']}\n{task}", loc="left")
    for ax in axes[len(models) :]:
        ax.set_axis_off()
    if image is not None:
        cbar = fig.colorbar(image, ax=axes.tolist(), shrink=0.8, pad=0.01, aspect=20)
        cbar.set_label("Fraction of true class")
    return fig


# --------------------------------------------------------------------------- 7. score histograms
@styled
def plot_score_histograms(
    predictions: Mapping[str, pd.DataFrame], metrics: Mapping[str, Mapping[str, Any]]
) -> Figure:
    """Scores of the test set by true class, with the operating threshold at the target recall.

    ``predictions[model]`` has ``label`` and ``score``; ``metrics[model]`` gives
    ``threshold_at_target_recall`` and ``target_recall``.
    """
    models = list(predictions)
    ncols = 2
    nrows = int(np.ceil(len(models) / ncols))
    fig = new_figure(PAGE_WIDTH_IN, 2.1 * nrows + 0.1)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    bins = np.linspace(0.0, 1.0, 41)
    for ax, model, letter in zip(axes, models, "abcdefgh", strict=False):
        frame = predictions[model]
        require_columns(frame, ["label", "score"], f"{model} predictions.parquet")
        m = metrics.get(model, {})
        names = CLASS_NAMES.get(
            m.get("task", "detector" if model.startswith("stamp") else "impactor")
        )
        for label, color in ((0, PALETTE["blue"]), (1, PALETTE["vermillion"])):
            scores = frame.loc[frame["label"] == label, "score"].to_numpy(dtype=float)
            ax.hist(
                np.clip(scores, 0, 1), bins=bins, histtype="stepfilled", alpha=0.35, color=color
            )
            ax.hist(
                np.clip(scores, 0, 1),
                bins=bins,
                histtype="step",
                color=color,
                label=f"True {names[label]} ({scores.size:,})",
            )
        threshold = m.get("threshold_at_target_recall")
        if threshold is not None and np.isfinite(threshold):
            recall = m.get("target_recall", 0.99)
            ax.axvline(
                threshold,
                color="k",
                lw=0.9,
                ls="--",
                label=f"Threshold for {recall:.0%} recall ({threshold:.3g})",
            )
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Classifier score (probability of class 1)")
        ax.set_ylabel("Test samples per bin")
        ax.set_title(
            f"{model_style(model)['label']} ({TASK_TITLE.get(m.get('task', ''), '').lower()})"
        )
        ax.legend(loc="upper center")
        # bottom 0.5: single counts show as bars; top: room for the legend above the bars
        ax.set_ylim(0.5, ax.get_ylim()[1] * 8)
        panel_label(ax, letter)
    for ax in axes[len(models) :]:
        ax.set_axis_off()
    return fig


# --------------------------------------------------------------------------- 8. completeness
@styled
def plot_completeness(
    predictions: Mapping[str, pd.DataFrame],
    thresholds: Mapping[str, float],
    n_bins: int = 12,
) -> Figure:
    """Fraction of injected asteroids detected vs SNR (a) and injected V magnitude (b).

    A positive (``label`` 1) counts as detected when ``score >= thresholds[model]``
    (the threshold at the target recall). Bins: logarithmic in SNR, linear in
    magnitude, shared by all models.
    """
    positives = {}
    for model, frame in predictions.items():
        require_columns(frame, ["label", "score", "snr", "mag"], f"{model} predictions.parquet")
        positives[model] = frame[frame["label"] == 1]
    pooled = pd.concat(list(positives.values()))
    fig = new_figure(PAGE_WIDTH_IN, 2.4)
    axes = fig.subplots(1, 2)
    for ax, column, letter in zip(axes, ("snr", "mag"), "ab", strict=True):
        finite = pooled[column].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite) & ((finite > 0) if column == "snr" else True)]
        if finite.size == 0:
            ax.text(0.5, 0.5, f"no finite {column}", transform=ax.transAxes, ha="center")
            continue
        lo, hi = np.quantile(finite, [0.0, 1.0])
        if column == "snr":
            edges = np.geomspace(max(lo, 1e-2), max(hi, lo * 1.01), n_bins + 1)
        else:
            edges = np.linspace(lo, max(hi, lo + 1e-3), n_bins + 1)
        centres = (
            np.sqrt(edges[:-1] * edges[1:]) if column == "snr" else 0.5 * (edges[:-1] + edges[1:])
        )
        for k, (model, frame) in enumerate(positives.items()):
            style = model_style(model)
            detected = frame["score"].to_numpy(dtype=float) >= thresholds[model]
            p, low, high, n = binned_fraction(
                frame[column].to_numpy(dtype=float), detected, edges, Z_68
            )
            ok = n > 0
            # Dodge the models sideways by a few per cent of a bin so overlapping points stay visible.
            dodge = 0.12 * (k - (len(positives) - 1) / 2)
            if column == "snr":
                x = centres * (edges[1] / edges[0]) ** dodge
            else:
                x = centres + dodge * (edges[1] - edges[0])
            ax.errorbar(
                x[ok],
                p[ok],
                yerr=np.maximum([p[ok] - low[ok], high[ok] - p[ok]], 0.0),
                color=style["color"],
                ls=style["linestyle"],
                marker="o",
                ms=2.5,
                capsize=1.5,
                elinewidth=0.7,
                label=f"{style['label']} (threshold {thresholds[model]:.3g})",
            )
        ax.axhline(1.0, color=PALETTE["grey"], lw=0.5, ls=":")
        ax.set_ylim(-0.02, 1.05)
        if column == "snr":
            ax.set_xscale("log")
            ax.set_xlabel("Injected signal-to-noise ratio")
        else:
            ax.set_xlabel("Injected magnitude V (mag)")
            ax.invert_xaxis()  # brighter to the right, like SNR in (a)
        ax.set_ylabel("Completeness (detected fraction)")
        ax.legend(loc="lower right")
        panel_label(ax, letter)
    return fig


# --------------------------------------------------------------------------- 9. real PHAs vs non-PHAs
@styled
def plot_hoi_real_catalog(catalog: pd.DataFrame, threshold: float) -> Figure:
    """Impactor-classifier scores of real NEOs: PHAs vs non-PHAs (a) and score vs MOID (b).

    ``catalog`` has ``pha`` (bool), ``score`` and ``moid_au`` (au);
    ``threshold`` is the classifier's operating threshold.
    """
    require_columns(catalog, ["pha", "score", "moid_au"], "hoi_real_catalog.parquet")
    pha = catalog["pha"].astype(bool).to_numpy()
    score = catalog["score"].to_numpy(dtype=float)
    # The evaluate stage's own flag when present, so the fractions match hoi_real_catalog.json.
    is_flagged = (
        catalog["flagged"].astype(bool).to_numpy() if "flagged" in catalog else score >= threshold
    )
    fig = new_figure(PAGE_WIDTH_IN, 2.4)
    ax_hist, ax_moid = fig.subplots(1, 2)
    bins = np.linspace(0.0, 1.0, 41)
    for mask, name, color in (
        (~pha, "Non-PHAs", PALETTE["blue"]),
        (pha, "PHAs", PALETTE["vermillion"]),
    ):
        flagged = float(np.mean(is_flagged[mask])) if mask.any() else float("nan")
        ax_hist.hist(
            score[mask],
            bins=bins,
            density=True,
            histtype="step",
            color=color,
            lw=1.1,
            label=f"{name} ({int(mask.sum()):,}; {flagged:.1%} flagged)",
        )
        ax_moid.scatter(
            catalog.loc[mask, "moid_au"],
            score[mask],
            s=3,
            color=color,
            alpha=0.6,
            linewidths=0,
            rasterized=True,
            label=name,
        )
    for ax in (ax_hist,):
        ax.axvline(threshold, color="k", lw=0.9, ls="--", label=f"Threshold ({threshold:.3g})")
    ax_moid.axhline(threshold, color="k", lw=0.9, ls="--")
    ax_moid.axvline(0.05, color=PALETTE["grey"], lw=0.7, ls=":", label="MOID = 0.05 au (PHA limit)")
    ax_hist.set(xlim=(0, 1), xlabel="Impactor-classifier score", ylabel="Probability density")
    ax_hist.set_yscale("log")
    ax_hist.legend(loc="upper center", fontsize=6)
    ax_hist.set_ylim(top=ax_hist.get_ylim()[1] * 10)
    moid = catalog["moid_au"].to_numpy(dtype=float)
    if np.isfinite(moid).any() and (moid > 0).any():
        ax_moid.set_xscale("log")
        ax_moid.set_xlim(max(np.nanmin(moid[moid > 0]) * 0.8, 1e-5), np.nanmax(moid) * 1.2)
    ax_moid.set(ylim=(-0.02, 1.02), xlabel="Earth MOID (au)", ylabel="Impactor-classifier score")
    leg = ax_moid.legend(loc="lower left", markerscale=2.5)
    for handle in leg.legend_handles:
        if hasattr(handle, "set_alpha"):
            handle.set_alpha(1)
    panel_label(ax_hist, "a")
    panel_label(ax_moid, "b")
    return fig


@styled
def plot_hazard(
    summary: pd.DataFrame, scores: pd.DataFrame, forward: pd.DataFrame, limit_au: float
) -> Figure:
    """Every impactor model and MOID baseline on the real NEOs (a), and the NEOs' MOID today
    against their smallest MOID in the forward run (b)."""
    require_columns(
        summary,
        ["model", "label", "roc_auc", "recall", "recall_ci95_low", "recall_ci95_high"],
        "real-catalog summary",
    )
    fig = new_figure(PAGE_WIDTH_IN, 2.8)
    ax_auc, ax_moid = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.2]})
    models = list(dict.fromkeys(summary["model"]))
    labels = ("pha", "future_approach")
    width = 0.38
    for k, label in enumerate(labels):
        rows = summary[summary["label"] == label].set_index("model").reindex(models)
        x = np.arange(len(models)) + (k - 0.5) * width
        ax_auc.bar(
            x,
            rows["roc_auc"],
            width,
            color=PALETTE["blue"] if k == 0 else PALETTE["vermillion"],
            label={"pha": "PHA flag today", "future_approach": "physics label (forward run)"}[
                label
            ],
        )
    ax_auc.set_xticks(np.arange(len(models)))
    ax_auc.set_xticklabels([model_style(m)["label"] for m in models], rotation=30, ha="right")
    ax_auc.set_ylim(0.0, 1.3)
    ax_auc.set_yticks(np.linspace(0.0, 1.0, 6))
    ax_auc.axhline(0.5, color=PALETTE["grey"], lw=0.6, ls=":")
    ax_auc.set_ylabel("ROC-AUC on the real NEOs")
    ax_auc.legend(loc="upper center", ncol=2, fontsize=6)
    panel_label(ax_auc, "a")

    require_columns(
        forward, ["des", "moid_now_au", "moid_min_au", "future_approach"], "forward runs"
    )
    table = forward.merge(scores[["des", "pha"]], on="des", how="inner")
    floor = 1e-5
    now = np.maximum(table["moid_now_au"].to_numpy(float), floor)
    future = np.maximum(table["moid_min_au"].to_numpy(float), floor)
    pha = table["pha"].to_numpy(bool)
    ax_moid.scatter(
        now[~pha],
        future[~pha],
        s=2,
        color=PALETTE["grey"],
        linewidths=0,
        rasterized=True,
        label=f"not PHA ({(~pha).sum():,})",
    )
    ax_moid.scatter(
        now[pha],
        future[pha],
        s=3,
        color=PALETTE["vermillion"],
        linewidths=0,
        rasterized=True,
        label=f"PHA ({pha.sum():,})",
    )
    ax_moid.axvline(limit_au, color="k", lw=0.6, ls="--")
    ax_moid.axhline(limit_au, color="k", lw=0.6, ls="--")
    ax_moid.set_xscale("log")
    ax_moid.set_yscale("log")
    ax_moid.set_xlabel("Earth MOID at the epoch (au)")
    ax_moid.set_ylabel("Smallest Earth MOID in the window (au)")
    crossing = ((now > limit_au) & (future <= limit_au) & ~pha).sum()
    ax_moid.set_title(f"{crossing} non-PHAs reach MOID ≤ {limit_au:g} au", fontsize=7)
    ax_moid.legend(loc="lower right", markerscale=3, fontsize=6)
    panel_label(ax_moid, "b")
    return fig
