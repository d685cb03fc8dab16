"""CCD calibration with ccdproc: master bias, dark and flat, applied to each light frame.

Masters are median combinations (ccdproc.combine). The dark is bias-subtracted and scaled
by exposure time (``EXPTIME``) to each light; the flat is bias- (and dark-) subtracted and
normalised to its median. All counts stay in ADU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asteroid_ml.frames.reading import Frame


@dataclass
class Masters:
    """The calibration masters (CCDData or None) of one night."""

    bias: object | None = None
    dark: object | None = None
    flat: object | None = None

    @property
    def empty(self) -> bool:
        return self.bias is None and self.dark is None and self.flat is None


def _ccd(frame: Frame):
    from astropy.nddata import CCDData

    return CCDData(frame.data, unit="adu", meta=frame.header)


def _combine(frames: list):
    import ccdproc

    if len(frames) == 1:
        return frames[0]
    return ccdproc.combine(frames, method="median", dtype=np.float32, mem_limit=2e9)


def make_masters(bias: list[Frame], dark: list[Frame], flat: list[Frame]) -> Masters:
    """Median masters of the given calibration frames (each list may be empty)."""
    import astropy.units as u
    import ccdproc

    masters = Masters()
    if bias:
        masters.bias = _combine([_ccd(f) for f in bias])
    if dark:
        darks = [_ccd(f) for f in dark]
        if masters.bias is not None:
            darks = [ccdproc.subtract_bias(d, masters.bias) for d in darks]
        masters.dark = _combine(darks)
    if flat:
        flats = [
            ccdproc.ccd_process(
                _ccd(f), master_bias=masters.bias, dark_frame=masters.dark,
                exposure_key="EXPTIME", exposure_unit=u.s, dark_scale=masters.dark is not None,
            )
            for f in flat
        ]  # fmt: skip
        combined = _combine(flats)
        masters.flat = combined.divide(np.median(combined.data))
    return masters


def calibrate(frame: Frame, masters: Masters) -> np.ndarray:
    """The light frame's data, bias- and dark-subtracted and flat-fielded (float32 ADU)."""
    import astropy.units as u
    import ccdproc

    if masters.empty:
        return frame.data
    out = ccdproc.ccd_process(
        _ccd(frame), master_bias=masters.bias, dark_frame=masters.dark,
        master_flat=masters.flat, exposure_key="EXPTIME", exposure_unit=u.s,
        dark_scale=masters.dark is not None,
    )  # fmt: skip
    return np.asarray(out.data, dtype=np.float32)
