"""HiPS cutout extraction: exact, vectorised, from local folders, HTTP(S) and S3.

Public API::

    from asteroid_ml.hips import open_survey, extract_cutouts
    survey = open_survey("resources/hips/DSS2Red")
    batch = extract_cutouts(survey, ra_deg, dec_deg, size=64)
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> module that defines it. Imported on first use (PEP 562), so that the
#: light modules of the package (properties, checks) load without numba and NumPy kernels.
_EXPORTS = {
    "CutoutBatch": "extract",
    "extract_cutouts": "extract",
    "tan_header": "wcs",
    "HipsPropertiesError": "properties",
    "HipsSurvey": "survey",
    "open_survey": "survey",
    "tile_path": "survey",
    "TileError": "tiles",
    "extract_shard": "workflow",
    "open_survey_from_config": "workflow",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'asteroid_ml.hips' has no attribute {name!r}")
    return getattr(importlib.import_module(f"asteroid_ml.hips.{_EXPORTS[name]}"), name)
