"""Science epochs of one field, made from a real reference cutout.

Each epoch is the reference sky seen again: convolved to a worse seeing (so the difference
needs PSF matching), shifted by a small pointing error, with fresh noise (the sky's and the
sources' own shot noise), the mover at its position at that epoch (trailed over the
exposure), and the things that happen in single frames: cosmic rays, satellite streaks,
variable stars; hot pixels and a hot column stay at the same detector pixels in every
epoch. Sky pixels above the full well saturate and their charge bleeds along the column. Every
injected thing is a row of the truth table, which labels the candidates later.

The template the pipeline subtracts (:func:`make_template`) is the reference with noise of
its own, as a co-add of ``template_exposures`` exposures has: the plate's grain is the sky's
texture, seen the same way by the template and every epoch.

Pixel coordinates are 0-based (x = column, y = row) in the frame of the epoch's image; the
sky moves by the epoch's ``offset`` relative to the reference frame (sky position in the
reference frame + offset = pixel in the epoch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from asteroid_ml.dataset.injection import PSF, cosmic_ray, hot_column, hot_pixel, render_trail
from asteroid_ml.detection.survey_model import SurveyModel

#: Kinds of injected things; "mover" is the real class, every other kind is bogus.
MOVER = "mover"
BOGUS_KINDS = ("cosmic_ray", "hot_pixel", "hot_column", "satellite", "variable_star")


@dataclass(frozen=True)
class Mover:
    """A simulated asteroid in one field: reference-frame position at the first epoch's
    mid-exposure (px), motion (px per minute) and magnitude; ``object_id`` ties it to the
    population (its rate and position angle come from the ephemerides)."""

    object_id: str
    x0: float
    y0: float
    vx: float
    vy: float
    mag: float


@dataclass(frozen=True)
class ArtefactRates:
    """How often single-frame and detector artefacts occur: the ``detection.artefacts``
    config section (units and meaning there; a per-survey choice, not physics)."""

    cosmic_rays_per_epoch: float
    satellite_per_epoch: float
    hot_pixels_per_field: float
    hot_column_per_field: float
    variable_star_fraction: float
    variable_amplitude_mag: float
    peak_sigma: tuple[float, float]
    diffuse_fraction: float

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ArtefactRates:
        """From the validated ``detection.artefacts`` section."""
        values = dict(section)
        values["peak_sigma"] = tuple(float(v) for v in values["peak_sigma"])
        return cls(**values)


@dataclass
class FieldEpochs:
    """The epochs of one field: science images, their true seeing ratio and offset, the truth."""

    reference: np.ndarray
    science: list[np.ndarray]
    seeing_ratio: list[float]
    offset: list[tuple[float, float]]
    times_min: list[float]
    truth: pd.DataFrame = field(default_factory=pd.DataFrame)
    saturated: list[np.ndarray] = field(default_factory=list)


def effective_gain(background: float, sky_sigma: float) -> float:
    """Electrons per count (e-/count) of a sky-limited exposure whose sky level is
    ``background`` counts and whose sky noise is ``sky_sigma`` counts: the sky's variance is
    its own shot noise, background / gain = sky_sigma^2. Infinite (no source shot noise) for a
    sky-subtracted image (background <= 0)."""
    return background / sky_sigma**2 if background > 0 else float("inf")


def shot_noise_sigma(signal: np.ndarray, sky_sigma: float, gain: float) -> np.ndarray:
    """Per-pixel noise (counts) of an exposure whose sources add ``signal`` counts above the
    sky: sqrt(sky_sigma^2 + signal / gain)."""
    return np.sqrt(sky_sigma**2 + np.clip(signal, 0.0, None) / gain)


def saturate(image: np.ndarray, full_well: float) -> np.ndarray:
    """``image`` (counts, sky included) read out by a CCD whose pixels hold ``full_well``:
    the charge above it in each column's saturated run spills into the pixels above and
    below in turn, filling each to the full well, as a bleed trail does. Charge is kept
    (up to the column's ends). Returns a new array."""
    out = np.array(image, dtype=np.float64, copy=True)
    if not np.isfinite(full_well) or not (out > full_well).any():
        return out
    ny = out.shape[0]
    for col in np.flatnonzero((out > full_well).any(axis=0)):
        column = out[:, col]
        over = column > full_well
        # each run of saturated pixels: its excess bleeds from both of its ends
        edges = np.flatnonzero(np.diff(np.concatenate([[0], over.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            excess = float(np.sum(column[start:stop] - full_well))
            column[start:stop] = np.minimum(column[start:stop], full_well)
            low, high = start - 1, stop
            while excess > 0 and (low >= 0 or high < ny):
                targets = [j for j in (low, high) if 0 <= j < ny]
                share = excess / len(targets)
                for j in targets:
                    take = min(max(full_well - column[j], 0.0), share)
                    column[j] += take
                    excess -= take
                low, high = low - 1, high + 1
        out[:, col] = column
    return out


def make_template(
    reference: np.ndarray, model: SurveyModel, rng: np.random.Generator
) -> np.ndarray:
    """The template of a field: the reference (counts, sky included) with the noise of a
    co-add of ``model.template_exposures`` exposures, each with the sky's and the sources'
    shot noise of one epoch (:func:`effective_gain`), and clipped at the full well."""
    background = float(np.median(reference))
    gain = effective_gain(background, model.sky_sigma)
    sigma = shot_noise_sigma(reference - background, model.sky_sigma, gain)
    noisy = reference + rng.normal(0.0, 1.0, reference.shape) * sigma / math.sqrt(
        model.template_exposures
    )
    return np.minimum(noisy, model.saturation_counts)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved by (dx, dy) pixels (cubic spline; edges repeat)."""
    return ndimage.shift(image, (dy, dx), order=3, mode="nearest")


def _seen(image: np.ndarray, kernel: tuple[float, float], dx: float, dy: float) -> np.ndarray:
    """``image`` (reference frame and PSF) through an epoch's atmosphere (Gaussian ``kernel``
    sigmas along x, y) and pointing (shift dx, dy)."""
    return _shift(ndimage.gaussian_filter(image, (kernel[1], kernel[0])), dx, dy)


def simulate_epochs(
    reference: np.ndarray,
    model: SurveyModel,
    movers: list[Mover],
    rates: ArtefactRates,
    rng: np.random.Generator,
    stars: pd.DataFrame | None = None,
) -> FieldEpochs:
    """The ``model.n_epochs`` science epochs of the field whose reference is ``reference``.

    ``stars`` (columns x, y, flux: sources of the reference, from sep) are the candidates
    for variable stars. Random draws come from ``rng`` only, in a fixed order.
    """
    shape = reference.shape
    ny, nx = shape
    background = float(np.median(reference))
    gain = effective_gain(background, model.sky_sigma)
    sky = reference - background
    hot = _hot_pixels(shape, model, rates, rng)
    variable = pd.DataFrame(columns=["x", "y", "flux"])
    if stars is not None and len(stars):
        pick = rng.random(len(stars)) < rates.variable_star_fraction
        variable = stars.loc[pick, ["x", "y", "flux"]].reset_index(drop=True)
    out = FieldEpochs(reference=reference, science=[], seeing_ratio=[], offset=[], times_min=[])
    rows: list[dict] = []
    ref_psf = PSF("gaussian", model.fwhm_px)
    for e in range(model.n_epochs):
        t = e * model.cadence_min
        ratio = float(rng.uniform(*model.seeing_ratio))
        # An elongated PSF (tracking, wind shake): the ratio differs along x and y, by up to
        # model.elongation_max; the pipeline matches a round kernel, so stars leave residuals.
        stretch = float(rng.uniform(0.0, model.elongation_max))
        ratios = (ratio * (1.0 + stretch / 2), ratio * (1.0 - stretch / 2))
        if rng.random() < 0.5:
            ratios = ratios[::-1]
        ratios = tuple(max(r, 1.0) for r in ratios)
        kernel = tuple(model.sigma_px * math.sqrt(r * r - 1.0) for r in ratios)  # (x, y)
        dx, dy = (float(v) for v in rng.normal(0.0, model.astrometric_sigma_px, 2))
        # Everything astrophysical is drawn at the reference PSF, in the reference frame,
        # then seen through this epoch's atmosphere (kernel) and pointing (shift).
        astro = sky.copy()
        for _, star in variable.iterrows():
            delta = 10.0 ** (-0.4 * rng.uniform(-1, 1) * rates.variable_amplitude_mag) - 1.0
            astro += delta * star.flux * render_trail(shape, star.x, star.y, 0.0, 0.0, ref_psf)
            rows.append(dict(epoch=e, kind="variable_star", x=star.x + dx, y=star.y + dy,
                             mag=np.nan, object_id=""))  # fmt: skip
        for m in movers:
            x, y = m.x0 + m.vx * t, m.y0 + m.vy * t
            trail_x, trail_y = m.vx * model.exposure_s / 60.0, m.vy * model.exposure_s / 60.0
            astro += model.flux(m.mag) * render_trail(shape, x, y, trail_x, trail_y, ref_psf)
            rows.append(
                dict(epoch=e, kind=MOVER, x=x + dx, y=y + dy, mag=m.mag, object_id=m.object_id)
            )
        streak = None
        if rng.random() < rates.satellite_per_epoch:
            streak = np.zeros(shape)
            rows.append(_satellite(streak, ref_psf, model, rates, rng, e, (dx, dy)))

        # The sky's sources saturate at the full well and bleed. The single-frame artefacts do
        # not: a satellite glint or a cosmic ray deposits ~10^3-10^4 e-, far below a CCD's
        # ~10^5 e- full well, a ratio that this plate's counts (saturating ~20 sky sigmas
        # above the sky) cannot hold; saturating them would mask most of them.
        image = (
            saturate(_seen(astro, kernel, dx, dy) + background, model.saturation_counts)
            - background
        )
        saturated = image + background >= model.saturation_counts
        if streak is not None:
            image += _seen(streak, kernel, dx, dy)
        for _ in range(rng.poisson(rates.cosmic_rays_per_epoch)):
            rows.append(_cosmic_ray(image, model, rates, rng, e))
        for kind, x, y, _, img in hot:
            image += img
            rows.append(dict(epoch=e, kind=kind, x=x, y=y, mag=np.nan, object_id=""))
        image += rng.normal(0.0, 1.0, shape) * shot_noise_sigma(image, model.sky_sigma, gain)
        image[saturated] = model.saturation_counts - background  # a full pixel reads full
        out.saturated.append(saturated)
        out.science.append((image + background).astype(np.float32))
        out.seeing_ratio.append(float(np.sqrt(ratios[0] * ratios[1])))
        out.offset.append((dx, dy))
        out.times_min.append(t)
    out.truth = pd.DataFrame(rows, columns=["epoch", "kind", "x", "y", "mag", "object_id"])
    return out


def _cosmic_ray(
    image: np.ndarray, model: SurveyModel, rates: ArtefactRates, rng: np.random.Generator,
    epoch: int,
) -> dict:  # fmt: skip
    """Add one cosmic ray: a sharp track, or (``rates.diffuse_fraction`` of them) a hit whose
    charge spread in the silicon, a blob up to the PSF's size: in one epoch it looks like
    an asteroid's detection, which only the other epochs can tell apart."""
    ny, nx = image.shape
    x, y = rng.uniform(0, nx - 1), rng.uniform(0, ny - 1)
    peak = rng.uniform(*rates.peak_sigma) * model.sky_sigma
    track = cosmic_ray(image.shape, x, y, rng.uniform(0.5, 6), rng.uniform(0, 180), 1.0)
    if rng.random() < rates.diffuse_fraction:
        track = ndimage.gaussian_filter(track, rng.uniform(0.4, 1.0) * model.sigma_px)
    image += peak * track / max(track.max(), 1e-12)
    return dict(epoch=epoch, kind="cosmic_ray", x=x, y=y, mag=np.nan, object_id="")


def _hot_pixels(
    shape: tuple[int, int], model: SurveyModel, rates: ArtefactRates, rng: np.random.Generator
) -> list[tuple[str, float, float, float, np.ndarray]]:
    """Detector defects of this field: the same pixels in every epoch."""
    ny, nx = shape
    found = []
    for _ in range(rng.poisson(rates.hot_pixels_per_field)):
        x, y = int(rng.integers(0, nx)), int(rng.integers(0, ny))
        peak = rng.uniform(*rates.peak_sigma) * model.sky_sigma
        found.append(("hot_pixel", float(x), float(y), peak, hot_pixel(shape, x, y, peak)))
    if rng.random() < rates.hot_column_per_field:
        x = int(rng.integers(0, nx))
        level = rng.uniform(3.0, 8.0) * model.sky_sigma
        found.append(("hot_column", float(x), np.nan, level, hot_column(shape, x, level)))
    return found


def _satellite(
    astro: np.ndarray, psf: PSF, model: SurveyModel, rates: ArtefactRates,
    rng: np.random.Generator, epoch: int, offset: tuple[float, float],
) -> dict:  # fmt: skip
    """Add a satellite streak across the whole field (reference frame, reference PSF); its
    truth row carries the line's centre in the epoch frame and its angle (radians, as text
    in ``object_id``) for labelling."""
    ny, nx = astro.shape
    x, y = rng.uniform(0, nx - 1), rng.uniform(0, ny - 1)
    angle = rng.uniform(0, math.pi)
    length = 3.0 * max(nx, ny)
    peak = rng.uniform(*rates.peak_sigma) * model.sky_sigma
    flux = peak * math.sqrt(2 * math.pi) * model.sigma_px * length  # line density x length
    astro += flux * render_trail(
        astro.shape, x, y, length * math.cos(angle), length * math.sin(angle), psf
    )
    return dict(epoch=epoch, kind="satellite", x=x + offset[0], y=y + offset[1], mag=np.nan,
                object_id=f"{angle:.6f}")  # fmt: skip
