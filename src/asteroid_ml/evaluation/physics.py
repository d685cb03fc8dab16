"""The physics baselines' scores (``impactor_moid_now``, ``impactor_moid_future``) and the
forward-run tables they read.

The score of a MOID baseline is ``1 / (1 + MOID / hazard.moid_au)``: it decreases with the
MOID, so every ranking metric is the MOID's own, and it is 0.5 exactly at the PHA distance.
Used by :mod:`.scoring` (the same metric code as the models), :mod:`.hazard` and
:mod:`.ranking`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from asteroid_ml.simulation.forward import FORWARD_COLUMNS
from asteroid_ml.tables import read_table


def moid_score(moid_au: np.ndarray, limit_au: float) -> np.ndarray:
    """Score of the MOID baselines: ``1 / (1 + MOID / limit)`` (0.5 at the limit)."""
    moid = np.asarray(moid_au, dtype=float)
    return 1.0 / (1.0 + np.maximum(moid, 0.0) / limit_au)


def physics_scores(
    model_name: str, forward: pd.DataFrame, key: str, ids: Sequence[str], limit_au: float
) -> np.ndarray:
    """Scores of a MOID baseline for the objects ``ids`` (matched on column ``key``)."""
    column = {"impactor_moid_now": "moid_now_au", "impactor_moid_future": "moid_min_au"}[model_name]
    table = forward.drop_duplicates(key).set_index(key)
    missing = [i for i in ids if i not in table.index]
    if missing:
        raise ValueError(f"forward runs lack {len(missing)} object(s), e.g. {missing[0]!r}")
    return moid_score(table.loc[list(ids), column].to_numpy(dtype=float), limit_au)


def read_forward(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Forward-run shards, concatenated."""
    frames = [read_table(p, None, "forward-run shard") for p in paths]
    if not frames:
        raise ValueError("no forward-run shards given")
    table = pd.concat(frames, ignore_index=True)
    missing = [c for c in FORWARD_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"forward-run shards lack column(s) {', '.join(missing)}")
    return table
