"""Features of the models' inputs: cutout images and orbital elements.

- :func:`robust_normalise`: the CNN's input, a per-cutout robust asinh stretch;
- :func:`image_features`: the Autoscan-style features of the detector random forest
  (Goldstein et al. 2015), names in :data:`DETECTOR_FEATURES`;
- :func:`element_features`: the impactor classifiers' features from heliocentric
  ecliptic-J2000 osculating elements, names in :data:`ELEMENT_FEATURES`.

Pure NumPy (no torch), so that the scikit-learn baselines and the evaluation can use
them without loading a network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA, MAD_TO_SIGMA

DETECTOR_FEATURES = (
    "peak_snr",  # max pixel (sigma units) in the central disc
    "peak_offset_px",  # distance of that pixel from the cutout centre
    "aperture_flux",  # sum of background-subtracted pixels in the central disc (sigma units)
    "aperture_snr",  # aperture_flux / sqrt(pixels in the disc)
    "n_above_3sigma",  # central-disc pixels above 3 sigma
    "n_above_5sigma",
    "moment_size_px",  # sqrt((Ixx + Iyy) / 2) of the > 2 sigma central light
    "ellipticity",  # sqrt((Ixx - Iyy)^2 + 4 Ixy^2) / (Ixx + Iyy)
    "fwhm_px",  # FWHM estimate from the minor-axis second moment
    "sharpness",  # peak / sum of the 3x3 box around it (1 for a single hot pixel)
    "line_excess",  # largest |median| of a row or column (sigma units): hot columns/rows
    "global_peak_snr",  # max pixel of the whole cutout (stars anywhere)
    "blank_fraction",
    "log_sky_sigma",  # log10 of the robust noise (raw units)
    "positive_fraction",  # pixels above 2 sigma in the whole cutout
)


def _robust_background(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row median and MAD sigma of (N, P) pixels, ignoring NaN; sigma > 0."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(flat, axis=1)
        sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(flat - median[:, None]), axis=1)
        rms = np.nanstd(flat, axis=1)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, rms)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1.0)
    return np.where(np.isfinite(median), median, 0.0), sigma


def image_features(images: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Engineered features (N, len(DETECTOR_FEATURES)) float64 of cutouts (N, S, S).

    Pixel values in any linear unit (NaN = blank); all fluxes are in units of
    the per-cutout robust noise. "Central disc" = radius S/4 around the centre,
    where the dataset places its candidates. Vectorised over cutouts.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected cutouts (N, S, S), got shape {images.shape}")
    out = [
        _features_chunk(np.asarray(images[i : i + chunk], np.float64))
        for i in range(0, len(images), chunk)
    ]
    return np.concatenate(out) if out else np.zeros((0, len(DETECTOR_FEATURES)))


def _features_chunk(x: np.ndarray) -> np.ndarray:
    n, size, _ = x.shape
    flat = x.reshape(n, -1)
    blank = ~np.isfinite(flat)
    median, sigma = _robust_background(flat)
    z = np.where(blank, 0.0, (flat - median[:, None]) / sigma[:, None]).reshape(n, size, size)

    yy, xx = np.mgrid[0:size, 0:size]
    centre = (size - 1) / 2.0
    r = np.hypot(yy - centre, xx - centre)
    disc = r <= size / 4.0
    zd = np.where(disc, z, -np.inf)
    peak_index = zd.reshape(n, -1).argmax(axis=1)
    py, px = np.divmod(peak_index, size)
    peak = z[np.arange(n), py, px]
    # 3x3 box around the peak (edge pixels padded with 0).
    padded = np.pad(z, ((0, 0), (1, 1), (1, 1)))
    box = sum(
        padded[np.arange(n), py + 1 + dy, px + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )
    sharpness = np.where(box > 0, peak / np.maximum(box, 1e-12), 0.0)

    zc = np.where(disc, z, 0.0)
    aperture_flux = zc.sum(axis=(1, 2))
    aperture_snr = aperture_flux / np.sqrt(disc.sum())

    # Second moments of the > 2 sigma light in the disc, about its centroid.
    w = np.where(disc & (z > 2.0), z, 0.0)
    wsum = w.sum(axis=(1, 2))
    safe = np.maximum(wsum, 1e-12)
    cy = (w * yy).sum(axis=(1, 2)) / safe
    cx = (w * xx).sum(axis=(1, 2)) / safe
    dy = yy[None] - cy[:, None, None]
    dx = xx[None] - cx[:, None, None]
    iyy = (w * dy**2).sum(axis=(1, 2)) / safe
    ixx = (w * dx**2).sum(axis=(1, 2)) / safe
    ixy = (w * dx * dy).sum(axis=(1, 2)) / safe
    trace = ixx + iyy
    diff = np.sqrt((ixx - iyy) ** 2 + 4 * ixy**2)
    ellipticity = np.where(trace > 0, diff / np.maximum(trace, 1e-12), 0.0)
    minor_sigma = np.sqrt(np.clip((trace - diff) / 2.0, 0, None))
    has_light = wsum > 0

    # Median along each row and column: a hot column lifts a whole line, a star a few pixels.
    line_excess = np.maximum(
        np.abs(np.median(z, axis=1)).max(axis=1), np.abs(np.median(z, axis=2)).max(axis=1)
    )

    features = np.stack(
        [
            peak,
            np.hypot(py - centre, px - centre),
            aperture_flux,
            aperture_snr,
            (zc > 3).sum(axis=(1, 2)),
            (zc > 5).sum(axis=(1, 2)),
            np.where(has_light, np.sqrt(trace / 2.0), 0.0),
            ellipticity,
            np.where(has_light, GAUSSIAN_FWHM_PER_SIGMA * minor_sigma, 0.0),
            sharpness,
            line_excess,
            z.reshape(n, -1).max(axis=1),
            blank.mean(axis=1),
            np.log10(sigma),
            (z > 2).mean(axis=(1, 2)),
        ],
        axis=1,
    )
    return features.astype(np.float64)


def robust_normalise(images: np.ndarray, softening: float = 1.0) -> np.ndarray:
    """Per-cutout robust normalisation: ``asinh((x - median) / (softening * sigma_MAD))``.

    ``images``: (N, S, S) pixel values in any linear unit (NaN = blank). The
    background level is the per-cutout median and the noise the per-cutout
    MAD x 1.4826, both ignoring NaN; ``asinh`` keeps the faint end linear (in
    units of the noise) and compresses bright stars logarithmically. Blank
    pixels (NaN) and all-blank cutouts become 0. Returns float32 (N, S, S).
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected images of shape (N, S, S), got {x.shape}")
    flat = x.reshape(len(x), -1)
    finite = np.isfinite(flat)
    # Replace blanks by the row median so that the statistics below are NaN-free
    # and fast (np.median, not np.nanmedian, on the common all-finite case).
    if finite.all():
        median = np.median(flat, axis=1, keepdims=True)
        mad = np.median(np.abs(flat - median), axis=1, keepdims=True)
    else:
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            median = np.nanmedian(flat, axis=1, keepdims=True)
            mad = np.nanmedian(np.abs(flat - median), axis=1, keepdims=True)
    sigma = MAD_TO_SIGMA * mad
    # Flat (e.g. saturated or constant) cutouts: fall back to the RMS, then to 1.
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        rms = np.nanstd(flat, axis=1, keepdims=True)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, rms)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1.0)
    median = np.where(np.isfinite(median), median, 0.0)
    with np.errstate(all="ignore"):
        out = np.arcsinh((flat - median) / (softening * sigma))
    out[~finite] = 0.0
    return out.reshape(x.shape).astype(np.float32, copy=False)


class _quiet_nan_warnings:
    """Silence numpy's 'All-NaN slice' RuntimeWarning (handled explicitly)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


#: Features the impactor classifier may use (computed by :func:`element_features`).
ELEMENT_FEATURES = (
    "a_au",
    "e",
    "i_deg",
    "q_au",
    "Q_au",
    "sin_w",
    "cos_w",
    "sin_om",
    "cos_om",
    "sin_ma",
    "cos_ma",
    "node_asc_au",
    "node_desc_au",
    "min_node_dist_au",
    "log10_min_node_dist",
    "moid_au",
    "log10_moid",
    "H_mag",
)


def element_features(elements: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Feature matrix (N, len(names)) float32 from heliocentric ecliptic osculating elements.

    ``elements`` columns: ``a_au``, ``e``, ``i_deg``, ``om_deg``, ``w_deg`` (and ``ma_deg``,
    ``H_mag``, ``q_au`` when those features are asked for). Derived features:

    - ``Q_au`` aphelion distance ``a (1 + e)``;
    - ``node_asc_au`` / ``node_desc_au``: heliocentric distance at the ascending /
      descending node, ``a (1 - e^2) / (1 +- e cos w)``; an orbit can only come close
      to the Earth (r ~ 1 au, i ~ 0) near a node, so ``min_node_dist_au``
      ``= min |r_node - 1 au|`` is a cheap MOID proxy for inclined orbits, and
      ``log10_min_node_dist`` = log10(min_node_dist_au + 1e-4) spreads its small
      values (where impactors live) for the network;
    - ``moid_au``: the Earth MOID (:func:`asteroid_ml.simulation.moid.earth_moid_au`; NASA's PHA
      criterion is MOID <= 0.05 au), and ``log10_moid`` = log10(moid_au + 1e-4);
    - angles as sine and cosine (no wrap-around at 360 deg).
    """
    unknown = sorted(set(names) - set(ELEMENT_FEATURES))
    if unknown:
        raise ValueError(f"unknown element feature(s) {unknown}; allowed: {list(ELEMENT_FEATURES)}")
    for column in ("a_au", "e", "i_deg", "om_deg", "w_deg"):
        if column not in elements.columns:
            raise ValueError(f"orbital elements table: missing column {column!r}")
    a = elements["a_au"].to_numpy(float)
    e = elements["e"].to_numpy(float)
    w = np.deg2rad(elements["w_deg"].to_numpy(float))
    om = np.deg2rad(elements["om_deg"].to_numpy(float))
    p = a * (1.0 - e**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_asc = p / (1.0 + e * np.cos(w))
        r_desc = p / (1.0 - e * np.cos(w))
    columns: dict[str, np.ndarray] = {
        "a_au": a,
        "e": e,
        "i_deg": elements["i_deg"].to_numpy(float),
        "q_au": elements["q_au"].to_numpy(float) if "q_au" in elements else a * (1 - e),
        "Q_au": a * (1.0 + e),
        "sin_w": np.sin(w),
        "cos_w": np.cos(w),
        "sin_om": np.sin(om),
        "cos_om": np.cos(om),
        "node_asc_au": r_asc,
        "node_desc_au": r_desc,
        "min_node_dist_au": np.minimum(np.abs(r_asc - 1.0), np.abs(r_desc - 1.0)),
    }
    columns["log10_min_node_dist"] = np.log10(columns["min_node_dist_au"] + 1e-4)
    if {"moid_au", "log10_moid"} & set(names):  # ~0.1 ms per orbit: only when asked for
        from asteroid_ml.simulation.moid import earth_moid_au

        moid = earth_moid_au(a, e, elements["i_deg"].to_numpy(float), np.rad2deg(om), np.rad2deg(w))
        columns["moid_au"] = moid
        columns["log10_moid"] = np.log10(moid + 1e-4)
    if "ma_deg" in elements:
        ma = np.deg2rad(elements["ma_deg"].to_numpy(float))
        columns["sin_ma"], columns["cos_ma"] = np.sin(ma), np.cos(ma)
    if "H_mag" in elements:
        columns["H_mag"] = elements["H_mag"].to_numpy(float)
    missing = [n for n in names if n not in columns]
    if missing:
        raise ValueError(
            f"orbital elements table: columns needed for features {missing} are missing"
        )
    x = np.stack([columns[n] for n in names], axis=1)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(
            f"orbital elements table: {bad.sum()} row(s) give non-finite features "
            f"(first row index {np.flatnonzero(bad)[0]}); hyperbolic or missing elements?"
        )
    return x.astype(np.float32)
