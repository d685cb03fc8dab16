"""Figures of the data: the sky map of the cutouts and example cutouts per class."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asteroid_ml.constants import MAD_TO_SIGMA
from asteroid_ml.dataset.card import NEGATIVE_KINDS
from asteroid_ml.figures.style import (
    PAGE_WIDTH_IN,
    PALETTE,
    new_figure,
    panel_label,
    require_columns,
    styled,
    subsample,
)

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (keeps `asteroid-ml` fast)
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


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


def _box_outline(
    ra_lo: float, ra_hi: float, dec_lo: float, dec_hi: float, n: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """RA and Dec (deg) of ``n`` points along each side of an RA/Dec box, in order."""
    edge = np.linspace(0.0, 1.0, n)
    box_ra = np.concatenate(
        [
            ra_lo + (ra_hi - ra_lo) * edge,
            np.full(n, ra_hi),
            ra_hi - (ra_hi - ra_lo) * edge,
            np.full(n, ra_lo),
        ]
    )
    box_dec = np.concatenate(
        [
            np.full(n, dec_lo),
            dec_lo + (dec_hi - dec_lo) * edge,
            np.full(n, dec_hi),
            dec_hi - (dec_hi - dec_lo) * edge,
        ]
    )
    return box_ra, box_dec


def _sky_axes(ax: Any) -> None:
    """Grid, RA ticks every 60 deg and labels of the full-sky Mollweide panel."""
    ax.grid(True, lw=0.3, color=PALETTE["grey"], alpha=0.6)
    ticks_ra = np.arange(30, 360, 60)
    ax.set_xticks(_mollweide_x(ticks_ra))
    ax.set_xticklabels([f"{t}°" for t in ticks_ra], fontsize=6)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_xlabel("Right ascension (ICRS)")
    ax.set_ylabel("Declination (ICRS)")


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

    require_columns(targets, ["ra_deg", "dec_deg", "kind", "sky_source"], "cutout targets")
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
        shown = subsample(group)
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

    _sky_axes(ax_sky)
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
    box_ra, box_dec = _box_outline(ra_lo, ra_hi, dec_lo, dec_hi)
    ax_sky.plot(_mollweide_x(_unwrap_ra(box_ra, 180.0)), np.deg2rad(box_dec), color="k", lw=0.6)

    ax_zoom.set_xlim(ra_hi, ra_lo)  # east to the left
    ax_zoom.set_ylim(dec_lo, dec_hi)
    mid_dec = np.deg2rad(0.5 * (dec_lo + dec_hi))
    ax_zoom.set_aspect(1.0 / max(np.cos(mid_dec), 0.1), adjustable="box")
    ax_zoom.set_xlabel("Right ascension (deg)")
    ax_zoom.set_ylabel("Declination (deg)")
    ax_zoom.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _pos: f"{v % 360:.0f}"))
    panel_label(ax_zoom, "b")
    panel_label(ax_sky, "a")
    return fig


# --------------------------------------------------------------------------- 3. example cutouts
#: Colour of blank (NaN, no survey data) pixels in the example cutouts.
BLANK_COLOUR = "#A6CEE3"


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
    sigma = MAD_TO_SIGMA * np.median(np.abs(values - median))
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
    require_columns(manifest, ["sample_id", "label", "kind", "snr"], "dataset manifest")
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

    require_columns(manifest, ["index_in_split"], "dataset manifest")
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
