"""Deterministic train/val/test assignment by hashing identifiers.

An object's split depends only on the global seed and its id (SHA-256 of
``"{seed}:{object_id}"`` mapped to a uniform number in [0, 1)), never on the
order in which objects arrive, on shard counts or on other objects. All the
observations of one object therefore land in the same split (no leakage), and
the tabular impactor dataset uses exactly the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from asteroid_ml.seeds import stable_int, unit_hash

#: Split names in the order in which their fractions are accumulated.
SPLITS = ("train", "val", "test")


def split_of(u: np.ndarray | Iterable[float], fractions: Mapping[str, float]) -> np.ndarray:
    """Split name for each uniform number ``u`` given cumulative ``fractions``."""
    u = np.asarray(list(u) if not isinstance(u, np.ndarray) else u, dtype=np.float64)
    edges = np.cumsum([float(fractions[name]) for name in SPLITS])
    edges[-1] = np.inf  # rounding of the fractions must never leave a number unassigned
    index = np.searchsorted(edges, u, side="right")
    return np.asarray(SPLITS, dtype=object)[index]


def object_splits(
    object_ids: Iterable[str], seed: int, fractions: Mapping[str, float]
) -> np.ndarray:
    """Split of each simulated object: hash of ``"{seed}:{object_id}"``."""
    return split_of([unit_hash(f"{seed}:{oid}") for oid in object_ids], fractions)


def negative_splits(
    target_ids: Iterable[int], seed: int, fractions: Mapping[str, float]
) -> np.ndarray:
    """Split of each negative cutout: hash of ``"{seed}:negative:{target_id}"``."""
    return split_of([unit_hash(f"{seed}:negative:{int(t)}") for t in target_ids], fractions)


def order_keys(sample_ids: Iterable[int], seed: int) -> np.ndarray:
    """Deterministic shuffle keys: samples are stored in each split in this order.

    Interleaves positives and negatives in the arrays, so a sequential read of
    a memory-mapped split already sees both classes.
    """
    return np.array([stable_int(f"{seed}:order:{int(s)}") for s in sample_ids], dtype=np.uint64)
