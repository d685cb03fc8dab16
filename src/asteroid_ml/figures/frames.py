"""Figures of ``find-movers`` on real frames: each reported sequence's stamps and tracks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from asteroid_ml.figures.style import PAGE_WIDTH_IN, PALETTE, new_figure, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Sequences drawn (the highest-ranked) and stamps per sequence (evenly spread).
MAX_SEQUENCES = 4
MAX_STAMPS = 10


@styled
def plot_movers(
    image: np.ndarray, sequences: pd.DataFrame, detections: pd.DataFrame, stamps: np.ndarray,
    title: str = "",
) -> Figure:  # fmt: skip
    """Left: the registration frame (sky-subtracted counts, asinh stretch) with every
    reported track; right: one row per sequence with its detections' difference stamps
    (units of the difference's noise), labelled with the frame's minutes since the first.

    ``detections``: the rows of ``movers.csv`` plus ``x_ref``, ``y_ref`` (registration-frame
    px), ``index`` (row of ``stamps``) and ``t_min``."""
    shown = sequences.head(MAX_SEQUENCES)
    rows = max(len(shown), 1)
    fig = new_figure(PAGE_WIDTH_IN, max(3.2, 0.85 * rows + 1.0))
    grid = fig.add_gridspec(
        rows, 1 + MAX_STAMPS, width_ratios=[MAX_STAMPS / 2.2] + [1] * MAX_STAMPS
    )
    ax = fig.add_subplot(grid[:, 0])
    finite = image[np.isfinite(image)]
    scale = float(np.median(np.abs(finite))) * 3 or 1.0
    ax.imshow(np.arcsinh(np.nan_to_num(image) / scale), origin="lower", cmap="gray_r",
              vmin=-1, vmax=float(np.arcsinh(np.percentile(finite, 99.7) / scale)))  # fmt: skip
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(title or "registration frame")
    colours = [PALETTE[c] for c in ("vermillion", "blue", "green", "orange")]
    for i, seq in enumerate(shown.itertuples()):
        mine = detections[detections["sequence_id"] == seq.sequence_id]
        colour = colours[i % len(colours)]
        ax.plot(mine["x_ref"], mine["y_ref"], "-", color=colour, lw=1.2)
        ax.annotate(f"{seq.sequence_id}", (mine["x_ref"].iloc[0], mine["y_ref"].iloc[0]),
                    xytext=(8, 8), textcoords="offset points", color=colour, fontsize=7)  # fmt: skip
        pick = np.unique(
            np.linspace(0, len(mine) - 1, min(MAX_STAMPS, len(mine))).round().astype(int)
        )
        for j, (_, det) in enumerate(mine.iloc[pick].iterrows()):
            sub = fig.add_subplot(grid[i, 1 + j])
            sub.imshow(
                stamps[int(det["index"]), 2], origin="lower", cmap="gray_r", vmin=-3, vmax=10
            )
            sub.set_xticks([])
            sub.set_yticks([])
            sub.set_title(f"{det['t_min']:.0f}'", fontsize=6)
            if j == 0:
                sub.set_ylabel(f'#{seq.sequence_id}\n{seq.rate_arcsec_min:.2f}"/min', fontsize=6)
    if shown.empty:
        ax.text(0.5, 0.02, "no sequence reported", transform=ax.transAxes, ha="center",
                color=PALETTE["vermillion"])  # fmt: skip
    return fig
