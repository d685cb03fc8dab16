"""What the two LightningModules share: a binary classifier trained on logits.

Subclasses define ``forward`` (inputs -> logits of shape (N,)), create ``self.loss``
(``BCEWithLogitsLoss``) and call ``save_hyperparameters()`` with ``lr``,
``weight_decay`` and ``max_epochs`` among them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch


def optimisation_settings(section: Mapping[str, Any], pos_weight: float) -> dict[str, Any]:
    """The settings every classifier trains with, from its validated config section:
    ``dropout``, ``lr``, ``weight_decay``, ``max_epochs`` and the positive-class weight."""
    return {
        "dropout": float(section["dropout"]), "lr": float(section["lr"]),
        "weight_decay": float(section["weight_decay"]),
        "max_epochs": int(section["max_epochs"]), "pos_weight": float(pos_weight),
    }  # fmt: skip


class BinaryClassifier(L.LightningModule):
    """Training/validation steps, prediction and the AdamW + cosine schedule."""

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss(logits.float(), y)
        acc = ((logits > 0).float() == y).float().mean()
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(
            f"{stage}_acc",
            acc,
            on_step=False,
            on_epoch=True,
            batch_size=len(y),
            prog_bar=stage != "train",
        )
        return loss

    def training_step(self, batch, batch_idx):  # noqa: D102
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "val")

    def predict_step(self, batch, batch_idx):  # noqa: D102
        return torch.sigmoid(self(batch[0]).float())

    def configure_optimizers(self):  # noqa: D102
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, self.hparams.max_epochs)
        )
        return {"optimizer": opt, "lr_scheduler": sched}
