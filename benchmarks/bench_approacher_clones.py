"""Convergence of the future approachers' clone probabilities over the clone count.

    .venv/bin/python benchmarks/bench_approacher_clones.py [--n 1000]

Runs :func:`asteroid_ml.simulation.clones.write_approacher_clones` on the default config's
top ``hazard.verify_top_n`` future approachers (``results/eval/future_approachers.csv``;
run ``make run`` first) twice, with ``--n`` clones and two seeds, and prints every
probability of both runs and the largest difference (target: <= 0.03 at 1,000 clones;
the binomial standard error of a probability p is sqrt(p (1 - p) / n) <= 0.016 there).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from asteroid_ml.config import load_config
    from asteroid_ml.simulation.clones import write_approacher_clones

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="clones per object")
    args = parser.parse_args()
    config = load_config(REPO / "config" / "config.yaml")
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (config["seed"], config["seed"] + 1):
            start = time.perf_counter()
            tables.append(write_approacher_clones(
                config, str(REPO / "resources" / "neo" / "neos-2020.csv"),
                str(REPO / "results" / "eval" / "future_approachers.csv"),
                str(Path(tmp) / f"{seed}.csv"), n=args.n, seed=seed,
            ))  # fmt: skip
            print(f"seed {seed}: {time.perf_counter() - start:.0f} s")
    a, b = (t.set_index("des") for t in tables)
    columns = [c for c in a.columns if c.startswith("p_")]
    diff = (a[columns] - b[columns]).abs()
    print(a[columns].round(3).to_string())
    print(b[columns].round(3).to_string())
    print(f"largest |difference| between the seeds at {args.n} clones: {diff.to_numpy().max():.3f}")


if __name__ == "__main__":
    main()
