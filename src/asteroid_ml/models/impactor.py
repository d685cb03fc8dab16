"""The impactor classifier: an MLP on orbital-element features (the HOI idea).

Hefele et al. (2020, A&A 634, A45) trained a neural network on the orbital
elements of simulated impactors against known near-Earth asteroids and flagged
90.99 % of NASA's potentially hazardous asteroids as hazardous.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from asteroid_ml.models.base import BinaryClassifier, optimisation_settings


class ImpactorMLP(BinaryClassifier):
    """Fully connected ReLU network: standardised element features -> impactor logit.

    The feature standardisation (train-split mean and standard deviation) is
    stored in buffers, so a checkpoint alone scores raw features.
    """

    @classmethod
    def from_config(cls, section: Mapping[str, Any], pos_weight: float) -> ImpactorMLP:
        """The MLP of a validated ``training.impactor`` section."""
        return cls(
            features=list(section["features"]), hidden=[int(h) for h in section["hidden"]],
            **optimisation_settings(section, pos_weight),
        )  # fmt: skip

    def __init__(
        self,
        features: Sequence[str],
        hidden: Sequence[int],
        dropout: float,
        lr: float,
        weight_decay: float,
        max_epochs: int,
        pos_weight: float,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        n_in = len(features)
        self.register_buffer("feature_mean", torch.zeros(n_in))
        self.register_buffer("feature_std", torch.ones(n_in))
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            n_in = width
        layers.append(nn.Linear(n_in, 1))
        self.net = nn.Sequential(*layers)
        self.loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([float(pos_weight)]))

    def set_standardisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N,) for raw features (N, n_features)."""
        return self.net((x - self.feature_mean) / self.feature_std).squeeze(-1)
