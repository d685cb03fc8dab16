"""Simulation sub-commands: ``simulate``, ``ephemerides`` and ``close-approaches``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from asteroid_ml.cli.common import config_parent, load


def add_simulate(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulate one shard of impactors or background", parents=[config_parent()]
    )
    p.add_argument("--population", choices=("impactor", "background"), required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--output", required=True, help="output Parquet path")
    p.set_defaults(func=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    from asteroid_ml.simulation.populations import simulate_shard

    config = load(args)
    simulate_shard(config, args.population, args.shard, Path(args.output))
    return 0


def add_ephemerides(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ephemerides", help="ephemerides of a simulation shard", parents=[config_parent()]
    )
    p.add_argument("--sim", required=True, help="simulation shard Parquet")
    p.add_argument("--output", required=True, help="output Parquet path")
    p.set_defaults(func=_run_ephemerides)


def _run_ephemerides(args: argparse.Namespace) -> int:
    from asteroid_ml.simulation.ephemeris import compute_ephemerides

    config = load(args)
    compute_ephemerides(config, args.sim, args.output)
    return 0


def add_close_approaches(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "close-approaches",
        help="Earth close approaches of objects in a time window",
        description="Precise Earth close approaches (REBOUND IAS15, planets reset to astropy's "
        "built-in ephemeris, Sun's 1PN term). Dates are TDB.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--elements", help="a=..,e=..,i=..,om=..,w=..,ma=.. (au, deg; heliocentric ecliptic J2000)"
    )
    src.add_argument("--catalog", help="SBDB-style CSV with pdes,a,e,i,om,w,ma,epoch")
    p.add_argument("--epoch", type=float, help="epoch of --elements, JD TDB")
    p.add_argument("--des", default="object", help="designation for --elements")
    p.add_argument("--start", required=True, help="window start, ISO date (TDB)")
    p.add_argument("--end", required=True, help="window end, ISO date (TDB)")
    p.add_argument(
        "--max-dist-au",
        type=float,
        default=0.05,
        help="largest distance, au (default 0.05, as JPL's CAD)",
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--mode", choices=("reset", "free"), default="reset")
    p.add_argument("--output", help="write here instead of stdout")
    p.set_defaults(func=_run_close_approaches)


def _run_close_approaches(args: argparse.Namespace) -> int:
    from asteroid_ml.simulation.close_approach import (
        ELEMENT_KEYS,
        PropagationSettings,
        find_close_approaches,
        load_catalog,
        parse_elements,
        parse_iso_tdb,
    )

    if not (math.isfinite(args.max_dist_au) and args.max_dist_au > 0):
        raise ValueError(f"--max-dist-au must be a positive number of au, got {args.max_dist_au}")
    start = parse_iso_tdb(args.start, "--start")
    end = parse_iso_tdb(args.end, "--end")
    if args.elements is not None:
        if args.epoch is None:
            raise ValueError("--epoch is required with --elements")
        elements: Any = {**parse_elements(args.elements), "epoch": args.epoch, "des": args.des}
    else:
        elements = load_catalog(args.catalog)[["des", *ELEMENT_KEYS, "epoch"]]
    table = find_close_approaches(
        elements, start, end, args.max_dist_au, settings=PropagationSettings(mode=args.mode)
    )
    if args.format == "csv":
        # 15 significant digits: JD to ~1e-8 d, distances to ~1e-15 relative.
        text = table.to_csv(index=False, float_format="%.15g")
    else:
        text = json.dumps(table.to_dict(orient="records"), indent=2) + "\n"
    if args.output:
        from asteroid_ml.io import atomic_output

        with atomic_output(args.output) as tmp:
            Path(tmp).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
