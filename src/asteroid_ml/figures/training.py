"""Figure of the training: loss curves of the Lightning models."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from asteroid_ml.figures.style import (
    PAGE_WIDTH_IN,
    PALETTE,
    model_style,
    new_figure,
    panel_label,
    require_columns,
    styled,
)
from asteroid_ml.registry import MODELS, TASK_TITLE

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (keeps `asteroid-ml` fast)
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- 4. training curves
def epoch_losses(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch mean ``train_loss`` and ``val_loss`` from a Lightning CSVLogger table.

    The logger writes train and validation values on different rows (NaN on the
    others) and, when logged per step, several rows per epoch; the mean over
    the non-missing values of each epoch is returned (index: epoch).
    """
    require_columns(metrics, ["epoch"], "training metrics.csv")
    columns = {}
    for name in ("train_loss", "val_loss"):
        candidates = [name, f"{name}_epoch"]
        found = next((c for c in candidates if c in metrics.columns), None)
        if found is None:
            raise ValueError(f"training metrics.csv: missing column {name}")
        columns[name] = found
    table = metrics[["epoch", *columns.values()]].rename(columns={v: k for k, v in columns.items()})
    return table.dropna(subset=["epoch"]).groupby("epoch").mean().sort_index()


@styled
def plot_training_curves(curves: Mapping[str, pd.DataFrame]) -> Figure:
    """Training and validation loss per epoch, one panel per model (``metrics.csv`` tables)."""
    import matplotlib.ticker as mticker

    fig = new_figure(PAGE_WIDTH_IN, 2.3)
    axes = np.atleast_1d(fig.subplots(1, max(len(curves), 1), squeeze=False)[0])
    for ax, (model, metrics), letter in zip(axes, curves.items(), "abcd", strict=False):
        losses = epoch_losses(metrics)
        color = model_style(model)["color"]
        epochs = losses.index.to_numpy(dtype=float) + 1  # 1-based: "after epoch 1"
        ax.plot(
            epochs, losses["train_loss"], color=color, ls="-", marker="o", ms=2.5, label="Training"
        )
        ax.plot(
            epochs,
            losses["val_loss"],
            color=color,
            ls="--",
            marker="s",
            ms=2.5,
            mfc="white",
            label="Validation",
        )
        if losses["val_loss"].notna().any():
            best = losses["val_loss"].idxmin()
            ax.axvline(
                best + 1, color=PALETTE["grey"], lw=0.7, ls=":", label=f"Best epoch ({best + 1})"
            )
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Binary cross-entropy loss")
        title = f"{model_style(model)['label']} ({TASK_TITLE[MODELS[model].task].lower() if model in MODELS else ''})"
        ax.set_title(title)
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax.legend(loc="best")  # few points: "best" is cheap and deterministic
        panel_label(ax, letter)
    return fig
