#!/usr/bin/env python3
"""SHA-256 of every workflow output that must not change when code is only moved.

Used to prove that a restructuring is behaviour-neutral: run the workflow on
``config/test.yaml``, record the hashes, change the code, run again, compare::

    .venv/bin/snakemake --cores 2 --configfile config/test.yaml
    scripts/output_hashes.py record > /tmp/before.tsv
    # ... restructure, `make clean`, run the workflow again ...
    scripts/output_hashes.py compare /tmp/before.tsv

Hashed: every file under ``results/{sim,ephemerides,cutouts,dataset,validation,eval,figures}``
(figures are saved without timestamps, so their PNG and PDF bytes are stable too).
Left out: logs, hidden files (atomic-write temporaries) and anything that holds a
timestamp (none of these stages writes one; model checkpoints under ``results/models``
are not hashed because Lightning stores its own version and paths in them).
Only the standard library is used, so it runs with any Python 3.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

STAGE_DIRS = ("sim", "ephemerides", "cutouts", "dataset", "validation", "eval", "figures")


def output_hashes(results: Path) -> dict[str, str]:
    """``{path relative to results: sha256}`` for every hashed output, sorted by path."""
    hashes = {}
    for stage in STAGE_DIRS:
        for path in sorted((results / stage).rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.suffix != ".log":
                hashes[str(path.relative_to(results))] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return hashes


def _read(path: Path) -> dict[str, str]:
    rows = (line.split("\t") for line in path.read_text().splitlines() if line)
    return {name: digest for digest, name in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("record", help="print '<sha256>\\t<path>' for every output")
    compare = sub.add_parser(
        "compare", help="compare with a recorded file; exit 1 on any difference"
    )
    compare.add_argument("recorded", type=Path)
    args = parser.parse_args(argv)

    now = output_hashes(args.results)
    if not now:
        print(f"no outputs under {args.results}/{{{','.join(STAGE_DIRS)}}}", file=sys.stderr)
        return 1
    if args.command == "record":
        sys.stdout.writelines(f"{digest}\t{name}\n" for name, digest in now.items())
        return 0
    before = _read(args.recorded)
    changed = sorted(n for n in before.keys() & now.keys() if before[n] != now[n])
    missing, extra = sorted(before.keys() - now.keys()), sorted(now.keys() - before.keys())
    for label, names in (("changed", changed), ("missing", missing), ("new", extra)):
        for name in names:
            print(f"{label}: {name}")
    same = len(before.keys() & now.keys()) - len(changed)
    print(
        f"{same} of {len(before)} outputs identical; {len(changed)} changed, "
        f"{len(missing)} missing, {len(extra)} new"
    )
    return 0 if not (changed or missing or extra) else 1


if __name__ == "__main__":
    sys.exit(main())
