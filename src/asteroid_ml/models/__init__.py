"""Neural-network models: the CNN trail detector and the impactor MLP (PyTorch Lightning).

Submodules (they import torch and Lightning; this package module stays light so
that ``asteroid-ml --help`` is fast):

- :mod:`.datamodules`: memory-mapped cutout and orbital-element DataModules,
  dihedral augmentation, robust per-cutout normalisation;
- :mod:`.detector`: :class:`~.detector.DetectorCNN`;
- :mod:`.impactor`: :class:`~.impactor.ImpactorMLP`;
- :mod:`.training`: Trainer set-up, resume from ``last.ckpt``, checkpoint loading.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["train_detector", "train_impactor", "register_cli"]


def train_detector(
    config: Mapping[str, Any],
    dataset_dir: str | Path,
    model_dir: str | Path,
    threads: int = 1,
    **trainer_overrides: Any,
) -> dict[str, Any]:
    """Train ``detector_cnn`` (see :func:`asteroid_ml.models.training.train_detector`)."""
    from .training import train_detector as _train

    return _train(config, dataset_dir, model_dir, threads, **trainer_overrides)


def train_impactor(
    config: Mapping[str, Any],
    elements_path: str | Path,
    model_dir: str | Path,
    threads: int = 1,
    **trainer_overrides: Any,
) -> dict[str, Any]:
    """Train ``impactor_mlp`` (see :func:`asteroid_ml.models.training.train_impactor`)."""
    from .training import train_impactor as _train

    return _train(config, elements_path, model_dir, threads, **trainer_overrides)


def _cli_train(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config

    config = load_config(args.config)
    dataset = Path(args.dataset)
    model_dir = Path(args.out) / ("detector_cnn" if args.task == "detector" else "impactor_mlp")
    if args.task == "detector":
        train_detector(config, dataset, model_dir, args.threads)
    else:
        train_impactor(config, dataset / "elements.parquet", model_dir, args.threads)
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the CNN detector or the impactor MLP on an assembled dataset",
        description="Train a Lightning model; resumes from <out>/<model>/work/checkpoints/last.ckpt after an interruption.",
    )
    p.add_argument("task", choices=["detector", "impactor"])
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--dataset", default="results/dataset", help="dataset folder")
    p.add_argument("--out", default="results/models", help="models folder")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.set_defaults(func=_cli_train)
