"""Check: the forward runs of real NEOs with small perihelia at a finer step.

    .venv/bin/python benchmarks/check_small_perihelia.py [--q-max 0.3] [--step 1.0]

The population engine integrates with a fixed ``simulation.timestep_days`` (4 days by
default). Orbits with perihelia well inside Mercury's (q < 0.3 au) pass perihelion fastest,
where a fixed step is least accurate. This reruns the forward run of every catalog object
with q < ``--q-max`` at the default step and at ``--step`` days, from the same states at
the epoch, and prints how much the smallest MOID, the first date below the limit and the
physics label change (a measurement, not a speed benchmark).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from asteroid_ml.config import load_config
    from asteroid_ml.simulation.close_approach import load_catalog
    from asteroid_ml.simulation.forward import catalog_states_at_epoch, forward_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--q-max", type=float, default=0.3, help="perihelion limit (au)")
    parser.add_argument("--step", type=float, default=1.0, help="finer step (days)")
    args = parser.parse_args()
    config = load_config(REPO / "config" / "config.yaml")
    catalog = load_catalog(REPO / "resources" / "neo" / "neos-2020.csv")
    small = catalog[catalog["q"] < args.q_max].reset_index(drop=True)
    pos, vel = catalog_states_at_epoch(small, float(config["epoch_jd_tdb"]))
    runs = {}
    for step in (float(config["simulation"]["timestep_days"]), args.step):
        cfg = copy.deepcopy(config)
        cfg["simulation"]["timestep_days"] = step
        start = time.perf_counter()
        runs[step] = forward_run(cfg, pos, vel)
        print(f"step {step:g} d: {len(small)} objects in {time.perf_counter() - start:.0f} s")
    coarse, fine = runs.values()
    d_moid = np.abs(coarse["moid_min_au"] - fine["moid_min_au"])
    d_first = np.abs(coarse["moid_first_below_jd_tdb"] - fine["moid_first_below_jd_tdb"]) / 365.25
    flips = int((coarse["future_approach"] != fine["future_approach"]).sum())
    print(f"{len(small)} NEOs with q < {args.q_max} au over "
          f"{config['simulation']['impactor']['window_end_years']} yr")  # fmt: skip
    print(f"smallest MOID: median |difference| {np.nanmedian(d_moid):.2e} au, "
          f"95th percentile {np.nanpercentile(d_moid, 95):.2e} au, max {np.nanmax(d_moid):.2e} au")  # fmt: skip
    both = np.isfinite(d_first)
    if both.any():
        print(f"first date below the limit: median |difference| {np.median(d_first[both]):.1f} yr "
              f"over {int(both.sum())} objects that cross in both runs")  # fmt: skip
    print(f"physics label (future_approach) differs for {flips} of {len(small)} objects")


if __name__ == "__main__":
    main()
