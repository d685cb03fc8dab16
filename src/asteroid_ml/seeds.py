"""Deterministic random streams.

One rule for every stage: a random stream is keyed by the global seed, a stage
name and an integer (usually an object index), never by a shard number or a
process id. Results therefore do not depend on how work is split into jobs or
on ``--cores``.
"""

from __future__ import annotations

import zlib

import numpy as np


def stage_key(stage: str) -> int:
    """A stable 32-bit integer for a stage name (CRC32, not Python's salted ``hash``)."""
    return zlib.crc32(stage.encode())


def rng_for(seed: int, stage: str, *keys: int) -> np.random.Generator:
    """A NumPy generator for (global seed, stage, keys...), independent of sharding."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), stage_key(stage), *map(int, keys)])
    )
