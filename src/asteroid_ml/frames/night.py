"""A night of frames, prepared for difference imaging: calibrated, sky-subtracted,
registered onto one frame's grid, with each frame's photometric scale and PSF.

Every input check (readable FITS, one size, DATE-OBS and EXPTIME, stars to register on)
runs in :func:`check_inputs` before any pixel work. Frames through thick cloud that cannot
be registered are dropped with a line naming the file (:func:`prepare_night`); fewer than
``min_frames`` usable frames is an error.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from asteroid_ml.frames.calibration import calibrate, make_masters
from asteroid_ml.frames.reading import (
    Frame,
    FrameError,
    celestial_wcs,
    expand,
    pixel_scale_arcsec,
    read_frames,
)
from asteroid_ml.frames.registration import (
    SOURCE_SNR,
    Alignment,
    align,
    photometric_scales,
    star_positions,
    subtract_sky,
    warp,
)

log = logging.getLogger(__name__)

#: A frame needs at least this many sources (at the first registration threshold) to be
#: registered at all.
MIN_STARS = 3


@dataclass
class FrameSetInputs:
    """What a user names: globs of light and calibration frames, optional pixel scale."""

    frames: str
    bias: str | None = None
    dark: str | None = None
    flat: str | None = None
    pixel_scale_arcsec: float | None = None
    saturation_adu: float | None = None


@dataclass
class Night:
    """The usable frames of one field, on the registration frame's pixel grid.

    ``registered``: (n, ny, nx) sky-subtracted counts, each frame in its own photometric
    units (NaN off the frame); ``scales``: multiply a frame by its scale to put it on the
    registration frame's units; ``sky_rms``: each frame's sky noise (counts);
    ``saturated``: pixels of the grid saturated in any frame (dilated);
    ``alignments``: each frame's transform onto the grid.
    """

    frames: list[Frame]
    registered: np.ndarray
    scales: np.ndarray
    sky_rms: np.ndarray
    alignments: list[Alignment]
    reference_index: int
    pixel_scale_arcsec: float
    saturated: np.ndarray
    fwhm_px: float
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    wcs: object | None = None

    @property
    def t_min(self) -> np.ndarray:
        """Mid-exposure times in minutes since the first usable frame's."""
        mjd = np.array([f.mjd_mid for f in self.frames])
        return (mjd - mjd[0]) * 1440.0

    def to_frame(self, k: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid positions -> frame ``k``'s own (unregistered) pixels."""
        xy = self.alignments[k].transform.inverse(np.column_stack([x, y]))
        return xy[:, 0], xy[:, 1]

    def from_frame(self, k: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``k``'s own pixels -> grid positions."""
        xy = self.alignments[k].transform(np.column_stack([x, y]))
        return xy[:, 0], xy[:, 1]


@dataclass
class CheckedInputs:
    lights: list[Frame]
    bias: list[Frame]
    dark: list[Frame]
    flat: list[Frame]
    pixel_scale_arcsec: float
    saturation_adu: float


def check_inputs(
    inputs: FrameSetInputs, min_frames: int, default_saturation: float
) -> CheckedInputs:
    """Read every file and check it; raises :class:`FrameError` naming the first bad file."""
    lights = read_frames(expand(inputs.frames, "--frames"))
    if len(lights) < min_frames:
        raise FrameError(f"--frames {inputs.frames!r}: {len(lights)} frames, need {min_frames}")
    shape = lights[0].data.shape
    calib = {}
    for what in ("bias", "dark", "flat"):
        frames = read_frames(expand(getattr(inputs, what), f"--{what}"), need_time=False, what=what)
        for f in frames:
            if f.data.shape != shape:
                raise FrameError(f"{f.path}: {what} frame is {f.data.shape[1]}x{f.data.shape[0]} "
                                 f"px, the lights are {shape[1]}x{shape[0]}")  # fmt: skip
            if what == "dark" and not f.exptime_s > 0:
                raise FrameError(f"{f.path}: dark frame without EXPTIME > 0 (needed to scale it)")
        calib[what] = frames
    scale = inputs.pixel_scale_arcsec
    if scale is None:
        scale = pixel_scale_arcsec(lights[0].header, lights[0].path)
    elif not (math.isfinite(scale) and scale > 0):
        raise FrameError(f"--pixel-scale {scale}: expected a positive number of arcsec per pixel")
    saturation = inputs.saturation_adu
    if saturation is None:
        saturation = float(lights[0].header.get("SATURATE", default_saturation))
    return CheckedInputs(lights, calib["bias"], calib["dark"], calib["flat"], float(scale),
                         float(saturation))  # fmt: skip


def psf_fwhm_px(image: np.ndarray) -> float:
    """FWHM (px) of a sky-subtracted image's PSF: twice the median half-light radius of its
    stars (r50 = FWHM / 2 for a Gaussian; the median is robust to the few saturated ones),
    found as for registration (:func:`~asteroid_ml.frames.registration.star_positions`).
    NaN pixels count as sky."""
    import sep

    data = np.ascontiguousarray(np.nan_to_num(image), dtype=np.float64)
    sky = subtract_sky(data)
    xy = star_positions(sky, SOURCE_SNR[-1])
    if len(xy) == 0:
        raise FrameError("no star to measure the PSF on")
    r50, flag = sep.flux_radius(sky.image, xy[:, 0].copy(), xy[:, 1].copy(),
                                np.full(len(xy), 8.0), 0.5)  # fmt: skip
    good = np.isfinite(r50) & (r50 > 0) & (flag == 0)
    return float(2.0 * np.median(r50[good])) if good.any() else float(2.0 * np.median(r50))


def prepare_night(checked: CheckedInputs, min_frames: int, saturation_grow_px: float) -> Night:
    """Calibrate, subtract the sky, register and scale the light frames."""
    masters = make_masters(checked.bias, checked.dark, checked.flat)
    skies, saturated_own = [], []
    for frame in checked.lights:
        saturated_own.append(frame.data >= checked.saturation_adu)
        skies.append(subtract_sky(calibrate(frame, masters)))
    counts = [len(star_positions(sky)) for sky in skies]
    reference = int(np.argmax(counts))
    target = star_positions(skies[reference], SOURCE_SNR[-1])
    shape = checked.lights[0].data.shape
    keep, alignments, registered, skipped, saturated = [], [], [], [], np.zeros(shape, bool)
    for k, (frame, sky) in enumerate(zip(checked.lights, skies, strict=True)):
        if k == reference:
            from skimage.transform import SimilarityTransform

            alignment = Alignment(SimilarityTransform(), len(target), 0.0)
        elif counts[k] < MIN_STARS:
            alignment = Alignment(None, 0, math.nan, f"{counts[k]} stars found")
        else:
            alignment = align(sky, target)
        if not alignment.ok:
            log.warning("%s: skipped, cannot be registered (%s)", frame.path, alignment.reason)
            skipped.append((frame.path, alignment.reason))
            continue
        keep.append(k)
        alignments.append(alignment)
        registered.append(
            sky.image if k == reference else warp(sky.image, alignment.transform, shape)
        )
        if saturated_own[k].any():
            mask = saturated_own[k].astype(np.float64)
            grid = mask if k == reference else np.nan_to_num(warp(mask, alignment.transform, shape))
            saturated |= grid > 0.1
    if len(keep) < min_frames:
        raise FrameError(
            f"--frames {checked.lights[0].path.parent}: {len(keep)} frames could be registered, "
            f"need {min_frames}"
        )
    frames = [checked.lights[k] for k in keep]
    ref_pos = keep.index(reference)
    stack = np.stack(registered).astype(np.float32)
    grow = max(1, int(round(saturation_grow_px)))
    saturated = ndimage.binary_dilation(saturated, iterations=grow)
    fwhm = psf_fwhm_px(stack[ref_pos])
    scales = photometric_scales(list(stack), ref_pos, checked.saturation_adu, 1.5 * fwhm)
    return Night(
        frames=frames, registered=stack, scales=scales,
        sky_rms=np.array([skies[k].rms for k in keep]), alignments=alignments,
        reference_index=ref_pos, pixel_scale_arcsec=checked.pixel_scale_arcsec,
        saturated=saturated, fwhm_px=fwhm, skipped=skipped, wcs=celestial_wcs(frames[ref_pos].header),
    )  # fmt: skip
