"""Deterministic random streams.

One rule for every stage: a random stream is keyed by the global seed, a stage
name and an integer (usually an object index), never by a shard number or a
process id. Results therefore do not depend on how work is split into jobs or
on ``--cores``.
"""

from __future__ import annotations

import hashlib
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


def unit_hash(key: str) -> float:
    """A number in [0, 1) from the first 64 bits of SHA-256(key)."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def stable_int(key: str) -> int:
    """A 64-bit integer from SHA-256(key): a random-stream key for a string id."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
