"""Where things live: the checkout (schema, config, resources) and the workflow's output folders.

The rules in ``workflow/rules/`` write under ``results/`` (relative to the folder Snakemake runs
in); the sub-commands of :mod:`asteroid_ml.cli` take the same folders as their defaults from here.
"""

from __future__ import annotations

import os
from pathlib import Path

# The checkout the workflow runs from: its schema, config/ and resources/. The Snakefile names
# its own folder (ASTEROID_ML_ROOT), so a job whose sources Snakemake deployed elsewhere (an AWS
# Batch job in the image, whose package lives in /opt/asteroid-ml) reads the deployed files;
# otherwise the checkout this package is installed from (editable install).
ROOT_ENV = "ASTEROID_ML_ROOT"
REPO_ROOT = Path(os.environ.get(ROOT_ENV) or Path(__file__).resolve().parents[2]).resolve()
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG_PATH = REPO_ROOT / "config" / "config.yaml"

#: Output folders of the workflow's stages (relative to the folder it runs in).
RESULTS = Path("results")
CUTOUTS = RESULTS / "cutouts"
CUTOUT_TARGETS = CUTOUTS / "targets.parquet"
DATASET = RESULTS / "dataset"
FORWARD = RESULTS / "forward"
MODELS = RESULTS / "models"
EVAL = RESULTS / "eval"
DETECTION = RESULTS / "detection"
FRAMES = RESULTS / "frames"


def saved_model(name: str, filename: str) -> Path:
    """``results/models/{name}/{filename}``: a trained model as the workflow saves it."""
    return MODELS / name / filename
