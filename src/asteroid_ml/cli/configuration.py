"""``asteroid-ml validate-config``: the config files as the workflow reads them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from asteroid_ml.paths import DEFAULT_CONFIG_PATH


def _run_validate_config(args: argparse.Namespace) -> int:
    from asteroid_ml.config import config_layers, key_sources, overlay, validate_config

    layers = config_layers(args.config or [DEFAULT_CONFIG_PATH], args.replace)
    config = validate_config(overlay(layers), source=layers[-1][0])
    if args.show:
        print(json.dumps(config, indent=2, sort_keys=True))
    elif args.sources:
        for key, source in sorted(key_sources(layers, config).items()):
            print(f"{key}\t{source}")
    else:
        print(f"{' over '.join(name for name, _ in reversed(layers))}: valid")
    return 0


def add_validate_config(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate-config",
        help="validate config files as the workflow reads them (laid over config/config.yaml)",
    )
    p.add_argument("config", nargs="*", help="YAML config files, in --configfile order")
    p.add_argument("--show", action="store_true", help="print the config with defaults filled in")
    p.add_argument(
        "--sources", action="store_true", help="print each key and the file it came from"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="read the files alone, as snakemake --replace-workflow-config (they must be complete)",
    )
    p.set_defaults(func=_run_validate_config)
