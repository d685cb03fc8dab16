"""Shared fixtures: repository paths and config loading."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# The test files that take minutes (each runs snakemake end to end or a real night of frames),
# longest first. `make test` hands whole files to its workers in collection order
# (--dist loadfile --no-loadscope-reorder); starting these first keeps the two longest from
# queueing behind each other on one worker at the end of the run.
LONGEST_FIRST = ("test_image.py", "test_profiles.py", "test_frames.py", "test_workflow.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Collect the longest test files first, the rest in their usual order (stable sort)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def test_config_raw() -> dict:
    """config/test.yaml as written (no defaults filled), a fresh copy per test."""
    with open(REPO / "config" / "test.yaml") as fh:
        return copy.deepcopy(yaml.safe_load(fh))
