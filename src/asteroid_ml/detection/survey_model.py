"""The survey an experiment pretends to be: what sets which movers it can detect.

All lengths in pixels unless a name says ``arcsec``; fluxes in counts of one exposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA


@dataclass(frozen=True)
class SurveyModel:
    """One survey's imaging, per exposure; every value from the ``detection`` section of a
    validated config (:func:`asteroid_ml.detection.workflow.survey_model`; the schema holds
    the defaults and their meaning).

    ``zero_point_mag``: the magnitude of a source that gives 1 count in one exposure;
    ``sky_sigma``: the noise of one science pixel (counts), the sky-limited case;
    ``fwhm_arcsec``: the reference (template) seeing, a Gaussian PSF;
    ``seeing_ratio``: the range of science-epoch FWHM / reference FWHM (a template is
    built from the best-seeing images, so science epochs are worse: > 1);
    ``elongation_max``: the largest PSF elongation (a - b) / mean of a science epoch;
    ``template_exposures``: exposures co-added into the template, each as deep as an epoch;
    ``saturation_counts``: the full well of a science pixel (counts, sky included);
    ``saturation_grow_px``: how far the mask of saturated pixels is grown;
    ``astrometric_sigma_px``: the rms misregistration of an epoch before registration;
    ``solution_astrometric_sigma_px`` and ``solution_seeing_frac``: the precision (rms per
    axis; rms fraction) of the whole detector's astrometric and PSF solutions, which the
    pipeline falls back on in a field with too few stars to register on (an assumption
    about a survey's calibration, not physics of the sky; docs/detection.md).
    """

    pixel_scale_arcsec: float
    fwhm_arcsec: float
    zero_point_mag: float
    sky_sigma: float
    exposure_s: float
    cadence_min: float
    n_epochs: int
    snr_threshold: float
    seeing_ratio: tuple[float, float]
    elongation_max: float
    template_exposures: int
    saturation_counts: float
    saturation_grow_px: float
    astrometric_sigma_px: float
    solution_astrometric_sigma_px: float
    solution_seeing_frac: float

    @property
    def fwhm_px(self) -> float:
        return self.fwhm_arcsec / self.pixel_scale_arcsec

    @property
    def sigma_px(self) -> float:
        """Gaussian sigma of the reference PSF (pixels)."""
        return self.fwhm_px / GAUSSIAN_FWHM_PER_SIGMA

    def limiting_magnitude(
        self, snr: float | None = None, seeing_ratio: float | None = None
    ) -> float:
        """Magnitude of a point source detected at ``snr`` (default the detection threshold).

        Sky-limited PSF (matched-filter) photometry of a Gaussian PSF of sigma s: the
        noise of the flux estimate is ``sky_sigma * sqrt(4 pi) * s``, so

            m_lim = ZP - 2.5 log10(snr * sky_sigma * sqrt(4 pi) * s).

        ``s`` is the science seeing (``seeing_ratio`` x the reference's, default the
        middle of the configured range); the reference's own noise, smoothed by the
        matching kernel, is left out (the template is deeper, so it adds a few per cent).
        """
        snr = self.snr_threshold if snr is None else snr
        ratio = sum(self.seeing_ratio) / 2 if seeing_ratio is None else seeing_ratio
        noise = self.sky_sigma * math.sqrt(4.0 * math.pi) * self.sigma_px * ratio
        return self.zero_point_mag - 2.5 * math.log10(snr * noise)

    def flux(self, mag: float) -> float:
        """Counts of a source of magnitude ``mag`` in one exposure."""
        return 10.0 ** (-0.4 * (mag - self.zero_point_mag))
