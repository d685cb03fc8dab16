"""Difference imaging of one epoch: register the reference to it, match the PSF, subtract.

The pipeline does not know the epoch's true pointing error or seeing; it measures both
from the stars that sep finds in the two images (as survey pipelines do, with fewer
refinements: a Gaussian matching kernel instead of a fitted one), so misregistration and
seeing errors leave the star residuals a real difference image has. A field is a small
piece of a detector: where it has too few stars, the pipeline uses the whole detector's
astrometric and PSF solutions instead (the ``fallback``: the truth blurred by the
calibration's precision, :class:`~.survey_model.SurveyModel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import sep
from scipy import ndimage
from scipy.spatial import cKDTree

from asteroid_ml.constants import MAD_TO_SIGMA
from asteroid_ml.detection.survey_model import SurveyModel

#: Sources used to register two images: at least this SNR and this many of them.
REGISTRATION_SNR = 10.0
MIN_REGISTRATION_STARS = 3
MATCH_RADIUS_PX = 3.0


def robust_sigma(image: np.ndarray) -> float:
    """Noise of an image from the median absolute deviation (sources barely matter)."""
    finite = image[np.isfinite(image)]
    return float(MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))


def sources(image: np.ndarray, snr: float = REGISTRATION_SNR) -> pd.DataFrame:
    """Sources of a direct image (background subtracted by sep), columns x, y, flux, a, b."""
    data = np.ascontiguousarray(image, dtype=np.float64)
    background = sep.Background(data, bw=32, bh=32)
    residual = data - background.back()
    found = sep.extract(residual, snr, err=background.globalrms, minarea=3)
    table = pd.DataFrame({k: found[k] for k in ("x", "y", "flux", "a", "b")})
    # Half-light radius inside a fixed aperture: unlike the isophotal a, b it does not
    # depend on how far above the threshold a star is (for a Gaussian, r50 = 1.18 sigma).
    x, y = table["x"].to_numpy(copy=True), table["y"].to_numpy(copy=True)
    r50, _ = sep.flux_radius(residual, x, y, np.full(len(table), 8.0), 0.5)
    return table.assign(r50=r50)


@dataclass(frozen=True)
class Registration:
    """The measured shift (reference -> epoch, px) and seeing ratio (epoch / reference);
    ``n_stars`` matched stars; ``detector``: taken from the whole detector's solutions."""

    dx: float
    dy: float
    seeing_ratio: float
    n_stars: int
    detector: bool = False


def register(
    reference_stars: pd.DataFrame, epoch_stars: pd.DataFrame,
    fallback: Registration | None = None,
) -> Registration:  # fmt: skip
    """Median offset and size ratio of the stars found in both images (nearest within 3 px).

    With fewer than :data:`MIN_REGISTRATION_STARS` matches: ``fallback`` (the whole
    detector's solutions) when given, else the epoch is taken as aligned with the reference
    seeing (offset 0, ratio 1), and its difference then shows every star.
    """
    n_matched = 0
    if len(reference_stars) and len(epoch_stars):
        tree = cKDTree(reference_stars[["x", "y"]].to_numpy())
        dist, idx = tree.query(
            epoch_stars[["x", "y"]].to_numpy(), distance_upper_bound=MATCH_RADIUS_PX
        )
        ok = np.isfinite(dist)
        n_matched = int(ok.sum())
    if n_matched < MIN_REGISTRATION_STARS:
        if fallback is not None:
            return replace(fallback, n_stars=n_matched, detector=True)
        return Registration(0.0, 0.0, 1.0, n_matched)
    ref = reference_stars.iloc[idx[ok]]
    ep = epoch_stars[ok]
    dx = float(np.median(ep["x"].to_numpy() - ref["x"].to_numpy()))
    dy = float(np.median(ep["y"].to_numpy() - ref["y"].to_numpy()))
    ratio = float(np.median(ep["r50"].to_numpy() / ref["r50"].to_numpy()))
    return Registration(dx, dy, ratio, int(ok.sum()))


@dataclass
class Difference:
    """One epoch's difference image and what made it (all in the epoch's pixel frame)."""

    science: np.ndarray  # background-subtracted epoch
    matched_reference: np.ndarray  # reference shifted and convolved to the epoch
    difference: np.ndarray
    sigma: float  # robust noise of the difference (counts)
    registration: Registration


def difference_image(
    reference: np.ndarray, science: np.ndarray, model: SurveyModel,
    reference_stars: pd.DataFrame | None = None, fallback: Registration | None = None,
    blur_sharper_science: bool = False,
) -> Difference:  # fmt: skip
    """Register and PSF-match ``reference`` to ``science`` and subtract.

    The matching kernel is the Gaussian that widens the reference PSF (sigma s_ref) to the
    measured science PSF: sigma_k = s_ref sqrt(ratio^2 - 1) (none when the epoch is sharper).
    ``fallback``: the registration to use where the field has too few stars (:func:`register`).
    ``blur_sharper_science``: when the epoch is sharper than the reference (ratio < 1, as
    half of a night's frames are against a median of them), blur the *science* to the
    reference's PSF instead (sigma_k = s_ref sqrt(1 - ratio^2)), so that the difference
    is PSF-matched either way; the difference then has the reference's PSF.
    """
    ref = reference - np.median(reference)
    sci = science - np.median(science)
    if reference_stars is None:
        reference_stars = sources(reference)
    reg = register(reference_stars, sources(science), fallback)
    kernel_sigma = model.sigma_px * math.sqrt(max(reg.seeing_ratio**2 - 1.0, 0.0))
    matched = ndimage.gaussian_filter(ref, kernel_sigma) if kernel_sigma > 0 else ref.copy()
    matched = ndimage.shift(matched, (reg.dy, reg.dx), order=3, mode="nearest")
    if blur_sharper_science and reg.seeing_ratio < 1.0:
        sci = ndimage.gaussian_filter(sci, model.sigma_px * math.sqrt(1.0 - reg.seeing_ratio**2))
        reg = replace(reg, seeing_ratio=1.0)
    diff = (sci - matched).astype(np.float64)
    return Difference(sci, matched, diff, robust_sigma(diff), reg)


def detector_solution(
    offset: tuple[float, float], seeing_ratio: float, model: SurveyModel,
    rng: np.random.Generator,
) -> Registration:  # fmt: skip
    """What the whole detector's calibration says of an epoch whose true offset (px) and
    seeing ratio are given: each blurred by the calibration's precision (``model``)."""
    dx, dy = rng.normal(0.0, model.solution_astrometric_sigma_px, 2)
    scale = 1.0 + rng.normal(0.0, model.solution_seeing_frac)
    return Registration(
        float(offset[0] + dx), float(offset[1] + dy), float(seeing_ratio * scale), 0, True
    )
