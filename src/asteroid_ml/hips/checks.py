"""Checks of the ``survey`` config section that need the survey itself (no network).

Run by config validation before any job: a local survey folder must exist and hold a
valid ``properties`` file, its files must match its ``SHA256SUMS`` when it ships one
(the shipped survey does: a changed or truncated tile is caught before any extraction;
hashing its 26 tiles takes ~10 ms), ``survey.order`` may not exceed its ``hips_order``,
and a ``cache_dir`` must be writable. Remote surveys (http(s), s3) are checked when the first
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
    if "simulation" in config and "observations" in config:
        sim = config["simulation"]
        n_epochs = int(config["observations"].get("n_epochs", 1))
        targets = (sim["impactor"]["n"] + sim["background"]["n"]) * n_epochs
        if survey["shards"] > targets:
            problems.append(
                f"survey.shards: {survey['shards']} shards for at most {targets} cutout targets "
                f"({sim['impactor']['n'] + sim['background']['n']} objects x {n_epochs} epochs) "
                "would leave shards empty"
            )
    location = str(survey["location"])
    if "://" not in location:
        folder, problem = local_survey(location, "survey.location", repo_root)
        properties = folder / "properties"
        if problem:
            problems.append(problem)
        elif not properties.is_file():
            problems.append(f"survey.location: no HiPS survey at {folder} (no properties file)")
        else:
            problems += checksum_problems(folder)
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


def _shown(path: str, limit: int = 120) -> str:
    """``path`` for a one-line message: long ones cut, with their length."""
    return path if len(path) <= limit else f"{path[:limit]}... ({len(path)} characters)"


def local_survey(location: str, key: str, repo_root: Path) -> tuple[Path, str | None]:
    """The folder of a local survey (relative ``location`` against ``repo_root``), and why
    it cannot even be looked at (a name too long for the file system, a path through a
    file), as a message naming ``key``; None when it can be."""
    folder = Path(location) if Path(location).is_absolute() else repo_root / location
    try:
        (folder / "properties").is_file()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return folder, f"{key}: cannot look at {_shown(str(folder))} ({reason})"
    return folder, None


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


def listed_files(folder: Path) -> list[Path]:
    """The files named in ``folder/SHA256SUMS`` (empty when the folder has no such file)."""
    return [folder / name for _, name in sums_entries(folder)]


def sums_entries(folder: Path) -> list[tuple[str, str]]:
    """(hex digest, file name) of each line of ``folder/SHA256SUMS`` (``sha256sum``'s format:
    the digest, white space, the name); empty when there is no such file.

    Raises ValueError naming the file and line when a line is not in that format."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return []
    entries = []
    for number, line in enumerate(sums.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64 or not parts[1].strip():
            raise ValueError(
                f"{sums}: line {number} is not '<sha256 hex digest> <file name>': "
                f"{_shown(line, 80)!r}"
            )
        entries.append((parts[0].lower(), parts[1].strip().lstrip("*")))
    return entries


def checksum_problems(folder: Path, key: str = "survey.location") -> list[str]:
    """Files of a local survey that are missing or differ from ``SHA256SUMS`` (messages
    name the config ``key`` that points at the survey)."""
    import hashlib

    try:
        entries = sums_entries(folder)
    except ValueError as exc:
        return [f"{key}: {exc}"]
    problems = []
    for digest, name in entries:
        path = folder / name
        if not path.is_file():
            problems.append(f"{key}: {path} is listed in SHA256SUMS but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(
                f"{key}: {path} does not match SHA256SUMS (changed or truncated); "
                "restore it (git checkout -- <file>) or fetch the tile again"
            )
    return problems
