"""Figures of the simulation stage: orbital elements, close approaches against JPL."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from asteroid_ml.figures.style import (
    PAGE_WIDTH_IN,
    PALETTE,
    POPULATION_STYLE,
    new_figure,
    panel_label,
    require_columns,
    sci_label,
    styled,
    subsample,
)

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (keeps `asteroid-ml` fast)
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- 1. orbital elements
def real_neo_elements(neos: pd.DataFrame) -> pd.DataFrame:
    """JPL SBDB columns (``a``, ``e``, ``i``, ``q``, ``pha``) renamed to the sim's units-in-name."""
    require_columns(neos, ["a", "e", "i"], "real NEO table")
    out = pd.DataFrame(
        {
            "a_au": pd.to_numeric(neos["a"], errors="coerce"),
            "e": pd.to_numeric(neos["e"], errors="coerce"),
            "i_deg": pd.to_numeric(neos["i"], errors="coerce"),
        }
    )
    out["q_au"] = (
        pd.to_numeric(neos["q"], errors="coerce") if "q" in neos else out.a_au * (1 - out.e)
    )
    return out.dropna()


def _bound_orbits(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``q_au`` if absent and keep bound orbits (0 <= e < 1, a > 0)."""
    frame = frame.copy()
    if "q_au" not in frame:
        frame["q_au"] = frame["a_au"] * (1.0 - frame["e"])
    good = (frame["a_au"] > 0) & (frame["e"] >= 0) & (frame["e"] < 1)
    if (~good).any():
        log.info("orbital elements: dropping %d unbound or invalid orbits", int((~good).sum()))
    return frame[good]


@styled
def plot_orbital_elements(
    impactors: pd.DataFrame, background: pd.DataFrame, real: pd.DataFrame
) -> Figure:
    """Semi-major axis vs eccentricity and inclination, and perihelion distance.

    Each table needs ``a_au`` (au), ``e``, ``i_deg`` (deg, ecliptic J2000);
    ``q_au`` is computed as a(1 - e) when absent.
    """
    groups = {}
    for name, frame in (("background", background), ("impactor", impactors), ("real", real)):
        require_columns(frame, ["a_au", "e", "i_deg"], f"{name} orbital elements")
        groups[name] = _bound_orbits(frame)
    everything = pd.concat(list(groups.values()))
    if everything.empty:
        raise ValueError("orbital elements: no bound orbits to plot")
    a_min = float(min(0.5, everything["a_au"].min() * 0.95))
    a_max = float(min(np.quantile(everything["a_au"], 0.995) * 1.05, 6.0))
    i_max = float(min(np.quantile(everything["i_deg"], 0.995) * 1.05, 180.0))
    q_max = float(max(np.quantile(everything["q_au"], 0.999) * 1.02, 1.35))

    smallest = min(len(frame) for frame in groups.values())
    q_bins = np.linspace(0.0, q_max, int(np.clip(2 * np.sqrt(smallest), 10, 40)) + 1)

    fig = new_figure(PAGE_WIDTH_IN, 2.6)
    ax_ae, ax_ai, ax_q = fig.subplots(1, 3)
    a_grid = np.linspace(max(a_min, 0.5), a_max, 200)
    # The NEO boundary q = 1.3 au and the Earth-crossing boundary q = 1 au.
    ax_ae.plot(a_grid, 1 - 1.3 / a_grid, color=PALETTE["grey"], lw=0.7, ls=":", label="q = 1.3 au")
    ax_ae.plot(a_grid, 1 - 1.0 / a_grid, color=PALETTE["grey"], lw=0.7, ls="--", label="q = 1 au")
    for name, frame in groups.items():
        style = POPULATION_STYLE[name]
        shown = subsample(frame)
        # Real NEOs on top as small dots, so that neither group hides the other.
        kwargs = {"s": 3.0 if name != "real" else 0.8, "linewidths": 0, "rasterized": True}
        label = f"{style['label']} ({len(frame):,})"
        alpha = 0.6 if name != "real" else 0.5
        ax_ae.scatter(shown.a_au, shown.e, color=style["color"], alpha=alpha, label=label, **kwargs)
        ax_ai.scatter(shown.a_au, shown.i_deg, color=style["color"], alpha=alpha, **kwargs)
        ax_q.hist(
            frame.q_au,
            bins=q_bins,
            density=True,
            histtype="step",
            color=style["color"],
            linewidth=1.1,
            label=style["label"],
        )
    ax_ae.set(
        xlim=(a_min, a_max), ylim=(0, 1), xlabel="Semi-major axis a (au)", ylabel="Eccentricity e"
    )
    ax_ai.set(
        xlim=(a_min, a_max),
        ylim=(0, i_max),
        xlabel="Semi-major axis a (au)",
        ylabel="Inclination i (deg)",
    )
    ax_q.axvline(1.0, color=PALETTE["grey"], lw=0.7, ls="--")
    ax_q.set(
        xlim=(0, q_max),
        xlabel="Perihelion distance q (au)",
        ylabel="Probability density (au$^{-1}$)",
    )
    handles, labels = ax_ae.get_legend_handles_labels()
    ax_ae.legend(handles[:2], labels[:2], loc="lower right", fontsize=6)  # the q lines
    leg = fig.legend(
        handles[2:],
        labels[2:],
        loc="outside upper center",
        ncol=3,
        markerscale=4,
        handletextpad=0.3,
    )
    for handle in leg.legend_handles:
        if hasattr(handle, "set_alpha"):
            handle.set_alpha(1)
    for ax, letter in zip((ax_ae, ax_ai, ax_q), "abc", strict=True):
        panel_label(ax, letter)
    return fig


# --------------------------------------------------------------------------- 10. close approaches
@styled
def plot_close_approach_validation(cad: pd.DataFrame) -> Figure:
    """Our close approaches vs JPL's: |relative distance error| (a) and |time difference| (b).

    ``cad`` has ``rel_dist_err`` ((ours - JPL) / JPL) and ``dt_min`` (ours - JPL,
    minutes); histograms use logarithmic bins, with the median and 95th percentile marked.
    """
    require_columns(cad, ["rel_dist_err", "dt_min"], "cad_comparison.parquet")
    fig = new_figure(PAGE_WIDTH_IN, 2.3)
    axes = fig.subplots(1, 2)
    panels = (
        (
            "rel_dist_err",
            r"Relative distance error $|d_\mathrm{ours} - d_\mathrm{JPL}|\,/\,d_\mathrm{JPL}$",
            1e-12,
            PALETTE["blue"],
        ),
        (
            "dt_min",
            r"Time difference $|t_\mathrm{ours} - t_\mathrm{JPL}|$ (min)",
            1e-6,
            PALETTE["vermillion"],
        ),
    )
    for ax, (column, xlabel, floor, color), letter in zip(axes, panels, "ab", strict=True):
        values = np.abs(cad[column].to_numpy(dtype=float))
        values = values[np.isfinite(values)]
        n_floor = int((values < floor).sum())
        values = np.maximum(values, floor)  # exact agreement shown in the first bin
        if values.size:
            lo = np.floor(np.log10(values.min()))
            hi = np.ceil(np.log10(values.max())) + (1 if values.min() == values.max() else 0)
            edges = np.logspace(lo, max(hi, lo + 1), int(max(hi - lo, 1) * 5) + 1)
            ax.hist(values, bins=edges, color=color, alpha=0.35, histtype="stepfilled")
            ax.hist(
                values,
                bins=edges,
                color=color,
                histtype="step",
                label=f"{values.size:,} approaches",
            )
            median, p95 = np.quantile(values, [0.5, 0.95])
            ax.axvline(median, color="k", ls="--", lw=0.8, label=f"Median {sci_label(median)}")
            ax.axvline(p95, color="k", ls=":", lw=0.8, label=f"95th percentile {sci_label(p95)}")
        if column == "dt_min":
            ax.axvline(
                1.0,
                color=PALETTE["grey"],
                ls="-.",
                lw=0.7,
                label=f"1 min ({np.mean(values <= 1.0):.1%} within)" if values.size else "1 min",
            )
        if n_floor:
            ax.text(
                0.02,
                0.97,
                f"{n_floor} below {sci_label(floor)}\nshown at {sci_label(floor)}",
                transform=ax.transAxes,
                ha="left",
                va="top",
                fontsize=6,
            )
        ax.set_xscale("log")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.7)  # room for the legend above the histogram
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Close approaches per bin")
        ax.legend(loc="upper right")
        panel_label(ax, letter)
    return fig


def plot_clone_calibration(table: pd.DataFrame) -> Figure:
    """Clones' 3-sigma distance range (a) and approach-time sigma (b) against JPL's, one
    point per 2020 approach (``cad_uncertainty.csv``), log-log, with the 1:1 line and the
    factor-2 band; the fraction within a factor 2 in the legend."""
    require_columns(
        table,
        ["jpl_range_au", "clones_range_au", "jpl_t_sigma_min", "clones_t_sigma_min"],
        "cad_uncertainty.csv",
    )
    fig = new_figure(PAGE_WIDTH_IN, 2.6)
    axes = fig.subplots(1, 2)
    panels = (
        ("jpl_range_au", "clones_range_au", "3-sigma distance range", "au"),
        ("jpl_t_sigma_min", "clones_t_sigma_min", "approach-time sigma", "min"),
    )
    for ax, (x_col, y_col, what, unit), letter in zip(axes, panels, "ab", strict=True):
        x = table[x_col].to_numpy(dtype=float)
        y = np.maximum(table[y_col].to_numpy(dtype=float), 1e-9)
        ratio = y / x
        within = float(np.mean((ratio >= 0.5) & (ratio <= 2))) if len(x) else float("nan")
        ax.scatter(x, y, s=6, color=PALETTE["blue"], alpha=0.6,
                   label=f"{len(x)} approaches, {within:.0%} within x2")  # fmt: skip
        if len(x):
            lo = min(x.min(), y.min()) / 2
            hi = max(x.max(), y.max()) * 2
            line = np.array([lo, hi])
            ax.plot(line, line, color="k", lw=0.8, label="1:1")
            ax.fill_between(line, line / 2, line * 2, color=PALETTE["grey"], alpha=0.2,
                            label="factor 2")  # fmt: skip
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(what.capitalize(), fontsize=7)
        ax.set_xlabel(f"JPL ({unit})")
        ax.set_ylabel(f"Clones ({unit})")
        ax.legend(loc="upper left", fontsize=6)
        panel_label(ax, letter)
    return fig
