"""HiPS cutout extraction: exact, vectorised, from local folders, HTTP(S) and S3.

Public API::

    from asteroid_ml.hips import open_survey, extract_cutouts
    survey = open_survey("resources/hips/DSS2Red")
    batch = extract_cutouts(survey, ra_deg, dec_deg, size=64)
"""

from __future__ import annotations

from asteroid_ml.hips.extract import CutoutBatch, extract_cutouts, tan_header
from asteroid_ml.hips.properties import HipsPropertiesError
from asteroid_ml.hips.survey import HipsSurvey, open_survey, tile_path
from asteroid_ml.hips.tiles import TileError
from asteroid_ml.hips.workflow import extract_shard, open_survey_from_config

__all__ = [
    "CutoutBatch",
    "extract_cutouts",
    "tan_header",
    "HipsPropertiesError",
    "HipsSurvey",
    "TileError",
    "open_survey",
    "tile_path",
    "extract_shard",
    "open_survey_from_config",
]
