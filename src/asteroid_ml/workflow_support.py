"""Glue between Snakemake's ``script:`` directive and the package.

Per-rule scripts in ``workflow/scripts`` are three lines: import the stage
function, open :func:`rule_logging`, call it. Logging goes to the rule's log
file and to stderr; an exception is logged with its traceback and re-raised so
the job fails (and, since every writer is atomic, leaves no partial output).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def rule_logging(smk: Any) -> Iterator[logging.Logger]:
    """Configure logging for the Snakemake job ``smk`` (the injected ``snakemake`` object)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        handlers.append(logging.FileHandler(str(smk.log[0]), mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logger = logging.getLogger(f"asteroid_ml.rule.{smk.rule}")
    try:
        yield logger
    except Exception:
        logger.exception("rule %s failed", smk.rule)
        raise


def export_source_path(src_dir: str | os.PathLike[str]) -> None:
    """Prepend ``src_dir`` to ``PYTHONPATH`` for every job this Snakemake process starts.

    With the project's ``.venv`` the package is installed anyway; this makes jobs in
    per-rule conda environments (``--sdm conda``, ``envs/*.yaml``) and cluster jobs that
    inherit the environment import the package from the same checkout.
    """
    parts = [str(src_dir), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
