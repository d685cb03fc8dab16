"""``asteroid-ml plan-targets`` and ``asteroid-ml dataset``: the dataset stage's commands.

Both wrap the functions called by the Snakemake rules ``cutout_targets`` and
``assemble_dataset`` with the same arguments, so a rule can be rerun by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asteroid_ml.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config


def _run_plan(args: argparse.Namespace) -> int:
    from asteroid_ml.dataset.targets import plan_cutout_targets

    config = load_config(args.config)
    location = args.survey or config["survey"]["location"]
    if "://" not in location and not Path(location).is_absolute() and not Path(location).exists():
        location = str(REPO_ROOT / location)  # relative config paths are relative to the repository
    plan_cutout_targets(config, args.ephemerides, args.output, location)
    return 0


def _run_dataset(args: argparse.Namespace) -> int:
    from asteroid_ml.dataset.assemble import assemble_dataset

    config = load_config(args.config)
    manifests = args.cutout_manifests or [
        str(Path(p).with_suffix(".parquet")) for p in args.cutouts
    ]
    card = assemble_dataset(
        config, args.targets, args.cutouts, manifests, args.ephemerides, args.sims,
        args.output_dir, workers=args.workers,
    )  # fmt: skip
    summary = {split: card["counts"][split]["n"] for split in ("train", "val", "test")}
    print(
        json.dumps({"samples": summary, "samples_per_s": round(card["timing"]["samples_per_s"], 1)})
    )
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    plan = subparsers.add_parser(
        "plan-targets",
        help="plan the sky cutouts (one per simulated observation + negatives)",
        description="Write results/cutouts/targets.parquet: one positive target per (object, "
        "observation) of the ephemerides (the object's own position when the survey covers it, "
        "else a random covered position) plus negatives at random covered positions, grouped "
        "by HiPS tile into survey.shards balanced cutout shards.",
    )
    plan.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="workflow YAML config")
    plan.add_argument(
        "--ephemerides",
        nargs="+",
        required=True,
        metavar="PARQUET",
        help="ephemeris shards (results/ephemerides/{population}/shard-*.parquet)",
    )
    plan.add_argument(
        "--survey",
        default=None,
        metavar="LOCATION",
        help="HiPS survey folder or http(s)/s3 URL (default: survey.location)",
    )
    plan.add_argument(
        "--output",
        default="results/cutouts/targets.parquet",
        metavar="PARQUET",
        help="output plan (default: %(default)s)",
    )
    plan.set_defaults(func=_run_plan)

    ds = subparsers.add_parser(
        "dataset",
        help="assemble the dataset: inject asteroids and artefacts into cutouts, split, store",
        description="Inject the simulated asteroids (trailed PSF, photon noise) and the hard "
        "negatives into the real sky cutouts, split by a hash of the object id, and write "
        "OUTPUT_DIR/{train,val,test}.npy, manifest.parquet, elements.parquet and card.json "
        "(byte-identical for the same config and seed, whatever the shard counts).",
        epilog="Example (what rule assemble_dataset runs): asteroid-ml dataset --config "
        "config/config.yaml --targets results/cutouts/targets.parquet --cutouts "
        "results/cutouts/shard-0000.npy results/cutouts/shard-0001.npy --ephemerides "
        "results/ephemerides/*/shard-*.parquet --sims results/sim/*/shard-*.parquet "
        "--output-dir results/dataset",
    )
    ds.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="workflow YAML config")
    ds.add_argument(
        "--targets",
        required=True,
        metavar="PARQUET",
        help="cutout plan (results/cutouts/targets.parquet)",
    )
    ds.add_argument(
        "--cutouts",
        nargs="+",
        required=True,
        metavar="NPY",
        help="cutout shards in shard order (results/cutouts/shard-K.npy)",
    )
    ds.add_argument(
        "--cutout-manifests",
        nargs="+",
        default=None,
        metavar="PARQUET",
        help="their manifests, same order (default: each NPY with suffix .parquet)",
    )
    ds.add_argument(
        "--ephemerides",
        nargs="+",
        required=True,
        metavar="PARQUET",
        help="ephemeris shards (rate, position angle, V magnitude of each observation)",
    )
    ds.add_argument(
        "--sims",
        nargs="+",
        required=True,
        metavar="PARQUET",
        help="simulation shards (orbital elements for elements.parquet)",
    )
    ds.add_argument(
        "--output-dir",
        default="results/dataset",
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    ds.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes injecting in parallel; the output bytes do not depend on it "
        "(default: %(default)s)",
    )
    ds.set_defaults(func=_run_dataset)
