"""``asteroid-ml validate-config``: check a config file against the schema."""

from __future__ import annotations

import argparse
import json

from asteroid_ml.config import DEFAULT_CONFIG_PATH, load_config


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.show:
        print(json.dumps(config, indent=2, sort_keys=True))
    else:
        print(f"{args.config}: valid")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate-config", help="validate a workflow config file against the JSON schema"
    )
    p.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG_PATH), help="YAML config file")
    p.add_argument("--show", action="store_true", help="print the config with defaults filled in")
    p.set_defaults(func=_run)
