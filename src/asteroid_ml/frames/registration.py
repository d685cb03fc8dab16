"""Registration of a night's frames on their stars (astroalign) and their photometric scale.

Each frame is registered onto the *registration frame* (the one with the most stars) by
astroalign's similarity transform, fitted to the brightest sep sources of both frames; the
residual rms of the matched stars is reported per frame. A frame through thin cloud has
few sources: the match is retried once with fainter ones. A frame is kept
when at least :data:`MIN_MATCHED_STARS` stars match within :data:`MAX_RESIDUAL_PX` rms
(both knobs of the method, not physics: astroalign's own defaults accept 3 stars).
Sources are found with a matched filter, at 10 then 5 (matched-filter) sigma. Where
astroalign's triangle matching fails (a handful of stars, some split in two by the
deblender), the translation most star pairs agree on is fitted instead (offset voting).

Frames differ in transparency (clouds, airmass): each frame's *scale* is the median ratio of
the registration frame's aperture fluxes to the frame's own, on the same unsaturated stars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep

#: Detection thresholds (matched-filter SNR) of the sources matched between frames, tried
#: in order, and the filter's Gaussian sigma (px; a generic star of FWHM 3.5 px, before
#: the frame's own PSF is measured).
SOURCE_SNR = (10.0, 5.0)
FILTER_SIGMA_PX = 1.5
#: Brightest sources handed to astroalign (its own default number of control points).
CONTROL_POINTS = 50
MIN_MATCHED_STARS = 4
MAX_RESIDUAL_PX = 2.0
#: Two stars of two frames are one star when the transform puts them this close (px): for
#: offset voting, and (tighter) for the refit of astroalign's transform.
MATCH_RADIUS_PX = 3.0
REFINE_RADIUS_PX = 1.0


@dataclass
class Sky:
    """A frame with its sky removed: ``image`` (counts above sky) and the sky's rms."""

    image: np.ndarray
    rms: float


def subtract_sky(data: np.ndarray, mesh_px: int = 64) -> Sky:
    """sep's background (a ``mesh_px`` mesh, median-filtered) subtracted; its global rms."""
    image = np.ascontiguousarray(data, dtype=np.float64)
    background = sep.Background(image, bw=mesh_px, bh=mesh_px)
    return Sky(image - background.back(), float(background.globalrms))


def star_positions(sky: Sky, snr: float = SOURCE_SNR[0]) -> np.ndarray:
    """(n, 2) x, y of the brightest :data:`CONTROL_POINTS` sources above ``snr`` after a
    Gaussian matched filter (short exposures and frames through cloud keep their faint
    stars): sep on the filtered image, whose noise is the sky's times sqrt(sum k^2) for
    the normalised kernel k (a separable filter; sep's own matched filter with a noise
    map is 5x slower)."""
    from scipy import ndimage

    from asteroid_ml.detection.candidates import gaussian_kernel

    kernel = gaussian_kernel(FILTER_SIGMA_PX)
    smoothed = ndimage.gaussian_filter(sky.image, FILTER_SIGMA_PX, truncate=3.0)
    noise = sky.rms * float(np.sqrt(np.sum(kernel * kernel)))
    found = sep.extract(smoothed, snr, err=noise, minarea=3, filter_kernel=None)
    found = found[np.argsort(-found["flux"])][:CONTROL_POINTS]
    return np.column_stack([found["x"], found["y"]])


@dataclass
class Alignment:
    """How one frame maps onto the registration frame: ``transform`` (frame px ->
    registration-frame px, a skimage SimilarityTransform), ``n_matched`` stars and their
    ``residual_rms_px``; ``transform`` is None when the frame could not be registered."""

    transform: object | None
    n_matched: int
    residual_rms_px: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.transform is not None


def vote_translation(stars: np.ndarray, target: np.ndarray, radius: float = MATCH_RADIUS_PX):
    """A similarity transform from the translation most star pairs agree on (each offset
    between a star and a target star is a vote; the one with most votes within ``radius``
    wins), fitted by least squares to the pairs it matches: for frames with too few stars
    for astroalign's triangles, whose field has only drifted. Returns (transform, src, dst)
    or None."""
    from scipy.spatial import cKDTree
    from skimage.transform import SimilarityTransform

    offsets = (target[None, :, :] - stars[:, None, :]).reshape(-1, 2)
    tree = cKDTree(offsets)
    votes = np.array([len(v) for v in tree.query_ball_point(offsets, radius)])
    best = offsets[np.argmax(votes)]
    distance, idx = cKDTree(target).query(stars + best, distance_upper_bound=radius)
    ok = np.isfinite(distance)
    if ok.sum() < 3:
        return None
    src, dst = stars[ok], target[idx[ok]]
    transform = SimilarityTransform.from_estimate(src, dst)
    return (transform, src, dst) if transform else None


def refine(transform, stars: np.ndarray, target: np.ndarray, rounds: int = 3):
    """The least-squares similarity transform of every star that ``transform`` puts within
    :data:`REFINE_RADIUS_PX` of a target star, re-matched ``rounds`` times. astroalign's
    RANSAC starts from an unseeded random order, so its transform (and the candidates after
    it) could differ between runs; the refit depends only on the matched pairs. Returns
    (transform, src, dst)."""
    from scipy.spatial import cKDTree
    from skimage.transform import SimilarityTransform

    tree = cKDTree(target)
    src = dst = np.zeros((0, 2))
    for _ in range(rounds):
        distance, idx = tree.query(transform(stars), distance_upper_bound=REFINE_RADIUS_PX)
        ok = np.isfinite(distance)
        if ok.sum() < 3:
            break
        src, dst = stars[ok], target[idx[ok]]
        fitted = SimilarityTransform.from_estimate(src, dst)
        if not fitted:
            break
        transform = fitted
    return transform, src, dst


def align(sky: Sky, target_stars: np.ndarray) -> Alignment:
    """astroalign's transform of ``sky`` onto the frame whose stars are ``target_stars``
    (when it finds none: :func:`vote_translation`)."""
    import astroalign

    best = Alignment(None, 0, float("nan"), "no stars")
    for snr in SOURCE_SNR:
        stars = star_positions(sky, snr)
        if len(stars) < 3:
            best.reason = f"{len(stars)} stars above {snr:g} sigma"
            continue
        try:
            transform, _ = astroalign.find_transform(stars, target_stars)
            transform, src, dst = refine(transform, stars, target_stars)
        except astroalign.MaxIterError:
            voted = vote_translation(stars, target_stars)
            if voted is None:
                best.reason = f"no transform found on {len(stars)} stars"
                continue
            transform, src, dst = voted
        residual = float(np.sqrt(np.mean(np.sum((transform(src) - dst) ** 2, axis=1))))
        if len(src) >= MIN_MATCHED_STARS and residual <= MAX_RESIDUAL_PX:
            return Alignment(transform, len(src), residual)
        best = Alignment(None, len(src), residual,
                         f"{len(src)} stars matched at {residual:.2f} px rms")  # fmt: skip
    return best


def warp(image: np.ndarray, transform, shape: tuple[int, int]) -> np.ndarray:
    """``image`` resampled onto the registration frame's grid (bicubic); NaN where the frame
    does not reach."""
    import astroalign

    target = np.zeros(shape, dtype=np.float64)
    warped, _ = astroalign.apply_transform(transform, image, target, fill_value=np.nan)
    return np.asarray(warped, dtype=np.float64)


def photometric_scales(
    registered: list[np.ndarray], reference: int, saturation: float, aperture_px: float
) -> np.ndarray:
    """Per frame, the median ratio of the registration frame's star fluxes to its own (> 1
    for a frame through cloud). Stars: sources of the registration frame at >= 20 sigma,
    below half of ``saturation`` at their peak, measured in ``aperture_px`` apertures."""
    ref = np.nan_to_num(registered[reference])
    background = sep.Background(np.ascontiguousarray(ref))
    found = sep.extract(ref, 20.0, err=background.globalrms, minarea=5)
    found = found[found["peak"] < 0.5 * saturation]
    if len(found) == 0:
        return np.ones(len(registered))
    x, y = found["x"], found["y"]
    ref_flux, _, _ = sep.sum_circle(ref, x, y, aperture_px)
    scales = np.ones(len(registered))
    for i, image in enumerate(registered):
        flux, _, _ = sep.sum_circle(np.nan_to_num(image), x, y, aperture_px)
        ok = (flux > 0) & (ref_flux > 0)
        if ok.sum() >= 3:
            scales[i] = float(np.median(ref_flux[ok] / flux[ok]))
    return scales
