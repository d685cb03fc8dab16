"""Cross-key rules of the ``detection`` config section, checked before any job runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def detection_problems(config: Mapping[str, Any], repo_root: Path) -> list[str]:
    """One message per problem, each naming its dotted key."""
    from asteroid_ml.hips.checks import checksum_problems, local_survey

    d = config["detection"]
    problems = []
    folder, problem = local_survey(str(d["survey"]), "detection.survey", repo_root)
    if problem:
        problems.append(problem)
    elif not (folder / "properties").is_file():
        problems.append(
            f"detection.survey: {folder} is not a local HiPS folder (no properties file)"
        )
    else:
        problems += checksum_problems(folder, "detection.survey")
    low, high = d["seeing_ratio"]
    if low > high:
        problems.append(f"detection.seeing_ratio: minimum {low} is above maximum {high}")
    if d["min_detections"] > d["n_epochs"]:
        problems.append(
            f"detection.min_detections: {d['min_detections']} is more than detection.n_epochs "
            f"({d['n_epochs']}): no sequence could form"
        )
    if d["grid"] ** 2 < 3:
        problems.append(
            "detection.grid: needs at least 2 (train, val and test need a sky field each)"
        )
    return problems
