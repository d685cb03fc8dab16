"""Model sub-commands: ``train`` (Lightning), ``baseline`` (scikit-learn) and ``evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from asteroid_ml import paths
from asteroid_ml.cli.common import config_parent, load, threads_parent
from asteroid_ml.registry import MODELS, TASKS, evaluated_models, model_names


def _add_folders(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=str(paths.DATASET), help="dataset folder")
    p.add_argument("--out", default=str(paths.MODELS), help="models folder")


def _simulated_forward_runs(folder: str) -> tuple[list[Path], list[Path]]:
    """Forward-run tables of the simulated populations under ``folder`` and their element
    series (``{population}/shard-K.parquet`` and ``series-K.npy``, as the rules write them)."""
    tables = sorted(Path(folder).glob("[ib]*/shard-*.parquet"))
    return tables, [
        t.with_name(t.name.replace("shard-", "series-")).with_suffix(".npy") for t in tables
    ]


def _run_train(args: argparse.Namespace) -> int:
    from asteroid_ml.models.training import train_detector, train_impactor, train_series

    config = load(args)
    dataset = Path(args.dataset)
    model_dir = Path(args.out) / args.model
    inputs = MODELS[args.model].inputs
    if inputs == "images":
        train_detector(config, dataset, model_dir, args.threads)
    elif inputs == "elements":
        train_impactor(config, dataset / "elements.parquet", model_dir, args.threads)
    else:
        tables, series = _simulated_forward_runs(args.forward)
        train_series(config, dataset / "elements.parquet", tables, series, model_dir, args.threads)
    return 0


def add_train(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a Lightning model (detector CNN, impactor MLP, element-series network)",
        description="Train a Lightning model; resumes from <out>/<model>/work/checkpoints/last.ckpt after an interruption.",
        parents=[config_parent(), threads_parent("torch CPU threads")],
    )
    p.add_argument("model", choices=model_names(framework="lightning"))
    p.add_argument(
        "--forward",
        default=str(paths.FORWARD),
        help="forward runs and element series (series model)",
    )
    _add_folders(p)
    p.set_defaults(func=_run_train)


def _run_baseline(args: argparse.Namespace) -> int:
    from asteroid_ml.models.baselines import train_detector_baseline, train_impactor_baseline

    config = load(args)
    dataset = Path(args.dataset)
    (name,) = model_names(args.task, "sklearn")
    output = Path(args.out) / name / MODELS[name].filename
    if args.task == "detector":
        train_detector_baseline(config, dataset, output, args.threads)
    else:
        train_impactor_baseline(config, dataset / "elements.parquet", output, args.threads)
    return 0


def add_baseline(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="fit a scikit-learn random-forest baseline (detector or impactor)",
        parents=[config_parent(), threads_parent("parallel jobs of the forest")],
    )
    p.add_argument("task", choices=TASKS)
    _add_folders(p)
    p.set_defaults(func=_run_baseline)


def _run_evaluate(args: argparse.Namespace) -> int:
    from asteroid_ml.evaluation.real_catalog import hoi_real_catalog
    from asteroid_ml.evaluation.scoring import eval_summary, evaluate_model

    config = load(args)
    models = Path(args.models)
    out = Path(args.out)
    names = args.model or evaluated_models()
    forward, series = _simulated_forward_runs(args.forward)
    for name in names:
        evaluate_model(
            config,
            name,
            models / name / MODELS[name].filename,
            args.dataset,
            out / name / "metrics.json",
            out / name / "predictions.parquet",
            args.threads,
            forward_paths=forward,
            series_paths=series,
        )
    eval_summary([out / n / "metrics.json" for n in names], out / "summary.csv")
    if args.catalog:
        hoi = config["evaluation"]["hoi_model"]
        hoi_real_catalog(
            config,
            models / hoi / MODELS[hoi].filename,
            out / hoi / "metrics.json",
            args.catalog,
            out / "hoi_real_catalog.parquet",
            out / "hoi_real_catalog.json",
            args.threads,
        )
    return 0


def add_evaluate(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate trained models on the test split (and the real NEO catalog)",
        parents=[config_parent(), threads_parent()],
    )
    p.add_argument(
        "--model", action="append", choices=sorted(evaluated_models()), help="model(s); default all"
    )
    p.add_argument("--dataset", default=str(paths.DATASET), help="dataset folder")
    p.add_argument("--models", default=str(paths.MODELS), help="models folder")
    p.add_argument("--out", default=str(paths.EVAL), help="evaluation folder")
    p.add_argument("--catalog", help="real NEO catalog CSV (e.g. resources/neo/neos-2020.csv)")
    p.add_argument(
        "--forward", default=str(paths.FORWARD), help="forward runs of the simulated objects"
    )
    p.set_defaults(func=_run_evaluate)
