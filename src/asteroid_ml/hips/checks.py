"""Checks of the ``survey`` config section that need the survey itself (no network).

Run by config validation before any job: a local survey folder must exist and hold a
valid ``properties`` file, ``survey.order`` may not exceed its ``hips_order``, and a
``cache_dir`` must be writable. Remote surveys (http(s), s3) are checked when the first
job opens them; no request is sent from validation.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def survey_problems(config: Mapping[str, Any], repo_root: Path) -> list[str]:
    """Problems of the ``survey`` section, as dotted-key messages."""
    from asteroid_ml.hips.properties import parse_properties, validate_properties

    survey = config["survey"]
    problems = []
    location = str(survey["location"])
    if "://" not in location:
        folder = Path(location) if Path(location).is_absolute() else repo_root / location
        properties = folder / "properties"
        if not properties.is_file():
            problems.append(f"survey.location: no HiPS survey at {folder} (no properties file)")
        else:
            try:
                meta = validate_properties(
                    parse_properties(properties.read_text()), str(properties)
                )
            except ValueError as exc:
                problems.append(f"survey.location: {exc}")
            else:
                if survey["order"] is not None and survey["order"] > meta.order:
                    problems.append(
                        f"survey.order: {survey['order']} is above the survey's hips_order "
                        f"{meta.order} ({properties})"
                    )
    if survey["cache_dir"] is not None:
        problem = _unwritable(Path(survey["cache_dir"]))
        if problem:
            problems.append(f"survey.cache_dir: {problem}")
    return problems


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot hold the tile cache, or None (it is created if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        return f"cannot write to {folder} ({exc.strerror or exc})"
    if not os.access(folder, os.W_OK):
        return f"cannot write to {folder}"
    return None
