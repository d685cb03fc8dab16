"""Cross-key rules of the ``frames`` config section, checked before any job runs."""

from __future__ import annotations

import glob
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The keys of a frame set that are globs of files.
GLOB_KEYS = ("frames", "bias", "dark", "flat")


def resolve(pattern: str, repo_root: Path) -> str:
    """A set's glob as a path: relative ones against the repository."""
    return pattern if Path(pattern).is_absolute() else str(repo_root / pattern)


def frames_problems(config: Mapping[str, Any], repo_root: Path) -> list[str]:
    """One message per problem, each naming its dotted key: every glob of every set must
    match files, and the light frames at least ``frames.min_frames`` of them."""
    section = config["frames"]
    problems = []
    for name, frame_set in section["sets"].items():
        for key in GLOB_KEYS:
            pattern = frame_set.get(key)
            if not pattern:
                continue
            matched = glob.glob(resolve(pattern, repo_root))
            if not matched:
                problems.append(f"frames.sets.{name}.{key}: {pattern!r} matches no file")
            elif key == "frames" and len(matched) < section["min_frames"]:
                problems.append(
                    f"frames.sets.{name}.frames: {pattern!r} matches {len(matched)} files, "
                    f"frames.min_frames is {section['min_frames']}"
                )
    return problems
