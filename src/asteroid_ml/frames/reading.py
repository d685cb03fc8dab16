"""Reading a set of CCD frames of one field, with every check done before any work.

A frame set is a list of FITS files (plain or gzipped) of one field taken with one camera:
2-D images of one size, each with ``DATE-OBS`` (UTC start of the exposure, ISO 8601) and
``EXPTIME`` (seconds). Times are the exposure's middle, ``DATE-OBS + EXPTIME / 2``, as an
MJD (UTC). Pixel coordinates are 0-based, x = column, as in numpy and sep.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Arcseconds per radian / 1000: pixel scale (") = this x pixel size (um) / focal length (mm).
ARCSEC_PER_UM_PER_MM = 206.264806


class FrameError(ValueError):
    """A frame or frame set that cannot be used; the message names the file and the reason."""


@dataclass
class Frame:
    """One exposure: its file, data (float32 counts), header and mid-exposure time."""

    path: Path
    data: np.ndarray
    header: object  # astropy.io.fits.Header
    mjd_mid: float
    exptime_s: float


def expand(pattern: str | None, what: str) -> list[Path]:
    """The files a glob ``pattern`` names, sorted; none for ``None``; an error when a given
    pattern matches nothing (``what`` names the option in the message)."""
    if not pattern:
        return []
    paths = sorted(Path(p) for p in glob.glob(str(pattern)))
    if not paths:
        raise FrameError(f"{what} {pattern!r}: no file matches")
    return paths


def _header_float(header, key: str, path: Path) -> float:
    try:
        value = float(header[key])
    except KeyError:
        raise FrameError(f"{path}: header has no {key}") from None
    except (TypeError, ValueError):
        raise FrameError(f"{path}: header {key} = {header[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise FrameError(f"{path}: header {key} = {header[key]!r} is not finite")
    return value


def read_frame(path: Path, need_time: bool = True) -> Frame:
    """Read one frame, or raise :class:`FrameError` naming the file and what is wrong."""
    from astropy.io import fits
    from astropy.time import Time

    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if h.data is not None), None)
            if hdu is None:
                raise FrameError(f"{path}: no image data in any HDU")
            data = np.asarray(hdu.data, dtype=np.float32)
            header = hdu.header.copy()
    except FrameError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise FrameError(f"{path}: not a readable FITS file ({exc})") from None
    if data.ndim != 2:
        raise FrameError(f"{path}: image has {data.ndim} dimensions, expected 2")
    exptime = _header_float(header, "EXPTIME", path) if "EXPTIME" in header or need_time else 0.0
    mjd_mid = math.nan
    if need_time:
        if "DATE-OBS" not in header:
            raise FrameError(f"{path}: header has no DATE-OBS (the exposure's start, UTC)")
        try:
            start = Time(str(header["DATE-OBS"]), format="isot", scale="utc")
        except ValueError:
            raise FrameError(f"{path}: DATE-OBS = {header['DATE-OBS']!r} is not ISO 8601") from None
        if exptime <= 0:
            raise FrameError(f"{path}: EXPTIME = {exptime} s, expected > 0")
        mjd_mid = float(start.mjd) + exptime / 2.0 / 86400.0
    return Frame(Path(path), data, header, mjd_mid, exptime)


def read_frames(paths: list[Path], need_time: bool = True, what: str = "frame") -> list[Frame]:
    """Read and check every file (all of one size); the first bad one raises FrameError."""
    frames = [read_frame(p, need_time) for p in paths]
    if frames:
        shape = frames[0].data.shape
        for f in frames[1:]:
            if f.data.shape != shape:
                raise FrameError(
                    f"{f.path}: {what} is {f.data.shape[1]}x{f.data.shape[0]} px, "
                    f"{frames[0].path.name} is {shape[1]}x{shape[0]}"
                )
    return frames


def pixel_scale_arcsec(header, path: Path) -> float:
    """The pixel scale (arcsec per pixel) a header states: from a celestial WCS, else from
    ``FOCALLEN`` (mm) and ``XPIXSZ`` (um, after binning)."""
    wcs = celestial_wcs(header)
    if wcs is not None:
        from astropy.wcs.utils import proj_plane_pixel_scales

        return float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)
    if "FOCALLEN" in header and "XPIXSZ" in header:
        focal = _header_float(header, "FOCALLEN", path)
        pixel = _header_float(header, "XPIXSZ", path)
        if focal > 0 and pixel > 0:
            return ARCSEC_PER_UM_PER_MM * pixel / focal
    raise FrameError(
        f"{path}: no pixel scale in the header (no celestial WCS, no FOCALLEN and XPIXSZ): "
        "give --pixel-scale"
    )


def celestial_wcs(header):
    """The header's celestial WCS, or None when it has none."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    if "CTYPE1" not in header:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    return wcs.celestial if wcs.has_celestial else None
