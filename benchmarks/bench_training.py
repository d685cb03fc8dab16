"""Training throughput of the CNN detector and the cost of its input pipeline.

Run: ``.venv/bin/python benchmarks/bench_training.py [--n-train 3000] [--epochs 2]``

Prints, on the CPU (and on a CUDA GPU when one is visible):

- training images/s of ``stamp_cnn`` through the Lightning Trainer (the
  default config's architecture), and the fraction of the step time spent
  waiting for the next batch (target: < 10 %);
- the input pipeline alone: our batched reader (one fancy-index read of the
  memory map, vectorised normalisation and dihedral augmentation per batch)
  against the reference, a per-sample ``torch.utils.data.Dataset`` doing the
  same work one cutout at a time under a standard ``DataLoader``; and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from asteroid_ml.config import load_config
from asteroid_ml.models.datamodules import (
    CutoutDataModule,
    dihedral,
    load_split_images,
    split_labels,
)
from asteroid_ml.models.features import robust_normalise
from asteroid_ml.models.synthetic import make_synthetic_dataset


class PerSampleDataset(Dataset):
    """Reference: the textbook Dataset, one cutout per ``__getitem__``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
        self.images, self.labels = images, labels
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = robust_normalise(self.images[i : i + 1])[0]
        x = dihedral(x, int(self.rng.integers(8))).copy()
        return torch.from_numpy(x)[None], torch.tensor(float(self.labels[i]))


def time_loader(loader, max_batches: int | None = None) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for b, (x, _) in enumerate(loader):
        n += len(x)
        if max_batches and b + 1 >= max_batches:
            break
    return time.perf_counter() - start, n


class StepTimer:
    """Lightning callback: wall time inside training steps vs waiting for batches."""

    def __init__(self) -> None:
        import lightning as L

        class _CB(L.Callback):
            def __init__(cb) -> None:
                cb.step_time = cb.wait_time = 0.0
                cb.images = 0
                cb.last_end: float | None = None
                cb.t0 = 0.0

            def on_train_epoch_start(cb, trainer, module) -> None:
                cb.last_end = time.perf_counter()

            def on_train_batch_start(cb, trainer, module, batch, batch_idx) -> None:
                now = time.perf_counter()
                if cb.last_end is not None:
                    cb.wait_time += now - cb.last_end
                cb.t0 = now

            def on_train_batch_end(cb, trainer, module, outputs, batch, batch_idx) -> None:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                now = time.perf_counter()
                cb.step_time += now - cb.t0
                cb.images += len(batch[1])
                cb.last_end = now

        self.callback = _CB()


def bench_trainer(config, dataset_dir: Path, epochs: int, accelerator: str) -> dict[str, float]:
    import lightning as L

    from asteroid_ml.models.detector import DetectorCNN

    cfg = config["training"]["detector"]
    dm = CutoutDataModule(dataset_dir, batch_size=cfg["batch_size"], seed=0, augment=True,
                          cache=cfg["cache_in_memory"], num_workers=0)  # fmt: skip
    dm.setup("fit")
    model = DetectorCNN.from_config(
        cfg, 1.0, int(dm.datasets["train"].images.shape[-1]), channels=1
    )
    timer = StepTimer().callback
    precision = "bf16-mixed" if accelerator == "gpu" else "32-true"
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=epochs,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[timer],
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    total = time.perf_counter() - start
    busy = timer.step_time + timer.wait_time
    return {
        "images_per_s": timer.images / busy,
        "data_fraction": timer.wait_time / busy,
        "fit_wall_s": total,
        "precision": precision,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dataset", help="existing dataset folder (default: synthetic)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset:
            dataset_dir = Path(args.dataset)
        else:
            dataset_dir = make_synthetic_dataset(
                tmp, {"train": args.n_train, "val": 64, "test": 64}, size=32, seed=1
            )
        images = load_split_images(dataset_dir, "train")
        labels = split_labels(dataset_dir, "train", len(images))
        bs = config["training"]["detector"]["batch_size"]
        print(
            f"dataset: {len(images)} training cutouts of {images.shape[-1]} px, batch {bs}, "
            f"{args.threads} threads"
        )

        # Input pipeline alone (CPU).
        ours = CutoutDataModule(dataset_dir, batch_size=bs, seed=0, augment=True, cache=False)
        ours.setup("fit")
        ref = DataLoader(PerSampleDataset(images, labels), batch_size=bs, shuffle=True)
        for name, loader in (
            ("ours (batched, from mmap)", ours.train_dataloader()),
            ("reference (per-sample Dataset)", ref),
        ):
            time_loader(loader, 2)
            # Best of 3 passes: the machine may be shared, the minimum is the pipeline's cost.
            dt, n = min(time_loader(loader) for _ in range(3))
            print(f"  input pipeline {name:34s} {n / dt:10.0f} images/s")
            if name.startswith("ours"):
                ours_rate = n / dt
            else:
                print(f"  ratio ours / reference: {ours_rate / (n / dt):.1f}x")

        accelerators = ["cpu"] + (["gpu"] if torch.cuda.is_available() else [])
        for acc in accelerators:
            r = bench_trainer(config, dataset_dir, args.epochs, acc)
            device = torch.cuda.get_device_name(0) if acc == "gpu" else f"CPU x{args.threads}"
            print(
                f"training stamp_cnn on {device} ({r['precision']}): "
                f"{r['images_per_s']:.0f} images/s, data loading {100 * r['data_fraction']:.1f} % "
                f"of step time (target < 10 %), fit wall {r['fit_wall_s']:.1f} s"
            )


if __name__ == "__main__":
    main()
