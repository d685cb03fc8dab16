"""What the sub-commands share: the ``--config`` and ``--threads`` options and the config loader."""

from __future__ import annotations

import argparse
from typing import Any

from asteroid_ml.paths import DEFAULT_CONFIG_PATH


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def config_parent() -> argparse.ArgumentParser:
    """``--config FILE``: a workflow YAML laid over ``config/config.yaml``, as the workflow reads
    a ``--configfile`` (default: ``config/config.yaml`` alone)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", default=None, metavar="YAML",
        help="workflow config laid over config/config.yaml (default: config/config.yaml)",
    )  # fmt: skip
    return parent


def threads_parent(what: str = "CPU threads") -> argparse.ArgumentParser:
    """``--threads N`` (default 1)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--threads", type=positive_int, default=1, help=f"{what} (default 1)")
    return parent


def load(args: argparse.Namespace) -> dict[str, Any]:
    """The validated config of ``--config`` (defaults filled in from the schema)."""
    from asteroid_ml.config import load_config

    return load_config(args.config or DEFAULT_CONFIG_PATH)
