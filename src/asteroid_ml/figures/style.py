"""The one style of every paper figure, and how figures are saved.

Every ``plot_<name>`` function of :mod:`.simulation`, :mod:`.dataset`,
:mod:`.training` and :mod:`.evaluation` takes in-memory tables (pandas DataFrames,
NumPy arrays, the dictionaries of ``metrics.json``) and returns a
:class:`matplotlib.figure.Figure`; it never reads or writes files. The loaders of
:mod:`.registry` read the workflow outputs and call them; :func:`save_figure` writes
the PNG and PDF.

Reproducibility: figures are built with the Agg renderer on
:class:`~matplotlib.figure.Figure` objects (no pyplot state), inside one style
(:data:`STYLE`, fonts fixed to the DejaVu fonts bundled with matplotlib), and
saved without timestamps or version strings, so the same inputs give the same
PNG (and PDF) bytes. Subsamples drawn to keep scatter plots light use a fixed
seed.

Widths follow a two-column journal: :data:`COLUMN_WIDTH_IN` (single column)
and :data:`PAGE_WIDTH_IN` (full page width); fonts are 7-8 pt at that size.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asteroid_ml.io import atomic_output
from asteroid_ml.registry import MODELS, model_names

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (keeps `asteroid-ml` fast)
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
# fontTools logs every subsetting step of the PDF fonts at INFO: keep rule logs readable.
logging.getLogger("fontTools").setLevel(logging.WARNING)

#: Single-column and full-page figure widths of a two-column journal (inches).
COLUMN_WIDTH_IN = 3.5
PAGE_WIDTH_IN = 7.0

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#7F7F7F",
}

#: The one style of every figure (applied with ``matplotlib.rc_context`` while a
#: figure is built *and* while it is saved, since ticks are created at draw time).
STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib: same glyphs everywhere
    "mathtext.fontset": "dejavusans",
    "text.usetex": False,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "none",
    "legend.fancybox": False,
    "legend.handlelength": 1.6,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "axes.prop_cycle": "cycler(color=[{}])".format(
        ", ".join(
            f"'{PALETTE[c]}'" for c in ("blue", "vermillion", "green", "orange", "purple", "sky")
        )
    ),
    "image.cmap": "gray",
    "image.interpolation": "nearest",
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "savefig.dpi": 200,
    "savefig.facecolor": "white",
    "pdf.fonttype": 42,  # embedded TrueType subsets: editable text, no Type 3 fonts
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "asteroid-ml",  # fixed ids in SVG output
    "path.simplify": True,
}

#: Display name, colour and line style of each model (same everywhere; from the registry).
MODEL_STYLE: dict[str, dict[str, str]] = {
    s.name: {"label": s.label, "color": PALETTE[s.colour], "linestyle": s.linestyle}
    for s in MODELS.values()
}
DETECTOR_MODELS = tuple(model_names("detector"))
IMPACTOR_MODELS = tuple(model_names("impactor"))

POPULATION_STYLE = {
    "impactor": {"label": "Simulated impactors", "color": PALETTE["vermillion"]},
    "background": {"label": "Simulated background", "color": PALETTE["blue"]},
    "real": {"label": "Real NEOs (JPL, 2020)", "color": PALETTE["black"]},
}

#: Largest number of points a scatter plot draws per group (fixed-seed subsample).
MAX_SCATTER_POINTS = 20_000
_SUBSAMPLE_SEED = 20201231


# --------------------------------------------------------------------------- style & output
@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`STYLE` (from matplotlib's defaults, ignoring any user matplotlibrc)."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield


def styled(func: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: build the figure inside :func:`figure_style`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with figure_style():
            return func(*args, **kwargs)

    return wrapper


def new_figure(width_in: float, height_in: float) -> Figure:
    """A pyplot-free figure (no global state; garbage-collected like any object)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def save_figure(
    fig: Figure,
    png_path: str | os.PathLike[str],
    pdf_path: str | os.PathLike[str],
    dpi: int = 200,
) -> None:
    """Write ``fig`` as PNG (``dpi``) and PDF, atomically and byte-reproducibly.

    The PNG carries no ``Software`` tag and the PDF no creation date, producer
    or creator (matplotlib would write its version and the current time), so the
    bytes depend only on the figure.
    """
    with figure_style():
        with atomic_output(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
        with atomic_output(pdf_path) as tmp:
            fig.savefig(
                tmp,
                format="pdf",
                metadata={"Creator": None, "Producer": None, "CreationDate": None},
            )
    log.info("wrote %s and %s", png_path, pdf_path)


def sci_label(value: float, digits: int = 2) -> str:
    """``value`` for a label: plain when 0.01 <= |value| < 1000, else a x 10^n in mathtext."""
    if value == 0 or not np.isfinite(value) or 1e-2 <= abs(value) < 1e3:
        return f"{value:.{digits}g}"
    exponent = int(np.floor(np.log10(abs(value))))
    mantissa = value / 10**exponent
    return rf"${mantissa:.{max(digits - 1, 0)}f}\times10^{{{exponent}}}$"


def number_label(value: Any, fmt: str = ".3f") -> str:
    """A metric for a legend; ``n/a`` for the null/NaN that metrics.json holds when undefined."""
    if value is None or not np.isfinite(float(value)):
        return "n/a"
    return format(float(value), fmt)


def model_style(model: str) -> dict[str, str]:
    return MODEL_STYLE.get(model, {"label": model, "color": PALETTE["grey"], "linestyle": "-"})


def subsample(frame: pd.DataFrame, max_rows: int = MAX_SCATTER_POINTS) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn with a fixed seed, in the original order."""
    if len(frame) <= max_rows:
        return frame
    rng = np.random.default_rng(_SUBSAMPLE_SEED)
    keep = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[keep]


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")


def panel_label(ax: Any, letter: str) -> None:
    """Bold panel letter above the axes' top-left corner (clear of the data)."""
    ax.set_title(f"({letter})", loc="left", fontweight="bold")
