"""The CNN detector: is there an asteroid trail in this cutout?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from asteroid_ml.models.base import BinaryClassifier, optimisation_settings


def conv_stages(n_conv: int) -> list[int]:
    """Split ``n_conv`` 3x3 convolutions into 3 resolution stages (front-loaded).

    7 -> [3, 2, 2]: most convolutions run at full resolution, where a faint
    trail is still a few pixels wide.
    """
    if n_conv < 3:
        raise ValueError(f"the detector needs at least 3 convolutions (depth >= 5), got {n_conv}")
    base, extra = divmod(n_conv, 3)
    return [base + (1 if s < extra else 0) for s in range(3)]


class DetectorCNN(BinaryClassifier):
    """A plain ReLU CNN on (1, S, S) normalised cutouts, returning one logit per image.

    ``depth`` counts weight layers: ``depth - 2`` 3x3 convolutions (batch norm,
    ReLU) in three stages of width ``width``, ``2 width``, ``4 width`` separated
    by 2x2 max pooling, average pooling to a 4 x 4 map (the position of a source
    relative to the centre matters), then two dense layers.
    Every setting comes from the config (:meth:`from_config`); the schema holds the defaults
    (``training.detector``: ``depth = 9``, the 9-layer ReLU CNN).
    """

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any], pos_weight: float, image_size: int, channels: int
    ) -> DetectorCNN:
        """The CNN of a validated ``training.detector`` section (``channels``: 1 for a
        cutout, 3 for a (science, reference, difference) triplet)."""
        return cls(
            depth=int(section["depth"]), width=int(section["width"]),
            hidden=int(section["hidden"]), image_size=int(image_size), channels=int(channels),
            **optimisation_settings(section, pos_weight),
        )  # fmt: skip

    def __init__(
        self,
        depth: int,
        width: int,
        hidden: int,
        dropout: float,
        lr: float,
        weight_decay: float,
        max_epochs: int,
        pos_weight: float,
        image_size: int,
        channels: int,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        layers: list[nn.Module] = []
        channels_in = channels  # 1: a cutout; 3: a (science, reference, difference) triplet
        for stage, n in enumerate(conv_stages(depth - 2)):
            channels = width * 2**stage
            for _ in range(n):
                layers += [
                    nn.Conv2d(channels_in, channels, 3, padding=1, bias=False),
                    nn.BatchNorm2d(channels),
                    nn.ReLU(inplace=True),
                ]
                channels_in = channels
            if stage < 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        # The candidate sits at the cutout centre and field stars anywhere: the head keeps a
        # coarse 4 x 4 map (global pooling would make the output blind to *where* a source is).
        final_size = image_size // 4
        if final_size < 4 or final_size % 4:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        self.head = nn.Sequential(
            nn.AvgPool2d(final_size // 4) if final_size > 4 else nn.Identity(),
            nn.Flatten(),
            nn.Linear(channels_in * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )
        self.loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([float(pos_weight)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N,) for images (N, channels, S, S)."""
        return self.head(self.features(x)).squeeze(-1)
