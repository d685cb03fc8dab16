"""Fake movers injected into real frames, the way DES measured autoScan (Goldstein et al.
2015): the frame's own PSF, magnitudes around its own limit, rates of the simulated
population.

Fakes go into the registered science frame only; its template (the median of the other
frames, as taken) stays clean, as a survey's template from other nights is. Positions are
on the registration frame's grid at each frame's mid-exposure time; a fake trails by its
rate x the exposure. Its magnitude is constant along its track (instrumental, on the
registration frame's photometric scale), so a frame through cloud sees it fainter, as it
would a real asteroid. Shot noise of the fake's own counts is added with the header's gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sep
from scipy import ndimage

from asteroid_ml.detection.candidates import gaussian_kernel
from asteroid_ml.frames.night import Night

#: PSF model side in FWHM, and the fewest stars an empirical PSF is built from (else a
#: Gaussian of the measured FWHM).
PSF_SIDE_FWHM = 6.0
MIN_PSF_STARS = 5
#: Fakes pass points at least this many FWHM apart (two fakes must not blend).
FAKE_SEPARATION_FWHM = 4.0
#: Gain (e- per ADU) when the header gives none (EGAIN or GAIN).
DEFAULT_GAIN = 1.0


def empirical_psf(image: np.ndarray, saturated: np.ndarray, fwhm_px: float) -> np.ndarray:
    """The frame's PSF (normalised to sum 1; odd side of ~6 FWHM): the median of its
    bright (>= 30 sigma), unsaturated, isolated stars, each shifted to the centre."""
    side = int(np.clip(round(PSF_SIDE_FWHM * fwhm_px) // 2 * 2 + 1, 11, 41))
    half = side // 2
    data = np.ascontiguousarray(np.nan_to_num(image), dtype=np.float64)
    background = sep.Background(data)
    found = sep.extract(data, 30.0, err=background.globalrms, minarea=5)
    ny, nx = data.shape
    x, y = found["x"], found["y"]
    inside = (x > side) & (x < nx - side - 1) & (y > side) & (y < ny - side - 1)
    ix, iy = np.round(x).astype(int), np.round(y).astype(int)
    clean = inside & ~saturated[np.clip(iy, 0, ny - 1), np.clip(ix, 0, nx - 1)]
    if len(found) > 1:
        from scipy.spatial import cKDTree

        distance, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
        clean &= distance[:, 1] > side
    stamps = []
    for i in np.flatnonzero(clean):
        cut = data[iy[i] - half - 1 : iy[i] + half + 2, ix[i] - half - 1 : ix[i] + half + 2]
        if not np.isfinite(
            image[iy[i] - half : iy[i] + half + 1, ix[i] - half : ix[i] + half + 1]
        ).all():
            continue
        centred = ndimage.shift(cut, (iy[i] - y[i], ix[i] - x[i]), order=3, mode="nearest")[
            1:-1, 1:-1
        ]
        total = centred.sum()
        if total > 0:
            stamps.append(centred / total)
    if len(stamps) < MIN_PSF_STARS:
        psf = np.zeros((side, side))
        kernel = gaussian_kernel(fwhm_px / 2.3548)
        k = min(kernel.shape[0], side) // 2
        c = kernel.shape[0] // 2
        psf[half - k : half + k + 1, half - k : half + k + 1] = kernel[
            c - k : c + k + 1, c - k : c + k + 1
        ]
    else:
        psf = np.clip(np.median(np.stack(stamps), axis=0), 0.0, None)
    return psf / psf.sum()


def render(psf: np.ndarray, x: float, y: float, flux: float, trail: tuple[float, float],
           shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:  # fmt: skip
    """A fake of ``flux`` counts centred at (x, y), trailed by ``trail`` (dx, dy px over the
    exposure): the PSF averaged over points along the trail. Returns (slices, image)."""
    length = math.hypot(*trail)
    n = max(1, int(math.ceil(2 * length)))
    offsets = (np.arange(n) + 0.5) / n - 0.5
    half = psf.shape[0] // 2
    pad = int(math.ceil(length / 2)) + 2
    size = psf.shape[0] + 2 * pad
    cx, cy = int(round(x)), int(round(y))
    out = np.zeros((size, size))
    for f in offsets:
        px, py = x + f * trail[0] - cx, y + f * trail[1] - cy
        placed = np.zeros((size, size))
        placed[pad : pad + 2 * half + 1, pad : pad + 2 * half + 1] = psf
        out += ndimage.shift(placed, (py, px), order=3, mode="constant")
    out *= flux / n
    y0, x0 = cy - half - pad, cx - half - pad
    ny, nx = shape
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y0 + size, ny), min(x0 + size, nx)
    if sy1 <= sy0 or sx1 <= sx0:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0))
    return (slice(sy0, sy1), slice(sx0, sx1)), out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]


def matched_response(psf: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The correlation of a frame's PSF with its matched-filter kernel: what
    :func:`limit_flux` samples along a trail (one per frame, not one per fake)."""
    from scipy import signal

    return signal.correlate(psf, kernel, mode="full")


def limit_flux(
    psf: np.ndarray, kernel: np.ndarray, noise: float, noise_ratio: float, snr: float,
    trail: tuple[float, float] = (0.0, 0.0), response: np.ndarray | None = None,
) -> float:  # fmt: skip
    """Flux (counts) of a source that the detection step finds at exactly ``snr``: sep's
    matched filter ``kernel`` on a difference of per-pixel noise ``noise`` whose filtered
    noise is ``noise_ratio`` times that of white noise
    (:func:`~asteroid_ml.detection.candidates.filtered_noise_ratio`), for a source of shape
    ``psf`` trailed by ``trail`` (px): F = snr noise ratio sqrt(sum K^2) / sum(T K), with
    T the trailed PSF centred on the kernel. A trailed source spreads its flux beyond the
    kernel, so its limit is brighter than a point source's (trailing loss). ``response``:
    :func:`matched_response` of ``psf`` and ``kernel``, when already computed."""
    correlation = matched_response(psf, kernel) if response is None else response
    centre = (np.array(correlation.shape) - 1) / 2.0
    length = math.hypot(*trail)
    n = max(1, int(math.ceil(2 * length)))
    f = (np.arange(n) + 0.5) / n - 0.5
    coords = [centre[0] + f * trail[1], centre[1] + f * trail[0]]
    overlap = float(np.mean(ndimage.map_coordinates(correlation, coords, order=1)))
    return snr * noise * noise_ratio * math.sqrt(float(np.sum(kernel * kernel))) / overlap


def gain(header) -> float:
    """e- per ADU from EGAIN or GAIN, else :data:`DEFAULT_GAIN`."""
    for key in ("EGAIN", "GAIN"):
        try:
            value = float(header[key])
        except (KeyError, TypeError, ValueError):
            continue
        if value > 0:
            return value
    return DEFAULT_GAIN


@dataclass(frozen=True)
class FakeSettings:
    movers: int
    mag_below_limit: float
    mag_above_limit: float


def draw_movers(
    night: Night, limit_mag: float, rates: np.ndarray, settings: FakeSettings,
    rng: np.random.Generator,
) -> pd.DataFrame:  # fmt: skip
    """Movers on the grid: each passes a point drawn uniformly over the grid at a time drawn
    uniformly over the night, with a rate (arcsec per min) from the population, a uniform
    direction, and an instrumental magnitude uniform within [limit - mag_below_limit, limit +
    mag_above_limit] of ``limit_mag``. The points are at least :data:`FAKE_SEPARATION_FWHM`
    FWHM apart, so that two fakes do not blend into one candidate (a slow mover stays near
    its point all night); fewer movers are drawn when the grid holds no more."""
    ny, nx = night.registered.shape[1:]
    n = settings.movers
    separation = FAKE_SEPARATION_FWHM * night.fwhm_px
    candidates = np.column_stack([rng.uniform(0, nx, 20 * n), rng.uniform(0, ny, 20 * n)])
    points: list[np.ndarray] = []
    for point in candidates:
        if all(np.hypot(*(point - p)) >= separation for p in points):
            points.append(point)
            if len(points) == n:
                break
    n = len(points)
    xm, ym = np.array(points).T if n else (np.zeros(0), np.zeros(0))
    rate = rng.choice(rates, n)
    angle = rng.uniform(0, 2 * math.pi, n)
    speed = rate / night.pixel_scale_arcsec
    when = rng.uniform(0, 1, n) * float(night.t_min[-1])
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    return pd.DataFrame({
        "mover": np.arange(n), "x0": xm - vx * when, "y0": ym - vy * when, "vx": vx, "vy": vy,
        "rate_arcsec_min": rate,
        "mag": rng.uniform(limit_mag - settings.mag_below_limit, limit_mag + settings.mag_above_limit, n),
    })  # fmt: skip


def positions(night: Night, movers: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each mover at frame ``k``'s mid-exposure: x, y (grid px), flux (frame ``k``'s counts)
    and its trail over the exposure (px)."""
    t = float(night.t_min[k])
    minutes = night.frames[k].exptime_s / 60.0
    return movers.assign(
        x=movers["x0"] + movers["vx"] * t, y=movers["y0"] + movers["vy"] * t,
        flux=10.0 ** (-0.4 * movers["mag"]) / night.scales[k],
        trail_x=movers["vx"] * minutes, trail_y=movers["vy"] * minutes, epoch=k,
    )  # fmt: skip


def inject(night: Night, k: int, fakes: pd.DataFrame, psf: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Frame ``k`` (registered) with ``fakes`` added, each with its own shot noise."""
    science = night.registered[k].astype(np.float64)
    shape = science.shape
    g = gain(night.frames[k].header)
    for row in fakes.itertuples():
        where, image = render(psf, row.x, row.y, row.flux, (row.trail_x, row.trail_y), shape)
        if image.size:
            noisy = image + rng.normal(0.0, 1.0, image.shape) * np.sqrt(np.clip(image, 0, None) / g)
            science[where] += noisy
    return science
