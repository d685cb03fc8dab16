"""The candidate classifiers: a CNN on stamp triplets (Lightning) and a random forest on the
autoScan-like features, both trained on the train fields, stopped/selected on val fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from asteroid_ml.detection.candidates import FEATURES, STAMP_CLIP_SIGMA
from asteroid_ml.models.datamodules import N_DIHEDRAL, augment_batch, dihedral
from asteroid_ml.models.detector import DetectorCNN
from asteroid_ml.models.training import ProgressLog
from asteroid_ml.seeds import rng_for

log = logging.getLogger(__name__)


class TripletDataModule(L.LightningDataModule):
    """Stamp triplets (n, 3, 32, 32) and labels of the train and val fields, each training
    triplet under its own random flip and quarter turn (orientation carries no label)."""

    def __init__(self, stamps: np.ndarray, labels: np.ndarray, split: np.ndarray,
                 batch_size: int, seed: int) -> None:  # fmt: skip
        super().__init__()
        x = torch.from_numpy(np.clip(stamps, -STAMP_CLIP_SIGMA, STAMP_CLIP_SIGMA))
        y = torch.from_numpy(labels.astype(np.float32))
        self.train = TensorDataset(x[split == "train"], y[split == "train"])
        self.val = TensorDataset(x[split == "val"], y[split == "val"])
        self.batch_size, self.seed = batch_size, seed

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(
            int(rng_for(self.seed, "triplet_loader").integers(2**31))
        )
        augment = _DihedralCollate(rng_for(self.seed, "triplet_augment"))
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, generator=generator,
                          collate_fn=augment)  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=4 * self.batch_size)


class _DihedralCollate:
    """Batches with an independent dihedral transform per triplet (a seeded stream)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(
        self, batch: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.stack([b[0] for b in batch])
        return augment_batch(x, self.rng), torch.stack([b[1] for b in batch])


def triplet_cnn(settings: Mapping[str, Any], pos_weight: float, stamp_px: int) -> DetectorCNN:
    """The triplet CNN of the ``cnn_*`` keys of a validated ``detection`` section."""
    section = {key: settings[f"cnn_{key}"] for key in
               ("depth", "width", "hidden", "dropout", "lr", "weight_decay", "max_epochs")}  # fmt: skip
    return DetectorCNN.from_config(section, pos_weight, stamp_px, channels=3)


def train_triplet_cnn(
    stamps: np.ndarray, labels: np.ndarray, split: np.ndarray, work: Path, seed: int,
    settings: Mapping[str, Any], checkpoint: Path | None = None,
) -> DetectorCNN:  # fmt: skip
    """The CNN on triplets, trained for the whole cosine schedule (the learning rate reaches 0
    at ``cnn_max_epochs``); the val fields' loss is logged, and the val fields set the operating
    point. No early stopping: stopped mid-schedule the weights are those of a high learning
    rate, and the 99 %-recall operating point, set by the lowest-scoring reals, moved with
    them (docs/decisions.md). ``settings``: the ``cnn_*`` keys of a validated ``detection``
    section. Returns the model after the last epoch, also written to ``checkpoint`` (a
    Lightning checkpoint: weights and hyperparameters) when given."""
    L.seed_everything(
        int(rng_for(seed, "triplet_cnn").integers(2**31)), workers=True, verbose=False
    )
    n_pos = max(int(labels[split == "train"].sum()), 1)
    n_neg = int((split == "train").sum()) - n_pos
    model = triplet_cnn(settings, n_neg / n_pos, stamps.shape[-1])
    max_epochs = int(settings["cnn_max_epochs"])
    trainer = L.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, deterministic=True, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[ProgressLog("detector_cnn")],
        default_root_dir=work, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(
        model, TripletDataModule(stamps, labels, split, int(settings["cnn_batch_size"]), seed)
    )
    if checkpoint is not None:
        from asteroid_ml.io import atomic_output

        with atomic_output(checkpoint) as tmp:
            trainer.save_checkpoint(tmp, weights_only=True)
    return model.eval()


def score_triplets(model: DetectorCNN, stamps: np.ndarray) -> np.ndarray:
    """Real probability of every triplet: the mean over its 8 dihedral transforms (the model
    was trained on all of them; averaging removes the orientation noise of one pass, which
    matters most in the low-score tail where the 99 %-recall threshold lies)."""
    x = torch.from_numpy(np.clip(stamps, -STAMP_CLIP_SIGMA, STAMP_CLIP_SIGMA))
    out = []
    with torch.no_grad():
        for start in range(0, len(x), 1024):
            chunk = x[start : start + 1024]
            p = [torch.sigmoid(model(dihedral(chunk, k)).float()) for k in range(N_DIHEDRAL)]
            out.append(torch.stack(p).mean(0).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def feature_forest(settings: Mapping[str, Any], seed: int, threads: int):
    """The (unfitted) random forest of a validated ``detection`` section (balanced class
    weights, a seeded stream)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=int(settings["forest_trees"]),
        min_samples_leaf=int(settings["forest_min_samples_leaf"]),
        class_weight="balanced", n_jobs=threads,
        random_state=int(rng_for(seed, "detection_forest").integers(2**31)),
    )  # fmt: skip


def train_feature_forest(
    candidates: pd.DataFrame, seed: int, settings: Mapping[str, Any], threads: int
):
    """:func:`feature_forest` fitted on :data:`FEATURES` of the train fields."""
    train = candidates[candidates["split"] == "train"]
    forest = feature_forest(settings, seed, threads)
    forest.fit(train[list(FEATURES)].to_numpy(np.float64), train["real"].to_numpy())
    return forest


def score_features(forest, candidates: pd.DataFrame) -> np.ndarray:
    return forest.predict_proba(candidates[list(FEATURES)].to_numpy(np.float64))[:, 1]
