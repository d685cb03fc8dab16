"""Sky sub-commands: ``plan-targets``, ``cutouts`` (HiPS) and ``dataset``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from asteroid_ml import paths
from asteroid_ml.cli.common import config_parent, load, positive_int


def add_plan_targets(subparsers: Any) -> None:
    plan = subparsers.add_parser(
        "plan-targets",
        help="plan the sky cutouts (one per simulated observation + negatives)",
        description=f"Write {paths.CUTOUT_TARGETS}: one positive target per (object, "
        "observation) of the ephemerides (the object's own position when the survey covers it, "
        "else a random covered position) plus negatives at random covered positions, grouped "
        "by HiPS tile into survey.shards balanced cutout shards.",
        parents=[config_parent()],
    )
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
        default=str(paths.CUTOUT_TARGETS),
        metavar="PARQUET",
        help="output plan (default: %(default)s)",
    )
    plan.set_defaults(func=_run_plan_targets)


def add_dataset(subparsers: Any) -> None:
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
        parents=[config_parent()],
    )
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
        default=str(paths.DATASET),
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    ds.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="processes injecting in parallel; the output bytes do not depend on it "
        "(default: %(default)s)",
    )
    ds.set_defaults(func=_run_dataset)


def _run_plan_targets(args: argparse.Namespace) -> int:
    from asteroid_ml.hips.targets import plan_cutout_targets

    config = load(args)
    location = args.survey or config["survey"]["location"]
    if "://" not in location and not Path(location).is_absolute() and not Path(location).exists():
        location = str(
            paths.REPO_ROOT / location
        )  # relative config paths are relative to the repository
    plan_cutout_targets(config, args.ephemerides, args.output, location)
    return 0


def _run_cutouts(args: argparse.Namespace) -> int:
    """``asteroid-ml cutouts``: the rule's :func:`~asteroid_ml.hips.extract_shard` on every row
    of the user's table, with the config's survey settings unless an option overrides one."""
    from asteroid_ml.hips import extract_shard
    from asteroid_ml.hips.workflow import check_cutout_request, read_positions

    config = load(args)
    survey = config["survey"]
    options = {"cutout_size": args.size, "pixel_scale_arcsec": args.pixel_scale,
               "interpolation": args.interpolation, "order": args.order, "workers": args.workers,
               "cache_dir": args.cache_dir, "http_timeout_s": args.timeout,
               "http_retries": args.retries}  # fmt: skip
    survey.update({key: value for key, value in options.items() if value is not None})
    survey["location"] = args.survey
    check_cutout_request(
        len(read_positions(args.targets)), int(survey["cutout_size"]), survey["pixel_scale_arcsec"]
    )
    output = Path(args.output)
    extract_shard(config, args.targets, None, output / "cutouts.npy",
                  output / "manifest.parquet", args.survey)  # fmt: skip
    print(f"{survey['cutout_size']} px cutouts -> {output / 'cutouts.npy'}, "
          f"{output / 'manifest.parquet'}")  # fmt: skip
    return 0


def add_cutouts(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "cutouts",
        help="cut square TAN images out of a HiPS survey around RA/Dec positions",
        description=(
            "Extract SIZE x SIZE cutouts (TAN, north up, east left) from a HiPS survey "
            "(local folder, http(s):// or s3:// URL) around each row of a CSV/Parquet table "
            "with columns ra,dec (or ra_deg,dec_deg) in degrees, with the function rule "
            "`cutouts` runs. Writes OUTPUT/cutouts.npy (float32, NaN = blank) and "
            "OUTPUT/manifest.parquet. Settings not given as options come from the config's "
            "survey section."
        ),
        parents=[config_parent()],
    )
    p.add_argument("--survey", required=True, help="HiPS folder or http(s)/s3 URL")
    p.add_argument("--targets", required=True, help="CSV or Parquet with ra,dec in degrees")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--size", type=positive_int, help="cutout side in pixels (survey.cutout_size)")
    p.add_argument(
        "--pixel-scale", type=float, help="pixel side in arcsec (survey.pixel_scale_arcsec)"
    )
    p.add_argument("--interpolation", choices=["nearest", "bilinear"], help="survey.interpolation")
    p.add_argument("--order", type=int, help="tile order (survey.order)")
    p.add_argument("--cache-dir", help="tile cache for remote surveys (survey.cache_dir)")
    p.add_argument("--timeout", type=float, help="HTTP/S3 timeout, s (survey.http_timeout_s)")
    p.add_argument(
        "--retries", type=int, help="retries on 5xx/connection errors (survey.http_retries)"
    )
    p.add_argument(
        "--workers", type=positive_int, help="threads extracting in parallel (survey.workers)"
    )
    p.set_defaults(func=_run_cutouts)


def _run_dataset(args: argparse.Namespace) -> int:
    from asteroid_ml.dataset.assemble import assemble_dataset

    config = load(args)
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
