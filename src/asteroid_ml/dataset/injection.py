"""Injection of synthetic sources and artefacts into real sky cutouts.

:func:`inject_sample` injects one sample (an asteroid trail or a negative kind) into
one cutout with the physics of :class:`InjectionSettings` (the ``dataset`` config
section); the functions above it render PSFs, trails, noise and artefacts.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA
from asteroid_ml.dataset.sky import sky_statistics
from asteroid_ml.hips.wcs import CutoutGeometry

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


# --- one sample ---------------------------------------------------------------------


@dataclass(frozen=True)
class InjectionSettings:
    """Physical set-up of the injections (see the ``dataset`` config section)."""

    psf_model: str
    psf_fwhm_arcsec: float
    moffat_beta: float
    zero_point_mag: float
    gain: float
    depth_offset_mag: float
    exposure_s: float
    artefact_peak_sigma: tuple[float, float]
    cosmic_ray_length_px: tuple[float, float]
    bright_star_mag: tuple[float, float]
    bright_star_growth: tuple[float, float]
    saturation_counts: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InjectionSettings:
        s = config["dataset"]

        def pair(key: str) -> tuple[float, float]:
            return float(s[key]["min"]), float(s[key]["max"])

        return cls(
            psf_model=str(s["psf"]["model"]),
            psf_fwhm_arcsec=float(s["psf"]["fwhm_arcsec"]),
            moffat_beta=float(s["psf"]["moffat_beta"]),
            zero_point_mag=float(s["zero_point_mag"]),
            gain=float(s["gain_e_per_count"]),
            depth_offset_mag=float(s["depth_offset_mag"]),
            exposure_s=float(config["observations"]["exposure_s"]),
            artefact_peak_sigma=pair("artefact_peak_sigma"),
            cosmic_ray_length_px=pair("cosmic_ray_length_px"),
            bright_star_mag=pair("bright_star_mag"),
            bright_star_growth=pair("bright_star_growth"),
            saturation_counts=float(s["saturation_counts"]),
        )


@dataclass
class InjectionResult:
    image: np.ndarray  # float32 (S, S)
    mag: float = math.nan
    snr: float = math.nan
    trail_length_px: float = math.nan
    trail_angle_deg: float = math.nan
    blank_fraction: float = 0.0


def _detector_artefact(
    kind: str,
    shape: tuple[int, ...],
    geometry: CutoutGeometry,
    settings: InjectionSettings,
    rng: np.random.Generator,
    sigma: float,
) -> tuple[np.ndarray, float, float]:
    """A cosmic ray, hot pixel or hot column near the cutout's target position.

    Returns the artefact image and, for cosmic rays, the track length (px) and angle (deg).
    The peak is ``artefact_peak_sigma`` times the sky noise ``sigma``.
    """
    peak = float(rng.uniform(*settings.artefact_peak_sigma)) * (sigma if sigma > 0 else 1.0)
    cx = int(np.clip(round(geometry.x), 0, shape[1] - 1))
    cy = int(np.clip(round(geometry.y), 0, shape[0] - 1))
    if kind == "cosmic_ray":
        length = float(rng.uniform(*settings.cosmic_ray_length_px))
        angle = float(rng.uniform(0.0, 180.0))
        x0 = geometry.x + float(rng.uniform(-1.0, 1.0))
        y0 = geometry.y + float(rng.uniform(-1.0, 1.0))
        return cosmic_ray(shape, x0, y0, length, angle, peak), length, angle
    if kind == "hot_pixel":
        x = int(np.clip(cx + rng.integers(-1, 2), 0, shape[1] - 1))
        y = int(np.clip(cy + rng.integers(-1, 2), 0, shape[0] - 1))
        return hot_pixel(shape, x, y, peak), math.nan, math.nan
    # A column defect is fainter per pixel than a hot pixel but spans the cutout.
    x = int(np.clip(cx + rng.integers(-2, 3), 0, shape[1] - 1))
    return hot_column(shape, x, peak / 4.0), math.nan, math.nan


def inject_sample(
    cutout: np.ndarray,
    geometry: CutoutGeometry,
    kind: str,
    settings: InjectionSettings,
    rng: np.random.Generator,
    v_mag: float = math.nan,
    rate_arcsec_min: float = math.nan,
    pa_deg: float = math.nan,
    sky: tuple[np.ndarray, float, float] | None = None,
    trail: tuple[float, float, int, int, np.ndarray] | None = None,
) -> InjectionResult:
    """Inject one sample of ``kind`` into ``cutout`` (``asteroid`` or a negative kind).

    Blank pixels are first filled with the cutout's median; the sky noise
    (robust MAD of the finite pixels) sets the SNR and the artefact amplitudes.
    ``sky``: ``(filled, blank_fraction, sky_sigma)`` when already computed for a
    batch (:func:`asteroid_ml.dataset.injection.sky_statistics`); ``trail``:
    ``(dx, dy, x_lo, y_lo, stamp)`` of an asteroid already rendered in a batch
    (:func:`asteroid_trails`). ``rng`` is not used for ``kind='empty'`` (may be ``None``).
    """
    if sky is None:
        stack, fractions, sigmas = sky_statistics(np.asarray(cutout)[None])
        filled, blank_fraction, sigma = stack[0], float(fractions[0]), float(sigmas[0])
    else:
        filled, blank_fraction, sigma = sky
    shape = filled.shape
    psf = PSF(
        settings.psf_model,
        settings.psf_fwhm_arcsec / geometry.pixel_scale_arcsec,
        settings.moffat_beta,
    )
    result = InjectionResult(image=filled, blank_fraction=blank_fraction)
    if kind == "asteroid":
        mag = float(v_mag) + settings.depth_offset_mag
        if trail is None:
            length_arcsec = float(rate_arcsec_min) * settings.exposure_s / 60.0
            dx, dy = sky_motion_to_pixels(geometry.cd, float(pa_deg), length_arcsec)
            slices, profile = render_trail_stamp(shape, geometry.x, geometry.y, dx, dy, psf)
        else:
            dx, dy, x_lo, y_lo, stamp = trail
            slices, profile = place_stamp(shape, x_lo, y_lo, stamp)
        expected = float(flux_from_mag(mag, settings.zero_point_mag)) * profile
        result.image = filled.copy()
        result.image[slices] += poisson_realisation(expected, settings.gain, rng)
        result.mag = mag
        result.snr = optimal_snr(expected, sigma, settings.gain)
        result.trail_length_px = math.hypot(dx, dy)
        result.trail_angle_deg = trail_angle_deg(dx, dy)
    elif kind == "bright_star":
        # Photographic plates: a bright star is a saturated disc larger than the PSF.
        mag = float(rng.uniform(*settings.bright_star_mag))
        grown = psf.scaled(float(rng.uniform(*settings.bright_star_growth)))
        expected = flux_from_mag(mag, settings.zero_point_mag) * render_trail(
            shape, geometry.x, geometry.y, 0.0, 0.0, grown
        )
        summed = filled + poisson_realisation(expected, settings.gain, rng)
        result.image = np.minimum(summed, np.maximum(settings.saturation_counts, filled))
        result.mag = mag
        result.snr = optimal_snr(result.image - filled, sigma, None)
    elif kind in ("cosmic_ray", "hot_pixel", "hot_column"):
        artefact, length, angle = _detector_artefact(kind, shape, geometry, settings, rng, sigma)
        if kind == "cosmic_ray":
            result.trail_length_px, result.trail_angle_deg = length, angle
        result.image = filled + artefact
        result.snr = optimal_snr(artefact, sigma, None)
    elif kind != "empty":
        raise ValueError(f"unknown sample kind {kind!r}")
    result.image = result.image.astype(np.float32)
    return result


def asteroid_trails(
    chunk: np.ndarray,
    geometries: Sequence[CutoutGeometry],
    kind_of: np.ndarray,
    rate_arcsec_min: np.ndarray,
    pa_deg: np.ndarray,
    settings: InjectionSettings,
) -> dict[int, tuple[float, float, int, int, np.ndarray]]:
    """Trail vectors and unit-flux stamps of the asteroids of a chunk (Gaussian PSF only).

    ``chunk``: sample ids; ``geometries``: their geometries (same order);
    ``kind_of``, ``rate_arcsec_min``, ``pa_deg``: indexed by sample id. Returns
    ``{position in chunk: (dx, dy, x_lo, y_lo, stamp)}``. Rendering many sources
    at once amortises NumPy's per-call cost; each source's stamp does not depend
    on the others (see :func:`asteroid_ml.dataset.injection.gaussian_trail_stamps`).
    """
    positions = [j for j, t in enumerate(chunk.tolist()) if kind_of[t] == "asteroid"]
    if settings.psf_model != "gaussian" or not positions:
        return {}
    x0, y0, dx, dy, sigma = (np.empty(len(positions)) for _ in range(5))
    for i, j in enumerate(positions):
        g, t = geometries[j], int(chunk[j])
        length_arcsec = float(rate_arcsec_min[t]) * settings.exposure_s / 60.0
        dx[i], dy[i] = sky_motion_to_pixels(g.cd, float(pa_deg[t]), length_arcsec)
        x0[i], y0[i] = g.x, g.y
        sigma[i] = settings.psf_fwhm_arcsec / g.pixel_scale_arcsec / GAUSSIAN_FWHM_PER_SIGMA
    stamps = gaussian_trail_stamps(x0, y0, dx, dy, sigma)
    return {j: (float(dx[i]), float(dy[i]), *stamps[i]) for i, j in enumerate(positions)}
