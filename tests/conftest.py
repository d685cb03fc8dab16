"""Shared fixtures: repository paths and config loading."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def test_config_raw() -> dict:
    """config/test.yaml as written (no defaults filled), a fresh copy per test."""
    with open(REPO / "config" / "test.yaml") as fh:
        return copy.deepcopy(yaml.safe_load(fh))
