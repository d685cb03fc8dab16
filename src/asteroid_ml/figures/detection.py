"""Figures of the detection stage: completeness across the survey limit, false positives per
bogus kind, and which future impactors this survey could see at the observation epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asteroid_ml.detection.candidates import BOGUS_LABELS
from asteroid_ml.evaluation.metrics import Z_68, binned_fraction
from asteroid_ml.figures.style import (
    PAGE_WIDTH_IN,
    PALETTE,
    POPULATION_STYLE,
    model_style,
    new_figure,
    panel_label,
    require_columns,
    styled,
)
from asteroid_ml.simulation.solar_system import YEAR_D

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _errorbar(ax: Any, x: np.ndarray, p: np.ndarray, low: np.ndarray, high: np.ndarray,
              **kw: Any) -> None:  # fmt: skip
    ok = np.isfinite(p)
    ax.errorbar(x[ok], p[ok], yerr=np.maximum([p[ok] - low[ok], high[ok] - p[ok]], 0.0),
                marker="o", ms=2.5, capsize=1.5, elinewidth=0.7, **kw)  # fmt: skip


def _plain_log_ticks(ax: Any) -> None:
    """Major ticks labelled as plain numbers; minor ticks unlabelled (no overlapping 3x10^-1)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


@styled
def plot_detection_completeness(metrics: Mapping[str, Mapping[str, Any]]) -> Figure:
    """(a) Fraction of injected mover-epochs of the test fields found by the detection step and
    kept by each classifier at its operating point, against injected magnitude, with the
    fitted logistic and m50; (b) the same after the CNN against rate of motion; (c) the
    false-positive rate of each bogus kind at the operating point."""
    fig = new_figure(PAGE_WIDTH_IN, 2.5)
    ax_mag, ax_rate, ax_fp = fig.subplots(1, 3)
    first = next(iter(metrics.values()))
    curve = first["completeness"]["curve"]
    mags = np.asarray(curve["injected_mag"], float)
    edges = np.linspace(np.floor(mags.min() * 4) / 4, np.ceil(mags.max() * 4) / 4, 15)
    centres = 0.5 * (edges[:-1] + edges[1:])
    p, lo, hi, _ = binned_fraction(mags, np.asarray(curve["detected"], bool), edges, Z_68)
    _errorbar(ax_mag, centres, p, lo, hi, color=PALETTE["grey"], label="sep detection step")
    fit = first["completeness"]["detection_step"]
    if np.isfinite(fit.get("m50_mag") or np.nan):
        grid = np.linspace(edges[0], edges[-1], 200)
        ax_mag.plot(grid, 1 / (1 + np.exp((grid - fit["m50_mag"]) / fit["width_mag"])),
                    color=PALETTE["grey"], lw=0.8, ls=":")  # fmt: skip
        ax_mag.axvline(fit["m50_mag"], color=PALETTE["grey"], lw=0.6, ls=":")
    ax_mag.axvline(first["survey"]["limit_mag"], color=PALETTE["black"], lw=0.6, ls="--",
                   label=f"5σ limit {first['survey']['limit_mag']:.2f}")  # fmt: skip
    for k, (model, m) in enumerate(metrics.items()):
        c = m["completeness"]["curve"]
        p, lo, hi, _ = binned_fraction(np.asarray(c["injected_mag"], float),
                                       np.asarray(c["kept"], bool), edges, Z_68)  # fmt: skip
        style = model_style(model)
        _errorbar(ax_mag, centres + 0.03 * (k + 1), p, lo, hi, color=style["color"],
                  ls=style["linestyle"], label=f"{style['label']} (m50 {m['m50_mag']:.2f})")  # fmt: skip
    ax_mag.set_xlabel("injected magnitude")
    ax_mag.set_ylabel("completeness")
    ax_mag.set_ylim(-0.02, 1.05)
    ax_mag.legend(fontsize=5.5, loc="lower left")
    panel_label(ax_mag, "a")
    for model, m in metrics.items():
        rows = m["completeness"]["completeness_by_rate"]
        x = np.array(
            [np.sqrt(max(r["rate_arcsec_min"][0], 0.1) * r["rate_arcsec_min"][1]) for r in rows]
        )
        pr = np.array(
            [r["completeness"] if r["completeness"] is not None else np.nan for r in rows], float
        )
        ci = np.array(
            [[np.nan, np.nan] if r["ci95"][0] is None else r["ci95"] for r in rows], float
        )
        style = model_style(model)
        _errorbar(ax_rate, x, pr, ci[:, 0], ci[:, 1], color=style["color"], ls=style["linestyle"],
                  label=style["label"])  # fmt: skip
    ax_rate.set_xscale("log")
    _plain_log_ticks(ax_rate)
    ax_rate.set_xlabel("rate (arcsec / min)")
    ax_rate.set_ylabel("completeness after the model")
    ax_rate.set_ylim(-0.02, 1.05)
    panel_label(ax_rate, "b")
    width = 0.8 / max(len(metrics), 1)
    for k, (model, m) in enumerate(metrics.items()):
        per_kind = m["false_positive_rate_by_kind"]
        rates = np.array([per_kind[b]["false_positive_rate"] or 0.0 for b in BOGUS_LABELS], float)
        style = model_style(model)
        ax_fp.bar(np.arange(len(BOGUS_LABELS)) + k * width, rates, width, color=style["color"],
                  label=style["label"])  # fmt: skip
    ax_fp.set_xticks(np.arange(len(BOGUS_LABELS)) + 0.4 - width / 2)
    ax_fp.set_xticklabels([b.replace("_", " ") for b in BOGUS_LABELS], rotation=60, fontsize=5.5)
    ax_fp.set_ylabel("false-positive rate at 99 % recall")
    ax_fp.set_ylim(0, 1.05)
    ax_fp.legend(fontsize=5.5)
    panel_label(ax_fp, "c")
    return fig


@styled
def plot_impactor_visibility(
    objects: pd.DataFrame, m50_mag: float, survey_label: str, epoch_jd_tdb: float
) -> Figure:
    """Which future impactors could this survey see now? The fraction of simulated objects
    brighter than the survey's m50 at the observation epoch (their own V), against time to
    impact (a, impactors) and against H (b, impactors and background); 68 % Wilson bars."""
    require_columns(objects, ["population", "V_mag", "H_mag", "impact_jd_tdb"], "objects")
    fig = new_figure(PAGE_WIDTH_IN, 2.5)
    ax_t, ax_h = fig.subplots(1, 2)
    seen = objects["V_mag"].to_numpy(float) <= m50_mag
    impactors = (objects["population"] == "impactor").to_numpy()
    years = (objects["impact_jd_tdb"].to_numpy(float) - epoch_jd_tdb) / YEAR_D
    finite = years[impactors & np.isfinite(years)]
    if finite.size:
        edges = np.geomspace(max(finite.min(), 0.1), finite.max() * 1.001, 11)
        p, lo, hi, n = binned_fraction(years[impactors], seen[impactors], edges, Z_68)
        _errorbar(ax_t, np.sqrt(edges[:-1] * edges[1:]), p, lo, hi,
                  color=POPULATION_STYLE["impactor"]["color"], label="Simulated impactors")  # fmt: skip
    ax_t.set_xscale("log")
    _plain_log_ticks(ax_t)
    ax_t.set_xlabel("time to impact (yr)")
    ax_t.set_ylabel(f"fraction with V ≤ m50 = {m50_mag:.2f}")
    ax_t.set_ylim(-0.02, 1.05)
    ax_t.set_title(f"which future impactors could {survey_label} see now?", fontsize=7)
    panel_label(ax_t, "a")
    h = objects["H_mag"].to_numpy(float)
    edges = np.linspace(np.floor(np.nanmin(h)), np.ceil(np.nanmax(h)), 12)
    for population in ("impactor", "background"):
        mine = (objects["population"] == population).to_numpy()
        if mine.any():
            p, lo, hi, _ = binned_fraction(h[mine], seen[mine], edges, Z_68)
            style = POPULATION_STYLE[population]
            _errorbar(ax_h, 0.5 * (edges[:-1] + edges[1:]), p, lo, hi, color=style["color"],
                      label=style["label"])  # fmt: skip
    ax_h.set_xlabel("absolute magnitude H")
    ax_h.set_ylim(-0.02, 1.05)
    ax_h.legend(fontsize=6)
    panel_label(ax_h, "b")
    return fig
