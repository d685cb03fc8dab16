"""The ``asteroid-ml`` command line.

Each stage module contributes its own sub-commands through a function
``register_cli(subparsers)`` that adds parsers and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code). Stage
modules keep heavy imports (AMUSE, torch) inside their functions so that
``asteroid-ml --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from asteroid_ml import __version__

#: Modules that register sub-commands, in the order of the workflow.
COMMAND_MODULES = (
    "asteroid_ml.config_cli",
    "asteroid_ml.simulate",
    "asteroid_ml.ephemeris",
    "asteroid_ml.close_approach",
    "asteroid_ml.hips",
    "asteroid_ml.dataset",
    "asteroid_ml.models",
    "asteroid_ml.baselines",
    "asteroid_ml.evaluate",
    "asteroid_ml.figures",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asteroid-ml",
        description="Asteroid-impactor ML workflow: simulation, HiPS cutouts, datasets, models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a stage not written yet
                raise
            continue
        register = getattr(module, "register_cli", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, OSError) as exc:
        # Bad input: one clear line (the exception text names the file and field), no traceback.
        logging.getLogger("asteroid_ml").debug("traceback", exc_info=True)
        print(f"asteroid-ml {args.command}: error: {exc}", file=sys.stderr)
        return 1
