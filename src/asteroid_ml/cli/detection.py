"""``asteroid-ml detection``: candidates, their evaluation, or the CNN's seed spread."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from asteroid_ml import paths
from asteroid_ml.cli.common import config_parent, load, threads_parent


def _run_detection(args: argparse.Namespace) -> int:
    from asteroid_ml.detection import workflow as detection

    config = load(args)
    candidates = Path(args.candidates)
    if args.step == "seeds" and args.seeds < 1:
        raise ValueError(f"--seeds: need at least 1 training, got {args.seeds}")
    if args.step != "candidates":
        import torch

        torch.set_num_threads(max(1, args.threads))
    if args.step == "candidates":
        if not args.ephemerides:
            raise ValueError("--ephemerides: give the ephemeris shards (results/ephemerides/)")
        # detection.survey is relative to the repository, as in the workflow
        detection.make_candidates(
            config, paths.REPO_ROOT / config["detection"]["survey"], args.ephemerides, candidates
        )
    elif args.step == "evaluate":
        from asteroid_ml.registry import model_names

        out = Path(args.out)
        metrics = {name: out / name / "metrics.json" for name in model_names("detection")}
        detection.evaluate_detection(
            config, candidates, metrics, candidates / "scores.parquet", args.threads,
            models_dir=args.models,
        )  # fmt: skip
    else:
        import numpy as np

        table = detection.cnn_seed_spread(
            config, candidates, args.seeds, args.out_csv, candidates / "work"
        )
        for column in ("fdr_at_target_recall", "candidate_reduction_at_target_recall", "pr_auc"):
            q = np.percentile(table[column], [0, 25, 50, 75, 100])
            print(f"{column}: median {q[2]:.4g}, quartiles {q[1]:.4g}-{q[3]:.4g}, "
                  f"range {q[0]:.4g}-{q[4]:.4g} ({len(table)} trainings)")  # fmt: skip
    return 0


def add_detection(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "detection",
        help="the detection stage: candidates, their evaluation, or the CNN's seed spread",
        description="candidates: epochs, difference images and sep candidates of the survey "
        "fields; evaluate: the CNN, forest and sequence stage, metrics.json per model; seeds: "
        "retrain the CNN with N seeds on the same candidates and report the spread of its "
        "operating point (FDR, reduction at the target recall).",
        parents=[config_parent(), threads_parent()],
    )
    p.add_argument("step", choices=("candidates", "evaluate", "seeds"))
    p.add_argument("--candidates", default=str(paths.DETECTION), help="candidates folder")
    p.add_argument("--ephemerides", nargs="*", default=[], help="ephemeris shards (candidates)")
    p.add_argument("--out", default=str(paths.EVAL), help="metrics folder (evaluate)")
    p.add_argument(
        "--models", default=str(paths.MODELS), help="folder of the saved classifiers (evaluate)"
    )
    p.add_argument("--seeds", type=int, default=5, help="trainings (seeds)")
    p.add_argument(
        "--out-csv", default=str(paths.DETECTION / "cnn_seed_spread.csv"), help="table (seeds)"
    )
    p.set_defaults(func=_run_detection)
