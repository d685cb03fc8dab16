"""The ``asteroid-ml`` command line: one module per stage, wired here.

Each stage module has ``add_<command>`` functions (the sub-command's arguments, with the
shared ``--config``/``--threads`` parents of :mod:`.common`) whose handler loads the config
and calls the function the Snakemake rule calls, with the same arguments, so that any rule
can be rerun by hand. Default paths come from :mod:`asteroid_ml.paths`. Heavy imports
(AMUSE, torch, matplotlib) stay inside the handlers so that ``asteroid-ml --help`` is fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from asteroid_ml import __version__
from asteroid_ml.cli import configuration, detection, figures, frames, models, simulation, sky

#: Sub-commands in the order of the workflow.
COMMANDS = (
    configuration.add_validate_config,
    simulation.add_simulate,
    simulation.add_ephemerides,
    simulation.add_close_approaches,
    sky.add_plan_targets,
    sky.add_cutouts,
    sky.add_dataset,
    models.add_train,
    models.add_baseline,
    detection.add_detection,
    frames.add_find_movers,
    frames.add_real_frames,
    models.add_evaluate,
    figures.add_figure,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asteroid-ml",
        description="Asteroid-impactor ML workflow: simulation, HiPS cutouts, datasets, models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
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
