"""Difference images and candidates of a prepared night, with the detection stage's code.

Each frame is differenced against a *template*: the median of the other registered
frames (the ``reference_frames`` with the lowest noise on a common photometric scale), put
on the frame's own photometric scale. PSF matching, sep detection, stamp triplets and
features are :mod:`asteroid_ml.detection`'s, so a classifier trained on the simulated
epochs reads real candidates exactly as it read simulated ones. Candidates within half a
stamp of where the frame or its template has no data, or on the grown mask of saturated
stars, are *masked*: counted apart, as surveys do with their bad-pixel masks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import sep
from scipy import ndimage

from asteroid_ml.detection.candidates import (
    STAMP,
    detect,
    features,
    filtered_noise_ratio,
    gaussian_kernel,
    triplets,
)
from asteroid_ml.detection.difference import Difference, difference_image, sources
from asteroid_ml.detection.survey_model import SurveyModel
from asteroid_ml.frames.night import Night, psf_fwhm_px

#: Masking reasons of a candidate ("" = kept).
EDGE, SATURATED = "edge", "saturated"


@dataclass(frozen=True)
class DifferenceSettings:
    """``reference_frames``: how many other frames the template's median takes (0 = all);
    ``snr_threshold``: sep's threshold on the matched-filtered difference (sigma);
    ``limit_mag``: the training survey's 5-sigma limit, to put the forest's magnitudes on
    its scale (:data:`asteroid_ml.detection.saved.FOREST_INPUT`)."""

    reference_frames: int
    snr_threshold: float
    limit_mag: float = 20.0


def make_templates(night: Night, settings: DifferenceSettings) -> list[Template]:
    """Every frame's template (movers and other transients masked out of it). With every
    other frame in it (``reference_frames`` 0 or at least the other frames), the medians
    come from one sort of the night (:func:`leave_one_out_medians`)."""
    masks = transient_masks(night, settings.snr_threshold)
    n = len(night.frames)
    if 0 < settings.reference_frames < n - 1:
        return [make_template(night, k, settings, masks) for k in range(n)]
    scaled = night.registered * night.scales[:, None, None].astype(np.float32)
    coverage = np.isfinite(scaled).sum(axis=0)
    scaled[masks] = np.nan
    templates = []
    for k, median in enumerate(leave_one_out_medians(scaled)):
        others = coverage - np.isfinite(night.registered[k])
        templates.append(_template(median / night.scales[k], others * 2 < n - 1))
    return templates


def leave_one_out_medians(stack: np.ndarray):
    """For each layer k of ``stack`` (n, ny, nx; NaN = no value), the NaN-ignoring median of
    the other layers, as ``np.nanmedian(stack[others], axis=0)`` (the mean of the two middle
    values for an even count), from one sort: a layer's value leaves the sorted column
    and the middle indices step over it."""
    n = stack.shape[0]
    order = np.argsort(stack, axis=0, kind="stable")  # NaN last
    ordered = np.take_along_axis(stack, order, axis=0)
    valid = np.isfinite(stack).sum(axis=0)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[:, None, None], axis=0)
    for k in range(n):
        mine = np.isfinite(stack[k])
        m = valid - mine  # values left
        lo, hi = (m - 1) // 2, m // 2
        r = np.where(mine, rank[k], n)  # a missing value leaves nothing to step over
        lo_i = np.clip(lo + (lo >= r), 0, n - 1)
        hi_i = np.clip(hi + (hi >= r), 0, n - 1)
        a = np.take_along_axis(ordered, lo_i[None], axis=0)[0]
        b = np.take_along_axis(ordered, hi_i[None], axis=0)[0]
        median = (a + b) / 2
        median[m == 0] = np.nan
        yield median


def template_frames(night: Night, k: int, n: int) -> list[int]:
    """The frames of frame ``k``'s template: the other frames, the ``n`` with the lowest sky
    noise on the registration frame's photometric scale (all for ``n`` = 0)."""
    noise = night.sky_rms * night.scales
    others = sorted((i for i in range(len(night.frames)) if i != k), key=lambda i: (noise[i], i))
    return [int(i) for i in (others if n <= 0 else others[:n])]


def transient_masks(night: Night, snr: float) -> np.ndarray:
    """Per frame, the pixels within one FWHM of a positive source of that frame that the
    night's median does not have (a mover, a cosmic ray): kept out of every template, so a
    slow mover, which lingers near one place for several frames, does not enter the median
    that is subtracted from it. Sources are found by sep on frame minus night median, on
    the registration frame's photometric scale."""
    scaled = night.registered * night.scales[:, None, None].astype(np.float32)
    median = np.nanmedian(scaled, axis=0)
    radius = max(1, int(round(night.fwhm_px)))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = xx * xx + yy * yy <= radius * radius
    masks = np.zeros(night.registered.shape, bool)
    for k in range(len(night.frames)):
        residual = np.ascontiguousarray(np.nan_to_num(scaled[k] - median), dtype=np.float64)
        err = float(night.sky_rms[k] * night.scales[k])
        found = sep.extract(residual, snr, err=err, minarea=3)
        seeds = np.zeros(masks.shape[1:], bool)
        iy = np.clip(np.round(found["y"]).astype(int), 0, seeds.shape[0] - 1)
        ix = np.clip(np.round(found["x"]).astype(int), 0, seeds.shape[1] - 1)
        seeds[iy, ix] = True
        masks[k] = ndimage.binary_dilation(seeds, structure=disk)
    return masks


@dataclass
class Template:
    """Frame ``k``'s template: the median image on frame ``k``'s photometric scale (NaN
    where fewer than half of its frames reach), its stars and PSF FWHM (px)."""

    image: np.ndarray
    stars: pd.DataFrame
    fwhm_px: float


def make_template(
    night: Night, k: int, settings: DifferenceSettings, masks: np.ndarray
) -> Template:
    """The template of frame ``k`` from :func:`template_frames`, ``masks`` (per frame: pixels
    left out, :func:`transient_masks`) applied."""
    chosen = template_frames(night, k, settings.reference_frames)
    stack = night.registered[chosen] * night.scales[chosen, None, None].astype(np.float32)
    coverage = np.isfinite(stack).sum(axis=0)
    stack[masks[chosen]] = np.nan
    median = np.nanmedian(stack, axis=0) / night.scales[k]
    return _template(median, coverage * 2 < len(chosen))


def _template(median: np.ndarray, uncovered: np.ndarray) -> Template:
    """A template from its median image, NaN where ``uncovered``."""
    median[uncovered] = np.nan
    filled = np.nan_to_num(median).astype(np.float64)
    return Template(median, sources(filled), psf_fwhm_px(filled))


def survey_model(night: Night, k: int, fwhm_px: float, settings: DifferenceSettings) -> SurveyModel:
    """Frame ``k`` as a :class:`SurveyModel`: its template's PSF, its sky noise, and a zero
    point that puts its 5-sigma limit at ``settings.limit_mag``."""
    frame = night.frames[k]
    model = SurveyModel(
        pixel_scale_arcsec=night.pixel_scale_arcsec, fwhm_arcsec=fwhm_px * night.pixel_scale_arcsec,
        zero_point_mag=0.0, sky_sigma=float(night.sky_rms[k]), exposure_s=frame.exptime_s,
        cadence_min=float(np.median(np.diff(night.t_min))) if len(night.frames) > 1 else 1.0,
        n_epochs=len(night.frames), snr_threshold=settings.snr_threshold,
        # a real frame's seeing, shape and offset are measured, not drawn: the simulation's
        # ranges do not apply (only the limit and the PSF are read from this model)
        seeing_ratio=(1.0, 1.0), elongation_max=0.0, astrometric_sigma_px=0.0,
        template_exposures=max(len(night.frames) - 1, 1), saturation_counts=float("inf"),
        saturation_grow_px=0.0,
        solution_astrometric_sigma_px=0.0, solution_seeing_frac=0.0,
    )  # fmt: skip
    offset = settings.limit_mag - model.limiting_magnitude(seeing_ratio=1.0)
    return replace(model, zero_point_mag=offset)


@dataclass
class FrameDifference:
    """One frame's difference, its survey model, and the pixels where both images have data."""

    difference: Difference
    model: SurveyModel
    valid: np.ndarray


def difference_frame(
    night: Night, k: int, settings: DifferenceSettings, template: Template,
    science: np.ndarray | None = None,
) -> FrameDifference:  # fmt: skip
    """Frame ``k`` (or ``science``, the same frame with something added) minus its template,
    PSF-matched either way (:func:`~asteroid_ml.detection.difference.difference_image`)."""
    sci = night.registered[k] if science is None else science
    valid = np.isfinite(template.image) & np.isfinite(sci)
    ref = np.where(valid, template.image, 0.0).astype(np.float64)
    sci = np.where(valid, sci, 0.0).astype(np.float64)
    model = survey_model(night, k, template.fwhm_px, settings)
    diff = difference_image(ref, sci, model, template.stars, blur_sharper_science=True)
    return FrameDifference(diff, model, valid)


def mask_reasons(night: Night, valid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Why each position is masked: :data:`EDGE` (within half a stamp of pixels without
    data), :data:`SATURATED` (on a saturated star's grown mask), or ""."""
    edge = ndimage.binary_dilation(~valid, iterations=STAMP // 2)
    edge[: STAMP // 2], edge[-(STAMP // 2) :] = True, True
    edge[:, : STAMP // 2], edge[:, -(STAMP // 2) :] = True, True
    ny, nx = valid.shape
    ix = np.clip(np.round(x).astype(int), 0, nx - 1)
    iy = np.clip(np.round(y).astype(int), 0, ny - 1)
    reasons = np.full(len(x), "", dtype=object)
    reasons[night.saturated[iy, ix]] = SATURATED
    reasons[edge[iy, ix]] = EDGE
    return reasons


def frame_candidates(
    night: Night, k: int, settings: DifferenceSettings, template: Template,
    science: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray, FrameDifference]:  # fmt: skip
    """sep candidates of frame ``k``'s difference: a table (grid and own-frame positions,
    flux, SNR, features, mask reason), their stamp triplets, and the difference."""
    fd = difference_frame(night, k, settings, template, science)
    found = detect(fd.difference, fd.model)
    stamps = triplets(fd.difference, found)
    table = features(fd.difference, found, stamps, fd.model, template.stars)
    x, y = found["x"].to_numpy(float), found["y"].to_numpy(float)
    x_own, y_own = night.to_frame(k, x, y) if len(found) else (x, y)
    table = table.assign(
        epoch=k, t_min=float(night.t_min[k]), x_ref=x, y_ref=y, x_px=x_own, y_px=y_own,
        flux=found["aper_flux"].to_numpy(float), masked=mask_reasons(night, fd.valid, x, y),
    )  # fmt: skip
    return table, stamps, fd


def night_candidates(
    night: Night, settings: DifferenceSettings, templates: list[Template],
    sciences: dict[int, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:  # fmt: skip
    """Candidates of every frame against its template (``sciences``: frames replaced, e.g.
    with fakes added; the templates stay those of the frames as taken), with a running
    ``index``; their stamps; and each frame's :func:`detection_noise`."""
    tables, stamps, noise = [], [], []
    for k in range(len(night.frames)):
        table, st, fd = frame_candidates(night, k, settings, templates[k], (sciences or {}).get(k))
        tables.append(table)
        stamps.append(st)
        noise.append(detection_noise(fd))
    table = pd.concat(tables, ignore_index=True)
    table["index"] = np.arange(len(table))
    return table, np.concatenate(stamps), pd.DataFrame(noise)


def detection_noise(fd: FrameDifference) -> dict[str, float]:
    """What sets a difference's detection limit: its per-pixel robust noise (counts), the
    Gaussian sigma (px) of the matched filter :func:`~asteroid_ml.detection.candidates.detect`
    applies, and the filtered noise over white noise's (``noise_ratio``)."""
    diff = fd.difference
    sigma_e = fd.model.sigma_px * max(diff.registration.seeing_ratio, 1.0)
    ratio = filtered_noise_ratio(diff.difference, diff.sigma, gaussian_kernel(sigma_e))
    return {"noise": diff.sigma, "kernel_sigma_px": sigma_e, "noise_ratio": ratio}
