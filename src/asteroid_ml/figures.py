"""Paper figures: one pure plotting function per figure, one loader per figure.

Every ``plot_<name>`` function takes in-memory tables (pandas DataFrames, NumPy
arrays, the dictionaries of ``metrics.json``) and returns a
:class:`matplotlib.figure.Figure`; it never reads or writes files. The
``load_<name>`` functions read the workflow outputs named in the README's stage
table and call the plotting function; :func:`make_figure` dispatches by figure
name and :func:`save_figure` writes the PNG and PDF.

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

import argparse
import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asteroid_ml.io import atomic_output

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

#: Display name, colour and line style of each model (same everywhere).
MODEL_STYLE: dict[str, dict[str, str]] = {
    "detector_cnn": {"label": "CNN", "color": PALETTE["blue"], "linestyle": "-"},
    "detector_rf": {"label": "Random forest", "color": PALETTE["orange"], "linestyle": "--"},
    "impactor_mlp": {"label": "MLP", "color": PALETTE["green"], "linestyle": "-"},
    "impactor_rf": {"label": "Random forest", "color": PALETTE["vermillion"], "linestyle": "--"},
}
DETECTOR_MODELS = ("detector_cnn", "detector_rf")
IMPACTOR_MODELS = ("impactor_mlp", "impactor_rf")
TASK_TITLE = {"detector": "Asteroid detection", "impactor": "Impactor classification"}

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


def _sci(value: float, digits: int = 2) -> str:
    """``value`` for a label: plain when 0.01 <= |value| < 1000, else a x 10^n in mathtext."""
    if value == 0 or not np.isfinite(value) or 1e-2 <= abs(value) < 1e3:
        return f"{value:.{digits}g}"
    exponent = int(np.floor(np.log10(abs(value))))
    mantissa = value / 10**exponent
    return rf"${mantissa:.{max(digits - 1, 0)}f}\times10^{{{exponent}}}$"


def _number(value: Any, fmt: str = ".3f") -> str:
    """A metric for a legend; ``n/a`` for the null/NaN that metrics.json holds when undefined."""
    if value is None or not np.isfinite(float(value)):
        return "n/a"
    return format(float(value), fmt)


def _model_style(model: str) -> dict[str, str]:
    return MODEL_STYLE.get(model, {"label": model, "color": PALETTE["grey"], "linestyle": "-"})


def _subsample(frame: pd.DataFrame, max_rows: int = MAX_SCATTER_POINTS) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn with a fixed seed, in the original order."""
    if len(frame) <= max_rows:
        return frame
    rng = np.random.default_rng(_SUBSAMPLE_SEED)
    keep = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[keep]


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")


def _panel_label(ax: Any, letter: str) -> None:
    """Bold panel letter above the axes' top-left corner (clear of the data)."""
    ax.set_title(f"({letter})", loc="left", fontweight="bold")


# --------------------------------------------------------------------------- 1. orbital elements
def real_neo_elements(neos: pd.DataFrame) -> pd.DataFrame:
    """JPL SBDB columns (``a``, ``e``, ``i``, ``q``, ``pha``) renamed to the sim's units-in-name."""
    _require_columns(neos, ["a", "e", "i"], "real NEO table")
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
        _require_columns(frame, ["a_au", "e", "i_deg"], f"{name} orbital elements")
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
        shown = _subsample(frame)
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
        _panel_label(ax, letter)
    return fig


# --------------------------------------------------------------------------- 2. sky map
def tile_outlines(
    tiles: np.ndarray, order: int, frame: str = "equatorial", points_per_edge: int = 8
) -> list[tuple[np.ndarray, np.ndarray]]:
    """ICRS outlines (RA, Dec in deg) of nested HEALPix cells at ``order`` in HiPS ``frame``.

    Cell edges are straight lines in the HEALPix (xy) projection, so they are
    densified there and mapped back to the sphere: the outlines are exact.
    """
    from cdshealpix import nested

    tiles = np.asarray(tiles, dtype=np.uint64)
    if tiles.size == 0:
        return []
    x, y = nested.healpix_to_xy(tiles, order)
    half = 1.0 / 2**order  # half-diagonal of a cell in the xy plane (base cells: 1)
    corners = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]]) * half
    t = np.linspace(0.0, 1.0, points_per_edge, endpoint=False)
    path = np.concatenate(
        [corners[k] + (corners[k + 1] - corners[k]) * t[:, None] for k in range(4)] + [corners[:1]]
    )
    px = (x[:, None] + path[None, :, 0]) % 8.0
    py = np.clip(y[:, None] + path[None, :, 1], -2.0, 2.0)
    lon, lat = nested.xy_to_lonlat(px.ravel(), py.ravel())
    lon_deg = np.asarray(lon.to_value("deg")).reshape(px.shape)
    lat_deg = np.asarray(lat.to_value("deg")).reshape(px.shape)
    if frame != "equatorial":
        from astropy.coordinates import SkyCoord

        astropy_frame = {"galactic": "galactic", "ecliptic": "barycentrictrueecliptic"}.get(frame)
        if astropy_frame is None:
            raise ValueError(f"sky map: unknown HiPS frame {frame!r}")
        icrs = SkyCoord(lon_deg, lat_deg, unit="deg", frame=astropy_frame).icrs
        lon_deg, lat_deg = icrs.ra.deg, icrs.dec.deg
    return [(lon_deg[k], lat_deg[k]) for k in range(len(tiles))]


def _mollweide_x(ra_deg: np.ndarray) -> np.ndarray:
    """RA (deg) to Mollweide x (rad), east to the left, RA = 180 deg at the centre."""
    return -np.deg2rad(np.asarray(ra_deg) - 180.0)


_TARGET_GROUPS = (
    # (kind, sky_source, label, colour, marker)
    ("negative", None, "Negatives (empty sky)", PALETTE["blue"], "."),
    ("positive", "resampled", "Positives, resampled position", PALETTE["green"], "."),
    ("positive", "ephemeris", "Positives, ephemeris position", PALETTE["vermillion"], "."),
)


def _unwrap_ra(ra_deg: np.ndarray, centre_deg: float) -> np.ndarray:
    """Continuous RA (deg) along a polygon, shifted by whole turns to lie nearest ``centre_deg``."""
    ra = np.asarray(ra_deg, dtype=float)
    continuous = ra[0] + (ra - ra[0] + 180.0) % 360.0 - 180.0
    return continuous + 360.0 * np.round((centre_deg - continuous.mean()) / 360.0)


def _zoom_box(targets: pd.DataFrame, radius_deg: float = 45.0) -> tuple[float, float, float, float]:
    """(RA min, RA max, Dec min, Dec max) in deg of the densest group of targets.

    The densest order-1 HEALPix cell (about 29 deg across) gives the centre; the
    box encloses every target within ``radius_deg`` of it, plus a margin.
    """
    from astropy import units as u
    from cdshealpix import nested

    ra = targets.ra_deg.to_numpy(dtype=float)
    dec = targets.dec_deg.to_numpy(dtype=float)
    cells = nested.lonlat_to_healpix(ra * u.deg, dec * u.deg, 1)
    values, counts = np.unique(cells, return_counts=True)
    inside = cells == values[np.argmax(counts)]
    ra_r, dec_r = np.deg2rad(ra), np.deg2rad(dec)
    vec = np.stack(
        [np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)], axis=1
    )
    centre = vec[inside].mean(axis=0)
    centre /= np.linalg.norm(centre)
    near = np.degrees(np.arccos(np.clip(vec @ centre, -1.0, 1.0))) <= radius_deg
    ra_c = float(np.degrees(np.arctan2(centre[1], centre[0])) % 360.0)
    ra_near = ra_c + (ra[near] - ra_c + 180.0) % 360.0 - 180.0
    margin = 4.0
    return (
        float(ra_near.min() - margin),
        float(ra_near.max() + margin),
        float(max(dec[near].min() - margin, -90.0)),
        float(min(dec[near].max() + margin, 90.0)),
    )


@styled
def plot_sky_map(
    targets: pd.DataFrame, tiles: np.ndarray, order: int, frame: str = "equatorial"
) -> Figure:
    """Cutout targets over the survey tiles: full-sky Mollweide (a) and a zoom (b).

    ``targets`` has ``ra_deg``, ``dec_deg`` (ICRS), ``kind`` and ``sky_source``;
    ``tiles`` are the nested HEALPix indices at ``order`` of the survey's tiles,
    in the survey's HiPS ``frame``.
    """
    import matplotlib.ticker as mticker

    _require_columns(targets, ["ra_deg", "dec_deg", "kind", "sky_source"], "cutout targets")
    outlines = tile_outlines(tiles, order, frame)
    fig = new_figure(PAGE_WIDTH_IN, 2.9)
    grid = fig.add_gridspec(1, 2, width_ratios=[1.75, 1.0])
    ax_sky = fig.add_subplot(grid[0], projection="mollweide")
    ax_zoom = fig.add_subplot(grid[1])
    tile_kw = {"facecolor": "#D9D9D9", "edgecolor": "#8C8C8C", "linewidth": 0.4, "zorder": 1}

    ra_lo, ra_hi, dec_lo, dec_hi = (
        _zoom_box(targets) if len(targets) else (150.0, 210.0, -25.0, 25.0)
    )
    ra_c = 0.5 * (ra_lo + ra_hi)
    for ra, dec in outlines:
        ra_u = _unwrap_ra(ra, 180.0)
        for shift in (-360.0, 0.0, 360.0):  # a second copy where a cell straddles RA = 0
            x = _mollweide_x(ra_u + shift)
            if x.max() > -np.pi and x.min() < np.pi:
                ax_sky.fill(x, np.deg2rad(dec), **tile_kw)
        ax_zoom.fill(_unwrap_ra(ra, ra_c), dec, **tile_kw)
    ax_sky.fill([], [], label=f"Survey tiles ({len(outlines)}, order {order})", **tile_kw)

    for kind, source, label, color, marker in _TARGET_GROUPS:
        mask = targets["kind"].eq(kind)
        if source is not None:
            mask &= targets["sky_source"].eq(source)
        group = targets[mask]
        shown = _subsample(group)
        # The few ephemeris positives are drawn last and larger, so they are not lost.
        size = 7.0 if source == "ephemeris" else 2.5
        kw = {"s": size, "color": color, "marker": marker, "linewidths": 0, "rasterized": True}
        ax_sky.scatter(
            _mollweide_x(shown.ra_deg),
            np.deg2rad(shown.dec_deg),
            zorder=3,
            **kw,
            label=f"{label} ({len(group):,})",
        )
        ra_z = ra_c + (shown.ra_deg.to_numpy() - ra_c + 180.0) % 360.0 - 180.0
        ax_zoom.scatter(ra_z, shown.dec_deg, zorder=3, **kw)

    ax_sky.grid(True, lw=0.3, color=PALETTE["grey"], alpha=0.6)
    ticks_ra = np.arange(30, 360, 60)
    ax_sky.set_xticks(_mollweide_x(ticks_ra))
    ax_sky.set_xticklabels([f"{t}°" for t in ticks_ra], fontsize=6)
    ax_sky.tick_params(axis="y", labelsize=6)
    ax_sky.set_xlabel("Right ascension (ICRS)")
    ax_sky.set_ylabel("Declination (ICRS)")
    ax_sky.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=2,
        markerscale=5,
        fontsize=6,
        columnspacing=1.0,
        handletextpad=0.3,
    )
    # Outline of the zoomed region on the full-sky panel.
    edge = np.linspace(0.0, 1.0, 30)
    box_ra = np.concatenate(
        [
            ra_lo + (ra_hi - ra_lo) * edge,
            np.full(30, ra_hi),
            ra_hi - (ra_hi - ra_lo) * edge,
            np.full(30, ra_lo),
        ]
    )
    box_dec = np.concatenate(
        [
            np.full(30, dec_lo),
            dec_lo + (dec_hi - dec_lo) * edge,
            np.full(30, dec_hi),
            dec_hi - (dec_hi - dec_lo) * edge,
        ]
    )
    ax_sky.plot(_mollweide_x(_unwrap_ra(box_ra, 180.0)), np.deg2rad(box_dec), color="k", lw=0.6)

    ax_zoom.set_xlim(ra_hi, ra_lo)  # east to the left
    ax_zoom.set_ylim(dec_lo, dec_hi)
    mid_dec = np.deg2rad(0.5 * (dec_lo + dec_hi))
    ax_zoom.set_aspect(1.0 / max(np.cos(mid_dec), 0.1), adjustable="box")
    ax_zoom.set_xlabel("Right ascension (deg)")
    ax_zoom.set_ylabel("Declination (deg)")
    ax_zoom.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _pos: f"{v % 360:.0f}"))
    _panel_label(ax_zoom, "b")
    _panel_label(ax_sky, "a")
    return fig


# --------------------------------------------------------------------------- 3. example cutouts
#: Colour of blank (NaN, no survey data) pixels in the example cutouts.
BLANK_COLOUR = "#A6CEE3"
NEGATIVE_KINDS = ("empty", "cosmic_ray", "hot_pixel", "hot_column", "bright_star")


def asinh_stretch(image: np.ndarray, softening_sigma: float = 2.0) -> np.ndarray:
    """asinh of the image in units of its robust noise (median, 1.4826 MAD); blanks -> 0.

    Noise-level pixels map to about ``z / softening_sigma``; bright trails are
    compressed logarithmically so both faint and bright sources stay visible.
    """
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    if not finite.any():
        return np.zeros_like(img)
    values = img[finite]
    median = np.median(values)
    sigma = 1.4826 * np.median(np.abs(values - median))
    if not sigma > 0:
        sigma = float(values.std()) or 1.0
    z = np.where(finite, (img - median) / sigma, 0.0)
    return np.arcsinh(z / softening_sigma)


def select_examples(
    manifest: pd.DataFrame, n_per_class: int = 6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic examples: positives spanning the SNR range, one negative per kind first.

    Cutouts without blank pixels (``blank_fraction`` 0) are preferred when there
    are enough. Positives are taken at evenly spaced ranks of SNR (ties broken by
    ``sample_id``), from the faintest to the brightest. Negatives take the first
    sample (by ``sample_id``) of each kind in :data:`NEGATIVE_KINDS`, then fill up
    with further samples in ``sample_id`` order.
    """
    _require_columns(manifest, ["sample_id", "label", "kind", "snr"], "dataset manifest")
    if "blank_fraction" in manifest.columns:
        # Prefer cutouts fully inside the survey (blank pixels were filled with the median).
        complete = manifest[manifest["blank_fraction"] == 0]
        enough = (complete["label"] == 1).sum() >= n_per_class and (complete["label"] == 0).any()
        manifest = complete if enough else manifest
    pos = manifest[manifest["label"] == 1].sort_values(["snr", "sample_id"], kind="stable")
    pos = pos[np.isfinite(pos["snr"].to_numpy(dtype=float))]
    if len(pos) > n_per_class:
        ranks = np.unique(np.round(np.linspace(0, len(pos) - 1, n_per_class)).astype(int))
        pos = pos.iloc[ranks]
    neg_all = manifest[manifest["label"] == 0].sort_values("sample_id", kind="stable")
    first = [neg_all[neg_all["kind"] == k].head(1) for k in NEGATIVE_KINDS]
    neg = pd.concat([f for f in first if not f.empty] or [neg_all.head(0)])
    rest = neg_all[~neg_all["sample_id"].isin(neg["sample_id"])]
    neg = pd.concat([neg, rest.head(max(n_per_class - len(neg), 0))]).head(n_per_class)
    return pos, neg


@styled
def plot_example_cutouts(
    images: np.ndarray,
    manifest: pd.DataFrame,
    n_per_class: int = 6,
    pixel_scale_arcsec: float | None = None,
) -> Figure:
    """Grid of example positives (top row) and negatives (bottom row) from one split.

    ``images`` is the split's ``(N, S, S)`` array and ``manifest`` that split's
    manifest rows (``index_in_split`` indexes ``images``). Each cutout is shown
    with its own asinh stretch (:func:`asinh_stretch`); titles give the SNR and
    injected V magnitude (positives) or the negative kind.
    """
    from matplotlib import colormaps

    _require_columns(manifest, ["index_in_split"], "dataset manifest")
    pos, neg = select_examples(manifest, n_per_class)
    ncols = max(len(pos), len(neg), 1)
    width = PAGE_WIDTH_IN
    fig = new_figure(width, width / ncols * 2 + 0.55)
    axes = np.atleast_2d(fig.subplots(2, ncols, squeeze=False))
    mappable = None
    cmap = colormaps["gray_r"].with_extremes(bad=BLANK_COLOUR)
    for row, chosen, row_label in ((0, pos, "Positives"), (1, neg, "Negatives")):
        for col in range(ncols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.tick_params(top=False, right=False)
            if col >= len(chosen):
                ax.set_axis_off()
                continue
            sample = chosen.iloc[col]
            image = np.asarray(images[int(sample["index_in_split"])], dtype=float)
            # Blank pixels (outside the survey) stay NaN and are drawn in the "bad" colour.
            stretched = np.where(np.isfinite(image), asinh_stretch(image), np.nan)
            # origin="lower": row 0 is the southern edge (FITS convention), north up.
            mappable = ax.imshow(stretched, origin="lower", cmap=cmap, vmin=-1.0, vmax=4.0)
            if row == 0:
                title = f"SNR {sample['snr']:.1f}"
                if "mag" in sample and np.isfinite(sample["mag"]):
                    title += f"\nV = {sample['mag']:.1f}"
            else:
                title = str(sample["kind"]).replace("_", " ")
            ax.set_title(title, fontsize=7, pad=2)
            if col == 0:
                ax.set_ylabel(row_label)
    if mappable is not None:
        cbar = fig.colorbar(mappable, ax=axes, shrink=0.8, pad=0.01, aspect=25)
        cbar.set_label(r"asinh(($I$ - median) / 2$\sigma$)", fontsize=7)
    if pixel_scale_arcsec and len(pos):
        size = images.shape[-1]
        fig.suptitle(
            f"{size} × {size} px cutouts ({size * pixel_scale_arcsec / 60:.1f}′ on a side), north up, east left",
            fontsize=7,
        )
    return fig


# --------------------------------------------------------------------------- 4. training curves
def epoch_losses(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch mean ``train_loss`` and ``val_loss`` from a Lightning CSVLogger table.

    The logger writes train and validation values on different rows (NaN on the
    others) and, when logged per step, several rows per epoch; the mean over
    the non-missing values of each epoch is returned (index: epoch).
    """
    _require_columns(metrics, ["epoch"], "training metrics.csv")
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
        color = _model_style(model)["color"]
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
        title = f"{_model_style(model)['label']} ({TASK_TITLE['detector' if model.startswith('detector') else 'impactor'].lower()})"
        ax.set_title(title)
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax.legend(loc="best")  # few points: "best" is cheap and deterministic
        _panel_label(ax, letter)
    return fig


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
            style = _model_style(model)
            kw = {"color": style["color"], "ls": style["linestyle"]}
            roc, pr = m["roc_curve"], m["pr_curve"]
            ax_roc.plot(
                roc["fpr"],
                roc["tpr"],
                label=f"{style['label']} (AUC = {_number(m.get('roc_auc'))})",
                drawstyle="steps-post",
                **kw,
            )
            ax_pr.plot(
                pr["recall"],
                pr["precision"],
                label=f"{style['label']} (AP = {_number(m.get('pr_auc'))})",
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
        _panel_label(ax_roc, next(letters))
        _panel_label(ax_pr, next(letters))
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
        ax.set_title(f"({letter}) {_model_style(model)['label']}\n{task}", loc="left")
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
        _require_columns(frame, ["label", "score"], f"{model} predictions.parquet")
        m = metrics.get(model, {})
        names = CLASS_NAMES.get(
            m.get("task", "detector" if model.startswith("detector") else "impactor")
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
            f"{_model_style(model)['label']} ({TASK_TITLE.get(m.get('task', ''), '').lower()})"
        )
        ax.legend(loc="upper center")
        # bottom 0.5: single counts show as bars; top: room for the legend above the bars
        ax.set_ylim(0.5, ax.get_ylim()[1] * 8)
        _panel_label(ax, letter)
    for ax in axes[len(models) :]:
        ax.set_axis_off()
    return fig


# --------------------------------------------------------------------------- 8. completeness
def completeness_curve(
    values: np.ndarray, detected: np.ndarray, bin_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Detected fraction per bin with 68 % Wilson intervals.

    Returns (completeness, lower, upper, n) per bin; NaN where a bin is empty.
    """
    values = np.asarray(values, dtype=float)
    detected = np.asarray(detected, dtype=bool)
    which = np.digitize(values, bin_edges) - 1
    nbins = len(bin_edges) - 1
    valid = (which >= 0) & (which < nbins)
    n = np.bincount(which[valid], minlength=nbins).astype(float)
    k = np.bincount(which[valid], weights=detected[valid], minlength=nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z = 1.0  # 68 % interval
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return p, centre - half, centre + half, n


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
        _require_columns(frame, ["label", "score", "snr", "mag"], f"{model} predictions.parquet")
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
            style = _model_style(model)
            detected = frame["score"].to_numpy(dtype=float) >= thresholds[model]
            p, low, high, n = completeness_curve(
                frame[column].to_numpy(dtype=float), detected, edges
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
        _panel_label(ax, letter)
    return fig


# --------------------------------------------------------------------------- 9. real PHAs vs non-PHAs
@styled
def plot_hoi_real_catalog(catalog: pd.DataFrame, threshold: float) -> Figure:
    """Impactor-classifier scores of real NEOs: PHAs vs non-PHAs (a) and score vs MOID (b).

    ``catalog`` has ``pha`` (bool), ``score`` and ``moid_au`` (au);
    ``threshold`` is the classifier's operating threshold.
    """
    _require_columns(catalog, ["pha", "score", "moid_au"], "hoi_real_catalog.parquet")
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
    _panel_label(ax_hist, "a")
    _panel_label(ax_moid, "b")
    return fig


# --------------------------------------------------------------------------- 10. close approaches
@styled
def plot_close_approach_validation(cad: pd.DataFrame) -> Figure:
    """Our close approaches vs JPL's: |relative distance error| (a) and |time difference| (b).

    ``cad`` has ``rel_dist_err`` ((ours - JPL) / JPL) and ``dt_min`` (ours - JPL,
    minutes); histograms use logarithmic bins, with the median and 95th percentile marked.
    """
    _require_columns(cad, ["rel_dist_err", "dt_min"], "cad_comparison.parquet")
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
            ax.axvline(median, color="k", ls="--", lw=0.8, label=f"Median {_sci(median)}")
            ax.axvline(p95, color="k", ls=":", lw=0.8, label=f"95th percentile {_sci(p95)}")
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
                f"{n_floor} below {_sci(floor)}\nshown at {_sci(floor)}",
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
        _panel_label(ax, letter)
    return fig


# --------------------------------------------------------------------------- loaders (files -> figure)
def _read_table(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A Parquet or CSV table; ``columns`` (Parquet only) reads just those, naming a missing one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"figure input not found: {path}")
    if path.suffix == ".csv":
        return pd.read_csv(path, low_memory=False)
    if columns is not None:
        import pyarrow.parquet as pq

        missing = sorted(set(columns) - set(pq.read_schema(path).names))
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        return pd.read_parquet(path, columns=list(columns))
    return pd.read_parquet(path)


def _read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"figure input not found: {path}")
    with open(path) as fh:
        return json.load(fh)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


def _model_from_path(path: str) -> str:
    """``results/eval/{model}/metrics.json`` -> ``model``."""
    return Path(path).parent.name


def load_orbital_elements(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``sim`` (all sim shards), ``neos`` (JPL CSV)."""
    columns = ["population", "a_au", "e", "i_deg"]  # a million rows: read only what is drawn
    sim = pd.concat([_read_table(p, columns) for p in _as_list(inputs["sim"])], ignore_index=True)
    real = real_neo_elements(_read_table(inputs["neos"]))
    return plot_orbital_elements(
        sim[sim["population"] == "impactor"], sim[sim["population"] == "background"], real
    )


def load_sky_map(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``targets``; the survey comes from ``survey`` (location) or ``config['survey']``."""
    from asteroid_ml.hips import open_survey

    location = inputs.get("survey") or config["survey"]["location"]
    survey = open_survey(str(location), cache_dir=config.get("survey", {}).get("cache_dir"))
    targets = _read_table(inputs["targets"])
    return plot_sky_map(targets, survey.available_tiles(), survey.order, survey.frame)


def load_example_cutouts(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``images`` (``dataset/{split}.npy``), ``manifest``; the split is the file's stem."""
    split = Path(str(inputs["images"])).stem
    images = np.load(str(inputs["images"]), mmap_mode="r")
    manifest = _read_table(inputs["manifest"])
    _require_columns(manifest, ["split", "index_in_split"], "dataset manifest")
    rows = manifest[manifest["split"] == split]
    if len(rows) != images.shape[0]:
        raise ValueError(
            f"{inputs['images']}: {images.shape[0]} images but {len(rows)} manifest rows of split {split!r}"
        )
    return plot_example_cutouts(
        images, rows, n_per_class=int(config.get("figures", {}).get("n_examples", 6))
    )


def load_training_curves(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``models/{model}/metrics.csv``, one per Lightning model)."""
    return plot_training_curves(
        {Path(p).parent.name: _read_table(p) for p in _as_list(inputs["metrics"])}
    )


def _load_metrics(inputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {_model_from_path(p): _read_json(p) for p in _as_list(inputs["metrics"])}


def load_roc_pr(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``eval/{model}/metrics.json`` for all models)."""
    return plot_roc_pr(_load_metrics(inputs))


def load_confusion_matrices(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``eval/{model}/metrics.json``)."""
    return plot_confusion_matrices(_load_metrics(inputs))


def _load_predictions(inputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    return {_model_from_path(p): _read_table(p) for p in _as_list(inputs["predictions"])}


def load_score_histograms(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``predictions`` and ``metrics`` of the same models."""
    return plot_score_histograms(_load_predictions(inputs), _load_metrics(inputs))


def load_completeness(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``predictions`` and ``metrics`` of the detector models."""
    metrics = _load_metrics(inputs)
    thresholds = {}
    for model, values in metrics.items():
        threshold = values.get("threshold_at_target_recall")
        if threshold is None:  # no positive in the test split: fall back to the 0.5 of the report
            log.warning("%s: threshold_at_target_recall is null; completeness at 0.5", model)
            threshold = 0.5
        thresholds[model] = float(threshold)
    return plot_completeness(_load_predictions(inputs), thresholds)


def load_hoi_real_catalog(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``catalog`` (parquet) and ``summary`` (its JSON, for the threshold)."""
    summary = _read_json(inputs["summary"])
    if "threshold" not in summary:
        raise ValueError(f"{inputs['summary']}: missing field 'threshold'")
    return plot_hoi_real_catalog(_read_table(inputs["catalog"]), float(summary["threshold"]))


def load_close_approach_validation(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``comparison`` (``validation/cad_comparison.parquet``)."""
    return plot_close_approach_validation(_read_table(inputs["comparison"]))


#: Figure name -> loader. The rule ``figure_<name>`` writes ``results/figures/<name>.{png,pdf}``.
FIGURES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Figure]] = {
    "orbital_elements": load_orbital_elements,
    "sky_map": load_sky_map,
    "example_cutouts": load_example_cutouts,
    "training_curves": load_training_curves,
    "roc_pr": load_roc_pr,
    "confusion_matrices": load_confusion_matrices,
    "score_histograms": load_score_histograms,
    "completeness": load_completeness,
    "hoi_real_catalog": load_hoi_real_catalog,
    "close_approach_validation": load_close_approach_validation,
}


def make_figure(
    name: str,
    inputs: Mapping[str, Any],
    config: Mapping[str, Any],
    png_path: str | os.PathLike[str],
    pdf_path: str | os.PathLike[str],
) -> None:
    """Draw figure ``name`` from the files in ``inputs`` and save it (dpi from ``config['figures']``)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r} (known: {', '.join(FIGURES)})")
    log.info("figure %s from %s", name, {k: v for k, v in inputs.items()})
    fig = FIGURES[name](inputs, config)
    save_figure(fig, png_path, pdf_path, dpi=int(config.get("figures", {}).get("dpi", 200)))


# --------------------------------------------------------------------------- CLI
def _cli_figure(args: argparse.Namespace) -> int:
    from asteroid_ml.config import DEFAULT_CONFIG_PATH, load_config

    config = load_config(args.config or DEFAULT_CONFIG_PATH)
    inputs: dict[str, Any] = {}
    for item in args.inputs:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--inputs: expected KEY=PATH, got {item!r}")
        inputs.setdefault(key, []).append(value)
    # single files as plain strings (the loaders accept lists for multi-file inputs)
    inputs = {
        k: v[0] if len(v) == 1 and k not in {"sim", "metrics", "predictions"} else v
        for k, v in inputs.items()
    }
    if args.dpi:
        config.setdefault("figures", {})["dpi"] = args.dpi
    make_figure(args.name, inputs, config, args.output_png, args.output_pdf)
    return 0


def register_cli(subparsers: Any) -> None:
    """``asteroid-ml figure NAME --inputs KEY=PATH ... --output-png P --output-pdf P``."""
    p = subparsers.add_parser(
        "figure",
        help="draw one paper figure from workflow outputs",
        description="Draw one paper figure. Inputs are KEY=PATH pairs (repeat a key for several files); "
        "keys per figure: "
        + "; ".join(f"{n}: {(f.__doc__ or '').split(chr(10))[0]}" for n, f in FIGURES.items()),
    )
    p.add_argument("name", choices=sorted(FIGURES))
    p.add_argument("--inputs", nargs="+", default=[], metavar="KEY=PATH")
    p.add_argument("--output-png", required=True)
    p.add_argument("--output-pdf", required=True)
    p.add_argument("--config", help="workflow config (default: config/config.yaml)")
    p.add_argument("--dpi", type=int, help="PNG resolution (default: figures.dpi of the config)")
    p.set_defaults(func=_cli_figure)
