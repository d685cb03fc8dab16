"""Trainer set-up shared by the detector and the impactor classifier.

Layout of ``results/models/{model}/``:

- ``best.ckpt``, ``last.ckpt``, ``metrics.csv``: the rule's outputs, copied in
  atomically when training has finished;
- ``work/``: Lightning's live checkpoints (``work/checkpoints/last.ckpt`` every epoch) and
  CSV log, plus ``work/run.json`` (a fingerprint of the config section and the
  inputs). It is not a Snakemake output, so Snakemake does not delete it when
  a job is killed: rerunning the rule resumes from ``work/checkpoints/last.ckpt`` when the
  fingerprint matches, and starts afresh (deleting ``work/``) when it does not.

Reproducibility: ``seed_everything`` at the start, and the torch generator is
re-seeded from ``(seed, epoch, batch)`` before every training step (dropout masks),
like the batch order and augmentations (see :mod:`.datamodules`). A resumed run
therefore ends with exactly the weights of an uninterrupted one (on CPU).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from asteroid_ml.io import atomic_output, config_hash, sha256_file
from asteroid_ml.seeds import rng_for
from asteroid_ml.workflow_support import PROGRESS_INTERVAL_S

from .datamodules import CutoutDataModule, ElementsDataModule
from .detector import DetectorCNN
from .impactor import ImpactorMLP

log = logging.getLogger(__name__)

WORK_DIR = "work"


class BatchReseed(Callback):
    """Re-seed torch's global generator from (seed, epoch, batch) before every training step.

    Dropout draws from the global generator, which other code also consumes
    (a DataLoader iterator draws its base seed from it, at a point in the loop
    that differs between a fresh and a resumed run). Seeding per step makes the
    masks a pure function of (seed, epoch, batch).
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        draw = rng_for(self.seed, "torch_step", trainer.current_epoch, batch_idx).integers(2**62)
        torch.manual_seed(int(draw))


class ProgressLog(Callback):
    """One log line per epoch (epoch, losses, accuracies, seconds), and a line inside an
    epoch whenever :data:`~asteroid_ml.workflow_support.PROGRESS_INTERVAL_S` pass without
    one: the job log and the console show a long training is alive and converging."""

    def __init__(self, name: str, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self.name, self.interval_s = name, interval_s
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            log.info(
                "%s epoch %d/%d: batch %d/%s (%.0f s)", self.name, trainer.current_epoch + 1,
                trainer.max_epochs, args[-1] + 1, trainer.num_training_batches, now - self._start,
            )  # fmt: skip

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = now = time.monotonic()
        metrics = {k: float(v) for k, v in sorted(trainer.callback_metrics.items())}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        log.info(
            "%s epoch %d/%d: %s (%.0f s)", self.name, trainer.current_epoch + 1,
            trainer.max_epochs, shown, now - self._start,
        )  # fmt: skip


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16-mixed`` on a CUDA GPU that supports it, else ``32-true``."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _fingerprint(config: Mapping[str, Any], section: str, inputs: list[Path]) -> dict[str, Any]:
    files = {}
    for path in inputs:
        # Small tables are hashed; large image arrays are identified by size and mtime.
        stat = path.stat()
        files[path.name] = (
            sha256_file(path) if stat.st_size < 64 << 20 else f"{stat.st_size}:{stat.st_mtime_ns}"
        )
    return {
        "config": config_hash({"seed": config["seed"], "training": config["training"]}),
        "section": section,
        "inputs": files,
    }


def prepare_work_dir(model_dir: Path, fingerprint: dict[str, Any]) -> Path | None:
    """Create ``model_dir/work``; return the checkpoint to resume from, if any."""
    work = model_dir / WORK_DIR
    run_file = work / "run.json"
    last = work / "checkpoints" / "last.ckpt"
    if work.exists():
        same = run_file.is_file() and json.loads(run_file.read_text()) == fingerprint
        if same and last.is_file():
            log.info("resuming interrupted training from %s", last)
            return last
        log.info("discarding stale training state in %s (config or inputs changed)", work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    run_file.write_text(json.dumps(fingerprint, sort_keys=True))
    return None


#: Lightning warnings that say nothing about this workflow (batches are built vectorised in the
#: main process; SLURM jobs are started by Snakemake, not srun; a torch-internal deprecation).
_IRRELEVANT_WARNINGS = (
    ".*does not have many workers.*",
    ".*The `srun` command is available.*",
    ".*LeafSpec.*",
    # Only a resumed run finds checkpoints there (a stale work dir is discarded first).
    ".*Checkpoint directory .* exists and is not empty.*",
)


def _not_an_advert(record: logging.LogRecord) -> bool:
    """Drop Lightning's "Tip: try installing litlogger" line (printed at every Trainer)."""
    return "litlogger" not in record.getMessage()


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.addFilter(_not_an_advert)
    try:
        with warnings.catch_warnings():
            for pattern in _IRRELEVANT_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        rank_zero.removeFilter(_not_an_advert)


def build_trainer(
    config: Mapping[str, Any],
    work: Path,
    max_epochs: int,
    patience: int,
    *,
    name: str = "model",
    enable_progress_bar: bool = False,
    limit_train_batches: int | float | None = None,
    extra_callbacks: tuple[Callback, ...] = (),
) -> L.Trainer:
    """A Trainer from the ``training`` config section, writing into ``work``.

    ``extra_callbacks`` are appended (tests use one to interrupt a run).
    """
    train_cfg = config["training"]
    precision = resolve_precision(train_cfg["precision"])
    on_gpu = torch.cuda.is_available() and train_cfg["accelerator"] in ("auto", "gpu", "cuda")
    deterministic: bool | str = bool(train_cfg["deterministic"])
    if deterministic and on_gpu:
        # cuBLAS needs a fixed workspace for reproducible matmuls; kernels without a
        # deterministic CUDA version only warn instead of stopping the run.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        deterministic = "warn"
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=work / "checkpoints",
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            save_last=True,
            enable_version_counter=False,
        ),
        EarlyStopping(monitor="val_loss", mode="min", patience=patience),
        BatchReseed(config["seed"]),
        ProgressLog(name),
        *extra_callbacks,
    ]
    with _quiet_lightning():
        return L.Trainer(
            accelerator=train_cfg["accelerator"],
            devices=1,
            precision=precision,
            max_epochs=max_epochs,
            deterministic=deterministic,
            callbacks=callbacks,
            # A fresh version folder per (re)start: CSVLogger overwrites an existing file.
            logger=CSVLogger(save_dir=work, name="logs", version=f"run{_n_log_runs(work):03d}"),
            log_every_n_steps=1,
            enable_progress_bar=enable_progress_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_train_batches=limit_train_batches,
            default_root_dir=work,
        )


def _n_log_runs(work: Path) -> int:
    logs = work / "logs"
    return len(list(logs.glob("run*"))) if logs.is_dir() else 0


def epoch_metrics(*raw_csvs: Path) -> pd.DataFrame:
    """One row per epoch from Lightning's CSVLogger file(s) (train and val rows merged).

    Several files (one per start of an interrupted-then-resumed run) are read in
    order; an epoch logged twice (a partial epoch before the interruption) takes
    the later values.
    """
    frames = [
        pd.read_csv(path) for path in raw_csvs if Path(path).is_file() and Path(path).stat().st_size
    ]
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "epoch" not in raw.columns:
        raise ValueError(f"{list(map(str, raw_csvs))}: no 'epoch' column (nothing logged?)")
    raw = raw.dropna(subset=["epoch"])
    raw["epoch"] = raw["epoch"].astype(int)
    merged = raw.groupby("epoch", sort=True).last().reset_index()
    first = ["epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc"]
    order = [c for c in first if c in merged] + sorted(c for c in merged if c not in first)
    return merged[order]


def finalise(model_dir: Path, trainer: L.Trainer) -> dict[str, Any]:
    """Copy best/last checkpoints and the per-epoch metrics into ``model_dir``; drop ``work/``."""
    work = model_dir / WORK_DIR
    checkpoint = trainer.checkpoint_callback
    last = work / "checkpoints" / "last.ckpt"
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else last
    for source, name in ((best, "best.ckpt"), (last, "last.ckpt")):
        with atomic_output(model_dir / name) as tmp:
            shutil.copyfile(source, tmp)
    metrics = epoch_metrics(*sorted((work / "logs").glob("run*/metrics.csv")))
    with atomic_output(model_dir / "metrics.csv") as tmp:
        metrics.to_csv(tmp, index=False, float_format="%.6g")
    summary = {
        "best_val_loss": float(checkpoint.best_model_score)
        if checkpoint.best_model_score is not None
        else float("nan"),
        "epochs": int(metrics["epoch"].max()) + 1,
        "final_train_loss": float(metrics["train_loss"].dropna().iloc[-1]),
    }
    shutil.rmtree(work)
    return summary


def _fit(model, datamodule, trainer: L.Trainer, resume: Path | None) -> None:
    with _quiet_lightning():
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume) if resume else None)


def train_detector(
    config: Mapping[str, Any],
    dataset_dir: str | Path,
    model_dir: str | Path,
    threads: int = 1,
    **trainer_overrides: Any,
) -> dict[str, Any]:
    """Train the CNN detector on ``{dataset_dir}/{train,val}.npy``; write ``model_dir``.

    Returns a small summary (best validation loss, epochs run, final train loss).
    """
    torch.set_num_threads(max(1, int(threads)))
    dataset_dir, model_dir = Path(dataset_dir), Path(model_dir)
    cfg = config["training"]["detector"]
    inputs = [dataset_dir / "manifest.parquet", dataset_dir / "train.npy", dataset_dir / "val.npy"]
    resume = prepare_work_dir(model_dir, _fingerprint(config, "detector", inputs))
    L.seed_everything(config["seed"], workers=True, verbose=False)
    datamodule = CutoutDataModule(
        dataset_dir,
        batch_size=cfg["batch_size"],
        seed=config["seed"],
        augment=cfg["augment"],
        cache=cfg["cache_in_memory"],
        num_workers=config["training"]["num_workers"],
    )
    datamodule.setup("fit")
    labels = datamodule.datasets["train"].labels.numpy()
    pos_weight = _pos_weight(cfg["pos_weight"], labels)
    model = DetectorCNN.from_config(
        cfg, pos_weight, int(datamodule.datasets["train"].images.shape[-1]), channels=1
    )
    trainer = build_trainer(
        config, model_dir / WORK_DIR, cfg["max_epochs"], cfg["patience"],
        name="stamp_cnn", **trainer_overrides,
    )  # fmt: skip
    log.info(
        "training stamp_cnn: %d parameters, precision %s, %d threads",
        sum(p.numel() for p in model.parameters()),
        trainer.precision,
        torch.get_num_threads(),
    )
    _fit(model, datamodule, trainer, resume)
    summary = finalise(model_dir, trainer)
    log.info("stamp_cnn done: %s", summary)
    return summary


def train_impactor(
    config: Mapping[str, Any],
    elements_path: str | Path,
    model_dir: str | Path,
    threads: int = 1,
    **trainer_overrides: Any,
) -> dict[str, Any]:
    """Train the impactor MLP on ``elements.parquet``; write ``model_dir``."""
    torch.set_num_threads(max(1, int(threads)))
    elements_path, model_dir = Path(elements_path), Path(model_dir)
    cfg = config["training"]["impactor"]
    resume = prepare_work_dir(model_dir, _fingerprint(config, "impactor", [elements_path]))
    L.seed_everything(config["seed"], workers=True, verbose=False)
    datamodule = ElementsDataModule(
        elements_path, cfg["features"], batch_size=cfg["batch_size"], seed=config["seed"]
    )
    datamodule.setup("fit")
    labels = datamodule.tensors["train"][1].numpy()
    model = ImpactorMLP.from_config(cfg, _pos_weight(cfg["pos_weight"], labels))
    return _fit_standardised(
        config, cfg, model, datamodule, model_dir, resume, "impactor_mlp", trainer_overrides
    )


def train_series(
    config: Mapping[str, Any],
    elements_path: str | Path,
    forward_paths: Sequence[str | Path],
    series_paths: Sequence[str | Path],
    model_dir: str | Path,
    threads: int = 1,
    **trainer_overrides: Any,
) -> dict[str, Any]:
    """Train the element-series network (:mod:`asteroid_ml.models.series`); write ``model_dir``."""
    from asteroid_ml.models.datamodules import SeriesDataModule
    from asteroid_ml.models.series import ImpactorSeriesNet, read_series

    torch.set_num_threads(max(1, int(threads)))
    elements_path, model_dir = Path(elements_path), Path(model_dir)
    cfg = config["training"]["series"]
    inputs = [elements_path, *map(Path, forward_paths), *map(Path, series_paths)]
    resume = prepare_work_dir(model_dir, _fingerprint(config, "series", inputs))
    L.seed_everything(config["seed"], workers=True, verbose=False)
    ids, raw = read_series(forward_paths, series_paths, "object_id")
    datamodule = SeriesDataModule(
        elements_path, ids, raw, batch_size=cfg["batch_size"], seed=config["seed"]
    )
    datamodule.setup("fit")
    labels = datamodule.tensors["train"][1].numpy()
    model = ImpactorSeriesNet.from_config(cfg, raw.shape[1], _pos_weight(cfg["pos_weight"], labels))
    return _fit_standardised(
        config, cfg, model, datamodule, model_dir, resume, "impactor_series", trainer_overrides
    )


def _fit_standardised(
    config: Mapping[str, Any],
    cfg: Mapping[str, Any],
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    model_dir: Path,
    resume: Path | None,
    name: str,
    trainer_overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """Store the train-split standardisation in ``model``, fit it and write ``model_dir``."""
    model.set_standardisation(datamodule.mean, datamodule.std)
    trainer = build_trainer(
        config, model_dir / WORK_DIR, cfg["max_epochs"], cfg["patience"],
        name=name, **trainer_overrides,
    )  # fmt: skip
    _fit(model, datamodule, trainer, resume)
    summary = finalise(model_dir, trainer)
    log.info("%s done: %s", name, summary)
    return summary


def _pos_weight(setting: float | str, labels: np.ndarray) -> float:
    """``'balanced'`` -> n_negative / n_positive of the training labels; a number as is."""
    if setting == "balanced":
        n_pos = float(np.sum(labels == 1))
        if n_pos == 0:
            raise ValueError("training split has no positive samples")
        return float(np.sum(labels == 0)) / n_pos
    return float(setting)


# --- loading and scoring ---------------------------------------------------------


def _model_class(name: str) -> type[L.LightningModule]:
    """The LightningModule of a task (``detector``, ``impactor``) or model name."""
    from asteroid_ml.models.series import ImpactorSeriesNet

    classes = {
        "detector": DetectorCNN,
        "impactor": ImpactorMLP,
        "impactor_series": ImpactorSeriesNet,
    }
    return classes[name]


def load_checkpoint(path: str | Path, task: str) -> L.LightningModule:
    """Rebuild a trained model from a checkpoint with ``torch.load(weights_only=True)``.

    The checkpoint holds only tensors and plain Python values, so no pickled
    code runs on load. Returns the model in eval mode on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = _model_class(task)(**ckpt["hyper_parameters"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


@torch.inference_mode()
def score_batches(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Sigmoid scores (N,) float64 of ``model`` on inputs ``x`` (first axis = sample)."""
    model.eval()
    out = [
        torch.sigmoid(model(x[i : i + batch_size]).float()) for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out).double().numpy() if out else np.zeros(0)
