"""Injection of synthetic sources and artefacts into real sky cutouts.

Coordinates: a cutout is a 2-D array ``image[y, x]`` in the FITS convention of
the HiPS stage: row ``y`` increases to the north, column ``x`` increases to the
*west* (east is to the left, ``CDELT1 < 0``). Pixel centres sit at integer
0-based coordinates, so pixel ``(x, y)`` covers ``[x - 0.5, x + 0.5) x [y - 0.5, y + 0.5)``.

Fluxes are in the cutout's data units ("counts"; for DSS2 these are
photographic densities, treated as linear). A source of magnitude ``m`` has a
total flux ``10 ** (-0.4 * (m - zero_point_mag))`` counts; ``gain`` converts
counts to photons for the Poisson noise of the injected flux.

All functions are pure NumPy and deterministic given their ``rng``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: FWHM of a Gaussian in units of its standard deviation, 2 sqrt(2 ln 2).
GAUSSIAN_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: Median absolute deviation of a unit Gaussian (MAD -> sigma factor is its inverse).
MAD_TO_SIGMA = 1.482602218505602

#: Maximum spacing (pixels) between the PSF copies that sample a trail.
TRAIL_SAMPLING_PX = 0.2

#: Sub-pixel sampling factor for PSFs without an analytic pixel integral (Moffat).
MOFFAT_OVERSAMPLE = 5


@dataclass(frozen=True)
class PSF:
    """A circular point-spread function.

    ``model`` is ``"gaussian"`` or ``"moffat"``; ``fwhm_px`` its full width at
    half maximum in pixels; ``beta`` the Moffat power index (ignored for Gaussians).
    """

    model: str
    fwhm_px: float
    beta: float = 2.5

    def __post_init__(self) -> None:
        if self.model not in ("gaussian", "moffat"):
            raise ValueError(f"PSF model must be 'gaussian' or 'moffat', got {self.model!r}")
        if not self.fwhm_px > 0:
            raise ValueError(f"PSF FWHM must be > 0 pixels, got {self.fwhm_px}")
        if self.model == "moffat" and not self.beta > 1:
            raise ValueError(f"Moffat beta must be > 1, got {self.beta}")

    def scaled(self, factor: float) -> PSF:
        """The same PSF with its FWHM multiplied by ``factor``."""
        return PSF(self.model, self.fwhm_px * factor, self.beta)


def _sorted_median(sorted_rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first ``counts[i]`` values of each sorted row (0 for empty rows)."""
    lo = np.maximum((counts - 1) // 2, 0)
    hi = np.maximum(counts // 2, 0)
    a = np.take_along_axis(sorted_rows, lo[:, None], axis=1)[:, 0].astype(np.float64)
    b = np.take_along_axis(sorted_rows, hi[:, None], axis=1)[:, 0].astype(np.float64)
    return np.where(counts > 0, 0.5 * (a + b), 0.0)


def _median_and_sigma(flat: np.ndarray, blank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and 1.4826 x MAD of the finite values of each row (0 for rows without any)."""
    counts = flat.shape[1] - blank.sum(axis=1)
    # NaN sorts last, so the first counts[i] values of a sorted row are its finite pixels.
    # float32 sorts are exact and several times faster than float64 ones (SIMD sort);
    # the deviations are rounded to float32 (relative 6e-8), far below what matters here.
    values = np.where(blank, np.float32(np.nan), flat.astype(np.float32))
    median = _sorted_median(np.sort(values, axis=1), counts)
    deviation = np.abs(flat.astype(np.float64) - median[:, None]).astype(np.float32)
    deviation[blank] = np.nan
    sigma = MAD_TO_SIGMA * _sorted_median(np.sort(deviation, axis=1), counts)
    return median, sigma


def sky_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blank fill and sky noise of a stack of cutouts ``(n, ny, nx)``.

    Returns ``(filled float64 stack, blank_fraction (n,), sky_sigma (n,))``:
    blank (non-finite) pixels are replaced by the median of the finite ones
    (0 if none), and ``sky_sigma`` is 1.4826 x the median absolute deviation of
    the finite pixels -- robust against the stars in the cutout. Medians come
    from sorted rows (vectorised; sorting is exact, so each cutout's numbers do
    not depend on the other cutouts of the stack).
    """
    stack = np.asarray(images)
    n = stack.shape[0]
    flat = stack.reshape(n, -1)
    blank = ~np.isfinite(flat)
    fraction = blank.mean(axis=1) if flat.shape[1] else np.zeros(n)
    median, sigma = _median_and_sigma(flat, blank)
    filled = np.where(blank, median[:, None], flat.astype(np.float64)).reshape(stack.shape)
    return filled, fraction, sigma


def robust_sigma(image: np.ndarray) -> float:
    """Sky noise of a cutout: 1.4826 x median absolute deviation of its finite pixels (0 if none)."""
    return float(sky_statistics(np.asarray(image)[None])[2][0])


def fill_blank(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Replace blank (non-finite) pixels by the median of the finite ones.

    Returns ``(filled float64 image, blank_fraction, fill_value)``; a cutout with
    no finite pixel is filled with 0. Deterministic: no random numbers are drawn.
    """
    flat = np.asarray(image).reshape(1, -1)
    blank = ~np.isfinite(flat)
    median, _ = _median_and_sigma(flat, blank)
    filled = np.where(blank, median[0], flat.astype(np.float64)).reshape(np.shape(image))
    return filled, float(blank.mean()) if flat.size else 0.0, float(median[0])


def trail_points(x0: float, y0: float, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the PSF copies sampling a trail (midpoint rule).

    The trail is the segment from ``(x0 - dx/2, y0 - dy/2)`` to ``(x0 + dx/2, y0 + dy/2)``
    (pixels): the source moves uniformly along it during the exposure, so the
    image is the PSF convolved with this segment. Copies are at most
    :data:`TRAIL_SAMPLING_PX` apart, which keeps the discretisation error far
    below the pixel size.
    """
    length = math.hypot(dx, dy)
    n = max(1, math.ceil(length / TRAIL_SAMPLING_PX))
    t = (np.arange(n) + 0.5) / n - 0.5
    return x0 + t * dx, y0 + t * dy


def _gaussian_pixel_profile(centres: np.ndarray, start: int, size: int, sigma: float) -> np.ndarray:
    """Fraction of a 1-D unit Gaussian at each centre falling in pixels ``start..start+size-1``.

    Returns an ``(n_centres, size)`` array of exact pixel integrals (erf differences).
    """
    from scipy.special import erf  # scipy is heavy to import; keep the CLI start fast

    edges = np.arange(start, start + size + 1, dtype=np.float64) - 0.5
    cdf = erf((edges[None, :] - centres[:, None]) * (1.0 / (math.sqrt(2.0) * sigma)))
    return 0.5 * (cdf[:, 1:] - cdf[:, :-1])


#: Half-width of the rendering stamp of a Gaussian source, in PSF sigmas beyond the trail:
#: the flux outside (~1e-11 of the total for 7 sigma) is far below any photon noise.
STAMP_SIGMAS = 7.0


def _stamp_extent(centre: float, half_length: float, sigma: float) -> tuple[int, int]:
    """First pixel and width of a stamp holding a trail of this half extent (1-D)."""
    reach = half_length + STAMP_SIGMAS * sigma + 1.0
    lo = math.floor(centre - reach)
    return lo, math.ceil(centre + reach) + 1 - lo


def gaussian_trail_stamps(
    x0: np.ndarray, y0: np.ndarray, dx: np.ndarray, dy: np.ndarray, sigma: np.ndarray
) -> list[tuple[int, int, np.ndarray]]:
    """Unit-flux trailed Gaussian stamps for many sources at once.

    Inputs are arrays (one value per source, pixels). Returns, per source,
    ``(x_lo, y_lo, stamp)``: the stamp covers pixels ``x_lo..`` and ``y_lo..``
    (possibly beyond an image; see :func:`place_stamp`). Sources sharing a
    (trail samples, stamp size) are computed together; every operation is
    element-wise with a fixed summation order, so a source's stamp is
    bit-identical whichever sources it is computed with (the reproducibility
    across shard counts relies on it).
    """
    from scipy.special import erf  # scipy is heavy to import; keep the CLI start fast

    m = len(x0)
    keys, params = [], []
    for i in range(m):
        xs, ys = trail_points(float(x0[i]), float(y0[i]), float(dx[i]), float(dy[i]))
        x_lo, wx = _stamp_extent(float(x0[i]), abs(float(dx[i])) / 2.0, float(sigma[i]))
        y_lo, wy = _stamp_extent(float(y0[i]), abs(float(dy[i])) / 2.0, float(sigma[i]))
        keys.append((xs.size, wx, wy))
        params.append((xs, ys, x_lo, y_lo))
    out: list[tuple[int, int, np.ndarray] | None] = [None] * m
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    for (n_points, wx, wy), members in groups.items():
        xs = np.array([params[i][0] for i in members])  # (g, P)
        ys = np.array([params[i][1] for i in members])
        x_lo = np.array([params[i][2] for i in members], dtype=np.float64)
        y_lo = np.array([params[i][3] for i in members], dtype=np.float64)
        scale = 1.0 / (math.sqrt(2.0) * np.array([float(sigma[i]) for i in members]))
        x_edges = x_lo[:, None] + np.arange(wx + 1) - 0.5  # (g, wx + 1)
        y_edges = y_lo[:, None] + np.arange(wy + 1) - 0.5
        cx = erf((x_edges[:, None, :] - xs[:, :, None]) * scale[:, None, None])  # (g, P, wx+1)
        cy = erf((y_edges[:, None, :] - ys[:, :, None]) * scale[:, None, None])
        gx = 0.5 * (cx[:, :, 1:] - cx[:, :, :-1])
        gy = 0.5 * (cy[:, :, 1:] - cy[:, :, :-1])
        stamps = np.zeros((len(members), wy, wx))
        for p in range(n_points):  # fixed order: bit-identical whatever the group size
            stamps += gy[:, p, :, None] * gx[:, p, None, :]
        stamps *= 1.0 / n_points
        for j, i in enumerate(members):
            out[i] = (int(x_lo[j]), int(y_lo[j]), stamps[j])
    return out  # type: ignore[return-value]


def place_stamp(
    shape: tuple[int, int], x_lo: int, y_lo: int, stamp: np.ndarray
) -> tuple[tuple[slice, slice], np.ndarray]:
    """Crop a stamp to an image: ``image[slices] += cropped`` adds it in place."""
    ny, nx = shape
    wy, wx = stamp.shape
    x0, y0 = max(0, x_lo), max(0, y_lo)
    x1, y1 = max(x0, min(nx, x_lo + wx)), max(y0, min(ny, y_lo + wy))
    return (slice(y0, y1), slice(x0, x1)), stamp[y0 - y_lo : y1 - y_lo, x0 - x_lo : x1 - x_lo]


def render_trail_stamp(
    shape: tuple[int, int], x0: float, y0: float, dx: float, dy: float, psf: PSF
) -> tuple[tuple[slice, slice], np.ndarray]:
    """Like :func:`render_trail` but only on the pixels the source reaches.

    Returns ``(slices, stamp)`` with ``image[slices] = stamp`` (zero elsewhere).
    Gaussian sources are cut at :data:`STAMP_SIGMAS`; Moffat wings are long, so
    they are rendered on the whole image.
    """
    ny, nx = shape
    if psf.model != "gaussian":
        return (slice(0, ny), slice(0, nx)), render_trail(shape, x0, y0, dx, dy, psf)
    sigma = psf.fwhm_px / GAUSSIAN_FWHM_PER_SIGMA
    ((x_lo, y_lo, stamp),) = gaussian_trail_stamps(
        np.array([x0]), np.array([y0]), np.array([dx]), np.array([dy]), np.array([sigma])
    )
    return place_stamp(shape, x_lo, y_lo, stamp)


def _moffat_alpha(psf: PSF) -> float:
    return psf.fwhm_px / (2.0 * math.sqrt(2.0 ** (1.0 / psf.beta) - 1.0))


def render_trail(
    shape: tuple[int, int], x0: float, y0: float, dx: float, dy: float, psf: PSF
) -> np.ndarray:
    """Image of a unit-flux trailed point source, integrated over pixels (float64).

    ``(x0, y0)``: trail midpoint (0-based pixels); ``(dx, dy)``: trail vector in
    pixels (``dx = dy = 0`` gives a point source). The profile is normalised to
    unit flux over the infinite plane, so flux falling outside the cutout is
    lost, as it would be on a detector.
    """
    ny, nx = shape
    xs, ys = trail_points(x0, y0, dx, dy)
    if psf.model == "gaussian":
        sigma = psf.fwhm_px / GAUSSIAN_FWHM_PER_SIGMA
        # Separable exact pixel integrals per copy; sum of outer products.
        gx = _gaussian_pixel_profile(xs, 0, nx, sigma)
        gy = _gaussian_pixel_profile(ys, 0, ny, sigma)
        return (gy.T @ gx) / xs.size
    # Moffat: sample each pixel on an OVERSAMPLE x OVERSAMPLE grid of sub-pixel centres.
    k = MOFFAT_OVERSAMPLE
    sub = (np.arange(k) + 0.5) / k - 0.5
    fx = (np.arange(nx)[:, None] + sub[None, :]).ravel()
    fy = (np.arange(ny)[:, None] + sub[None, :]).ravel()
    alpha = _moffat_alpha(psf)
    norm = (psf.beta - 1.0) / (math.pi * alpha**2)
    fine = np.zeros((fy.size, fx.size))
    for xc, yc in zip(xs, ys, strict=True):
        r2 = (fy[:, None] - yc) ** 2 + (fx[None, :] - xc) ** 2
        fine += (1.0 + r2 / alpha**2) ** (-psf.beta)
    fine *= norm / (xs.size * k * k)
    return fine.reshape(ny, k, nx, k).sum(axis=(1, 3))


def flux_from_mag(mag: np.ndarray | float, zero_point_mag: float) -> np.ndarray:
    """Total flux in counts of a source of magnitude ``mag`` (``zero_point_mag`` gives 1 count)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - zero_point_mag))


def optimal_snr(signal: np.ndarray, sky_sigma: float, gain: float | None = None) -> float:
    """Matched-filter (PSF-weighted) signal-to-noise ratio of an added signal.

    ``signal``: the expected counts added per pixel; ``sky_sigma``: sky noise
    per pixel (counts); ``gain``: photons per count for the source's own
    Poisson noise (``None``: sky noise only). SNR = sqrt(sum s_i^2 / var_i),
    the best any linear detector can do on this image.
    """
    sky_variance = float(sky_sigma) ** 2
    if gain is None:
        if sky_variance == 0.0:
            return float("inf") if np.any(signal) else 0.0
        return float(math.sqrt(float(np.dot(signal.ravel(), signal.ravel())) / sky_variance))
    variance = np.maximum(signal, 0.0) * (1.0 / gain) + sky_variance
    good = variance > 0
    if not good.all():
        signal, variance = signal[good], variance[good]
    return float(math.sqrt(float(np.sum(signal * signal / variance))))


def poisson_realisation(expected: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    """Counts actually recorded for an expected source image: Poisson photons / gain."""
    return rng.poisson(np.maximum(expected, 0.0) * gain) * (1.0 / gain)


def image_moments(image: np.ndarray) -> tuple[float, float, float, float]:
    """Centroid and principal second moments of a (background-free) image.

    Returns ``(x_centroid, y_centroid, trail_length_px, angle_deg)``: for a PSF
    convolved with a segment of length L, the variance along the segment
    exceeds the one across it by L^2 / 12, so ``L = sqrt(12 (l1 - l2))``;
    ``angle_deg`` is the orientation of the major axis in [0, 180), measured
    from +x towards +y in pixel coordinates.
    """
    ny, nx = image.shape
    y, x = np.mgrid[0:ny, 0:nx]
    total = image.sum()
    xc = float((image * x).sum() / total)
    yc = float((image * y).sum() / total)
    mxx = (image * (x - xc) ** 2).sum() / total
    myy = (image * (y - yc) ** 2).sum() / total
    mxy = (image * (x - xc) * (y - yc)).sum() / total
    half_diff = math.sqrt(((mxx - myy) / 2.0) ** 2 + mxy**2)
    length = math.sqrt(max(12.0 * 2.0 * half_diff, 0.0))
    angle = 0.5 * math.degrees(math.atan2(2.0 * mxy, mxx - myy)) % 180.0
    return xc, yc, length, angle


def sky_motion_to_pixels(
    cd: np.ndarray, pa_deg: float, length_arcsec: float
) -> tuple[float, float]:
    """Pixel vector of a displacement on the sky.

    ``cd``: the 2x2 matrix from pixel offsets to intermediate world coordinates
    (degrees; first axis towards east, second towards north, as for RA---TAN /
    DEC--TAN); ``pa_deg``: position angle of the motion, from north through
    east; ``length_arcsec``: length of the displacement. With the FITS
    orientation (``CDELT1 < 0``) an eastward motion gives ``dx < 0``.
    """
    pa = math.radians(pa_deg)
    east = math.sin(pa) * length_arcsec / 3600.0
    north = math.cos(pa) * length_arcsec / 3600.0
    (a, b), (c, d) = cd.tolist()
    det = a * d - b * c  # explicit 2x2 inverse: np.linalg.solve costs more than the rest
    return (d * east - b * north) / det, (a * north - c * east) / det


def trail_angle_deg(dx: float, dy: float) -> float:
    """Orientation of a pixel vector in [0, 180) degrees, from +x towards +y."""
    return math.degrees(math.atan2(dy, dx)) % 180.0


# --- artefacts (hard negatives) ------------------------------------------------


def cosmic_ray(
    shape: tuple[int, int], x0: float, y0: float, length_px: float, angle_deg: float, peak: float
) -> np.ndarray:
    """A sharp straight track (no PSF blur): charge deposited along a segment.

    The segment is sampled every 0.1 px and each sample deposits into the pixel
    it falls in, so the track is one pixel wide and not smoothed; the result
    is scaled so that its brightest pixel equals ``peak`` counts.
    """
    ny, nx = shape
    n = max(1, math.ceil(length_px / 0.1))
    t = (np.arange(n) + 0.5) / n - 0.5
    angle = math.radians(angle_deg)
    xs = np.rint(x0 + t * length_px * math.cos(angle)).astype(int)
    ys = np.rint(y0 + t * length_px * math.sin(angle)).astype(int)
    inside = (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
    track = np.zeros(shape)
    np.add.at(track, (ys[inside], xs[inside]), 1.0)
    if track.max() > 0:
        track *= peak / track.max()
    return track


def hot_pixel(shape: tuple[int, int], x: int, y: int, peak: float) -> np.ndarray:
    """A single pixel raised by ``peak`` counts."""
    out = np.zeros(shape)
    out[y, x] = peak
    return out


def hot_column(shape: tuple[int, int], x: int, level: float) -> np.ndarray:
    """A whole column (constant ``x``) raised by ``level`` counts."""
    out = np.zeros(shape)
    out[:, x] = level
    return out
