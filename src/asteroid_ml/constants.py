"""Numerical constants shared by several stages (physical ones live in
:mod:`asteroid_ml.simulation.solar_system`)."""

from __future__ import annotations

import math

#: Median absolute deviation -> standard deviation for Gaussian noise: 1 / Φ⁻¹(3/4).
MAD_TO_SIGMA = 1.482602218505602

#: FWHM of a Gaussian in units of its standard deviation, 2 sqrt(2 ln 2).
GAUSSIAN_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
