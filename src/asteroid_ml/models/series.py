"""The HOI-style time-series classifier: orbital elements sampled at K epochs (Lightning).

Hefele et al. (2020, A&A 634, A45) gave their network each object's elements at 50 epochs
of its integration (their released code: a 50 x 5 input, a 1-D convolution, dense
layers). Here every object, simulated or real, gets the same series: its osculating
elements and Earth MOID at ``hazard.series_samples`` epochs spaced evenly over the
``hazard.series_years`` *before* the observation epoch (a backward run of the
population engine, :func:`asteroid_ml.simulation.forward.element_series`). The span
is the same for every object and lies before the epoch, where no impact happens, so
a series can reveal its label neither by its length nor by the impact itself; what
it carries is the secular drift of the node distances and the MOID, which decides
where the MOID goes next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from asteroid_ml.models.base import BinaryClassifier, optimisation_settings

#: Raw columns of a series array ``(N, K, len(SERIES_COLUMNS))`` (heliocentric ecliptic J2000).
SERIES_COLUMNS = ("a_au", "e", "i_deg", "om_deg", "w_deg", "moid_au")
#: Channels the network sees, per epoch.
SERIES_FEATURES = ("a_au", "e", "i_deg", "sin_w", "cos_w", "sin_om", "cos_om", "log10_moid")


def series_features(raw: np.ndarray) -> np.ndarray:
    """Network input ``(N, len(SERIES_FEATURES), K)`` float32 from raw series ``(N, K, 6)``."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[2] != len(SERIES_COLUMNS):
        raise ValueError(
            f"element series must have shape (N, K, {len(SERIES_COLUMNS)}), got {raw.shape}"
        )
    a, e, inc, om, w, moid = (raw[:, :, k] for k in range(len(SERIES_COLUMNS)))
    om, w = np.deg2rad(om), np.deg2rad(w)
    channels = [a, e, inc, np.sin(w), np.cos(w), np.sin(om), np.cos(om), np.log10(moid + 1e-4)]
    x = np.stack(channels, axis=1)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))[0])
        raise ValueError(f"element series: row {bad} has non-finite elements (unbound orbit?)")
    return x.astype(np.float32)


def read_series(
    table_paths: Sequence[str | Path], series_paths: Sequence[str | Path], key: str
) -> tuple[list[str], np.ndarray]:
    """Object ids (column ``key`` of each forward-run table) and their raw series, concatenated."""
    ids: list[str] = []
    arrays = []
    for table_path, series_path in zip(table_paths, series_paths, strict=True):
        table = pd.read_parquet(table_path, columns=[key])
        series = np.load(series_path)
        if len(series) != len(table):
            raise ValueError(
                f"{series_path}: {len(series)} series for {len(table)} rows of {table_path}"
            )
        ids += table[key].astype(str).tolist()
        arrays.append(series)
    if not arrays:
        raise ValueError("no element series given")
    return ids, np.concatenate(arrays)


def series_for(ids: Sequence[str], all_ids: Sequence[str], raw: np.ndarray) -> np.ndarray:
    """Rows of ``raw`` for ``ids`` (an error names the first one without a series)."""
    position = {oid: k for k, oid in enumerate(all_ids)}
    missing = [oid for oid in ids if oid not in position]
    if missing:
        raise ValueError(f"no element series for {len(missing)} object(s), e.g. {missing[0]!r}")
    return raw[[position[oid] for oid in ids]]


class ImpactorSeriesNet(BinaryClassifier):
    """1-D convolutions over the epochs, pooled, then dense layers -> impactor logit.

    The per-channel standardisation (train-split mean and standard deviation) is
    stored in buffers, so a checkpoint alone scores raw :func:`series_features`.
    """

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any], n_epochs: int, pos_weight: float
    ) -> ImpactorSeriesNet:
        """The network of a validated ``training.series`` section, for series of ``n_epochs``."""
        return cls(
            n_epochs=int(n_epochs), channels=int(section["channels"]),
            hidden=int(section["hidden"]), **optimisation_settings(section, pos_weight),
        )  # fmt: skip

    def __init__(
        self,
        n_epochs: int,
        channels: int,
        hidden: int,
        dropout: float,
        lr: float,
        weight_decay: float,
        max_epochs: int,
        pos_weight: float,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        n_in = len(SERIES_FEATURES)
        self.register_buffer("feature_mean", torch.zeros(n_in, 1))
        self.register_buffer("feature_std", torch.ones(n_in, 1))
        kernel = min(5, 2 * (n_epochs // 2) + 1)
        self.conv = nn.Sequential(
            nn.Conv1d(n_in, channels, kernel, padding=kernel // 2),
            nn.ReLU(inplace=True),
            nn.Conv1d(channels, channels, kernel, padding=kernel // 2),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Linear(2 * channels, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )
        self.loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([float(pos_weight)]))

    def set_standardisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N,) for raw series features (N, channels, K)."""
        h = self.conv((x - self.feature_mean) / self.feature_std)
        pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)
        return self.head(pooled).squeeze(-1)
