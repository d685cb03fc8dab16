"""Candidates: what sep finds on a difference image, each with a stamp triplet, autoScan-like
features (Goldstein et al. 2015) and a label from the truth of its epoch.

A candidate is *real* when it lies within :data:`MATCH_RADIUS_FWHM` science FWHM of the
mover's position at that epoch; a bogus candidate is named after the nearest injected
artefact within that radius, else ``star_residual`` (near a reference source), else
``noise``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import sep
from scipy import ndimage
from scipy.spatial import cKDTree

from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA
from asteroid_ml.detection.difference import Difference, robust_sigma
from asteroid_ml.detection.epochs import MOVER
from asteroid_ml.detection.survey_model import SurveyModel

STAMP = 32  # stamp side (px): ~8 FWHM at 0.8"/px and 2.4" seeing; the CNN needs a multiple of 16
MATCH_RADIUS_FWHM = 0.5  # a detection of SNR >= 5 is centred to ~0.2 FWHM
MIN_AREA_PX = 1  # the threshold is on the matched-filter SNR of the peak
#: Stamps on disk: they are in units of the difference's noise, where float16's 3 significant
#: digits (0.03 sigma at 50 sigma) are far below the noise; half the size of float32.
STAMP_STORAGE_DTYPE = np.float16
#: Triplet stamps are in units of the difference's noise; the classifiers clip them at +-50
#: sigma (a knob, not physics: it keeps saturated star residuals from dominating a batch).
STAMP_CLIP_SIGMA = 50.0

#: The features of a candidate (the random forest's inputs), each explained in docs/detection.md.
FEATURES = (
    "snr", "mag", "elongation", "size_ratio", "peak_ratio", "npix", "negative_fraction",
    "n_bad_pixels", "reference_flux_ratio", "reference_distance", "science_snr",
    "psf_correlation", "sep_flag",
)  # fmt: skip
BOGUS_LABELS = (
    "cosmic_ray", "hot_pixel", "hot_column", "satellite", "variable_star", "star_residual", "noise",
)  # fmt: skip


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised Gaussian image of ``sigma`` px (the matched filter of a point source)."""
    half = max(1, math.ceil(3 * sigma))
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    kernel = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return kernel / kernel.sum()


def filtered_noise_ratio(image: np.ndarray, sigma: float, kernel: np.ndarray) -> float:
    """Measured noise of ``image`` filtered with ``kernel``, over what uncorrelated pixel noise
    of ``sigma`` would give (``sigma * sqrt(sum kernel^2)``); 1 for white noise.

    A difference image's noise is correlated on the PSF's scale: the PSF-matching
    convolution, and what the matching leaves of the reference's own grain and structure
    (elongated seeing, misregistration). A threshold computed from the per-pixel noise is
    then lower than it says: on the default's fields the ratio is 1.03-1.6 (median 1.12),
    and sep's "5 sigma" found ~1 noise peak per epoch where white noise of the same size
    gives none in 400 epochs. LSST's pipeline rescales its difference images' variance to
    the measured noise for the same reason (meas_algorithms ScaleVarianceTask; Reiss &
    Lupton, DMTN-021).

    ``kernel`` must be separable and square, as :func:`gaussian_kernel` is: it is applied as
    two passes of its marginal profile (15x faster than the 2-D convolution, same result).
    """
    profile = kernel.sum(axis=0)
    filtered = ndimage.convolve1d(image, profile, axis=0, mode="nearest")
    filtered = ndimage.convolve1d(filtered, profile, axis=1, mode="nearest")
    return robust_sigma(filtered) / (sigma * float(np.sqrt(np.sum(kernel * kernel))))


def detect(diff: Difference, model: SurveyModel) -> pd.DataFrame:
    """sep on the difference image: sources above ``model.snr_threshold`` (matched-filter SNR).

    The filter is the epoch's PSF as measured by the registration; with a noise map and
    ``filter_type="matched"`` sep thresholds the filtered image in units of its noise, which
    is the per-pixel noise scaled by :func:`filtered_noise_ratio` (the measured noise of the
    filtered image), so a point source of PSF-photometry SNR = threshold is found half of the
    time (tests/test_detection.py) and the threshold means what it says on correlated noise.
    sep's ``clean`` step is off: it removes detections in the wings of bright objects, and in
    a difference image the bright objects are star residuals next to which a mover must
    still be found.
    """
    sigma_e = model.sigma_px * max(diff.registration.seeing_ratio, 1.0)
    data = np.ascontiguousarray(diff.difference)
    kernel = gaussian_kernel(sigma_e)
    # sep applies the matched filter only with a noise *map* (a scalar err skips it).
    noise = np.full(data.shape, diff.sigma * filtered_noise_ratio(data, diff.sigma, kernel))
    found = sep.extract(
        data, model.snr_threshold, err=noise, minarea=MIN_AREA_PX,
        filter_kernel=kernel, filter_type="matched", clean=False,
    )  # fmt: skip
    table = pd.DataFrame(
        {k: found[k] for k in ("x", "y", "flux", "peak", "a", "b", "npix", "flag")}
    )
    if len(table) == 0:
        return table.assign(aper_flux=[], aper_err=[])
    radius = max(1.5, GAUSSIAN_FWHM_PER_SIGMA * sigma_e)
    flux, err, _ = sep.sum_circle(data, table["x"], table["y"], radius, err=diff.sigma)
    return table.assign(aper_flux=flux, aper_err=err)


def stamps_for_storage(stamps: np.ndarray) -> np.ndarray:
    """``stamps`` as :data:`STAMP_STORAGE_DTYPE` (clipped to its finite range)."""
    limit = float(np.finfo(STAMP_STORAGE_DTYPE).max)
    return np.clip(stamps, -limit, limit).astype(STAMP_STORAGE_DTYPE)


def _cut(image: np.ndarray, x: float, y: float, size: int = STAMP) -> np.ndarray:
    """``size`` x ``size`` pixels centred on the pixel nearest (x, y); zeros off the image."""
    half = size // 2
    cx, cy = int(round(x)), int(round(y))
    out = np.zeros((size, size), np.float32)
    ny, nx = image.shape
    y0, x0 = cy - half, cx - half
    y1, x1 = y0 + size, x0 + size
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y1, ny), min(x1, nx)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def triplets(diff: Difference, found: pd.DataFrame) -> np.ndarray:
    """Stamp triplets (science, matched reference, difference) in units of the difference's
    noise: float32 array (n, 3, STAMP, STAMP)."""
    scale = 1.0 / diff.sigma
    planes = (diff.science, diff.matched_reference, diff.difference)
    out = np.zeros((len(found), 3, STAMP, STAMP), np.float32)
    for i, (x, y) in enumerate(zip(found["x"], found["y"], strict=True)):
        for c, plane in enumerate(planes):
            out[i, c] = _cut(plane, x, y) * scale
    return out


def features(
    diff: Difference, found: pd.DataFrame, stamps: np.ndarray, model: SurveyModel,
    reference_stars: pd.DataFrame,
) -> pd.DataFrame:  # fmt: skip
    """autoScan-like features of each candidate (one row per row of ``found``)."""
    sigma_e = model.sigma_px * max(diff.registration.seeing_ratio, 1.0)
    psf = gaussian_kernel(sigma_e)
    half = STAMP // 2
    k = psf.shape[0] // 2
    centre = (slice(half - k, half + k + 1),) * 2
    diff_stamps = stamps[:, 2]
    core = diff_stamps[:, centre[0], centre[1]]
    positive = np.clip(core, 0, None).sum(axis=(1, 2))
    negative = -np.clip(core, None, 0).sum(axis=(1, 2))
    flat = core.reshape(core.shape[0], core.shape[1] * core.shape[2])
    flat = flat - flat.mean(axis=1, keepdims=True)
    template = (psf - psf.mean()).ravel()
    norm = np.linalg.norm(flat, axis=1) * np.linalg.norm(template)
    snr = found["aper_flux"].to_numpy() / np.maximum(found["aper_err"].to_numpy(), 1e-12)
    ref_flux = stamps[:, 1, centre[0], centre[1]].sum(axis=(1, 2)) * diff.sigma
    sci_core = stamps[:, 0, centre[0], centre[1]].sum(axis=(1, 2))
    if len(reference_stars):
        ref_xy = reference_stars[["x", "y"]].to_numpy() + [
            diff.registration.dx,
            diff.registration.dy,
        ]
        distance, _ = cKDTree(ref_xy).query(found[["x", "y"]].to_numpy())
    else:
        distance = np.full(len(found), 99.0)
    flux = np.maximum(found["aper_flux"].to_numpy(), 1e-3)
    return pd.DataFrame({
        "snr": snr,
        "mag": model.zero_point_mag - 2.5 * np.log10(flux),
        "elongation": found["a"].to_numpy() / np.maximum(found["b"].to_numpy(), 1e-3),
        "size_ratio": np.sqrt(found["a"].to_numpy() * found["b"].to_numpy()) / sigma_e,
        "peak_ratio": found["peak"].to_numpy() / flux,
        "npix": found["npix"].to_numpy(float),
        "negative_fraction": negative / np.maximum(positive + negative, 1e-9),
        "n_bad_pixels": (diff_stamps[:, half - 3 : half + 4, half - 3 : half + 4] < -3).sum(axis=(1, 2)),
        "reference_flux_ratio": ref_flux / flux,
        "reference_distance": np.minimum(distance, 99.0),
        "science_snr": sci_core / (math.sqrt(psf.size)),
        "psf_correlation": (flat @ template) / np.maximum(norm, 1e-12),
        "sep_flag": found["flag"].to_numpy(float),
    })  # fmt: skip


def label(
    found: pd.DataFrame, truth: pd.DataFrame, epoch: int, fwhm_px: float,
    reference_stars: pd.DataFrame, offset: tuple[float, float],
) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:  # fmt: skip
    """Label each candidate of ``epoch`` from the truth: (real 0/1, kind, object_id, true mag).

    A mover is matched to one candidate at most: the nearest within
    :data:`MATCH_RADIUS_FWHM` FWHM (a second candidate beside it, e.g. a star residual or a
    deblended fragment, is not the mover's detection). Other candidates take the kind of the
    nearest artefact within the radius (hot columns and satellite streaks are lines), else
    ``star_residual`` within two radii of a reference star, else ``noise``.
    """
    radius = MATCH_RADIUS_FWHM * fwhm_px
    n = len(found)
    real = np.zeros(n, np.int64)
    kind = ["noise"] * n
    obj = [""] * n
    mag = np.full(n, np.nan)
    rows = truth[truth["epoch"] == epoch]
    xy = found[["x", "y"]].to_numpy()
    best = np.full(n, np.inf)
    for _, t in rows[rows["kind"] != MOVER].iterrows():
        if t.kind == "hot_column":
            d = np.abs(xy[:, 0] - t.x)
        elif t.kind == "satellite":
            angle = float(t.object_id)
            d = np.abs(-(xy[:, 0] - t.x) * math.sin(angle) + (xy[:, 1] - t.y) * math.cos(angle))
        else:
            d = np.hypot(xy[:, 0] - t.x, xy[:, 1] - t.y)
        for i in np.flatnonzero((d <= radius) & (d < best)):
            best[i], kind[i] = d[i], t.kind
    if len(reference_stars) and n:
        ref_xy = reference_stars[["x", "y"]].to_numpy() + np.asarray(offset)
        distance, _ = cKDTree(ref_xy).query(xy)
        for i in np.flatnonzero(distance <= 2 * radius):
            if kind[i] == "noise":
                kind[i] = "star_residual"
    for _, t in rows[rows["kind"] == MOVER].iterrows():
        if n == 0:
            break
        d = np.hypot(xy[:, 0] - t.x, xy[:, 1] - t.y)
        d[real == 1] = np.inf  # taken by another mover
        i = int(np.argmin(d))
        if d[i] <= radius:
            real[i], kind[i], obj[i], mag[i] = 1, MOVER, t.object_id, t.mag
    return real, kind, obj, mag
