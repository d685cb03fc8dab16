"""Cross-key rules of the ``dataset`` config section that JSON schema cannot express.

No NumPy here: config validation runs before any job and must stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``min``/``max`` pairs of the section.
RANGE_KEYS = (
    "artefact_peak_sigma",
    "cosmic_ray_length_px",
    "bright_star_mag",
    "bright_star_growth",
)


def dataset_problems(config: Mapping[str, Any]) -> list[str]:
    """Cross-key problems of the ``dataset`` section (a filled-in config), as dotted-key messages."""
    section = config["dataset"]
    problems = []
    total = sum(float(v) for v in section["split_fractions"].values())
    if abs(total - 1.0) > 1e-9:
        problems.append(f"dataset.split_fractions: must sum to 1 (got {total:g})")
    mix_total = sum(float(v) for v in section["negative_mix"].values())
    if abs(mix_total - 1.0) > 1e-9:
        problems.append(f"dataset.negative_mix: fractions must sum to 1 (got {mix_total:g})")
    for key in RANGE_KEYS:
        low, high = float(section[key]["min"]), float(section[key]["max"])
        if low > high:
            problems.append(f"dataset.{key}: min ({low:g}) > max ({high:g})")
    return problems
