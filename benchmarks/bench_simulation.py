"""Simulation throughput: asteroid-years per core-second, workflow step vs raw integrator.

    .venv/bin/python benchmarks/bench_simulation.py [--n 3000] [--years 35.6] [--step-sweep 3,4,6,8]

1. Workflow step: ``simulate_shard`` for the background population (draws, the AMUSE
   Mercury integration over the window with its encounter handling, bookkeeping,
   Parquet output), one shard of ``--n`` objects integrated for ``--years``.
2. Raw integrator: the same initial conditions (the objects written in step 1) and the
   same planets, one ``evolve_model`` call of one AMUSE Mercury instance over the same
   span. The workflow splits sets larger than ``simulate.PARTICLES_PER_CODE`` over
   instances (Mercury's AMUSE build sums energies over all pairs, so one instance's cost
   per particle grows with N): ``--n 27800 --years 20`` (a paper-scale shard) shows it.
3. For information, the impactor step (launch phase in IAS15 + Mercury, backward) over
   ``--impactor-years`` at the configured hand-over interval and at
   ``--compare-handover-days`` (each hand-over is one evolve call that restarts
   Mercury): asteroid-years = sum over impactors of (impact epoch - observation epoch).

4. With ``--step-sweep``, the trade-off behind the step: raw Mercury throughput at each
   step, the energy error of the massive bodies over 100 yr (peak of the bounded
   oscillation, and the secular drift between the first and last decade), and the
   encounter check: ``--sweep-impactors`` known impactors (made by the workflow, impacts
   0.5-5 yr after the epoch) integrated forward at that step; how many hit Earth
   within a day of their impact epoch.

Core-seconds are the CPU time of this Python process plus that of its AMUSE worker
processes (read from /proc before they stop), so the figures do not depend on how
busy a shared machine is; wall-clock times are printed alongside.
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from amuse.units import units

from asteroid_ml import simulate
from asteroid_ml.config import load_config
from asteroid_ml.simulate import GravityCode, _grid, simulate_shard
from asteroid_ml.solar_system import YEAR_D, barycentric_states

REPO = Path(__file__).resolve().parents[1]
TARGET = 5e4


class CoreSeconds:
    """Wall time, and CPU time of this process plus its AMUSE workers, of a block."""

    def __enter__(self) -> CoreSeconds:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time() + simulate.WORKER_CPU_SECONDS[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() + simulate.WORKER_CPU_SECONDS[0] - self.cpu0


def raw_mercury(
    config: dict, pos: np.ndarray, vel: np.ndarray, days: float, step: float | None = None
) -> CoreSeconds:
    """One raw Mercury run of the particles over ``days`` (start-up included)."""
    step = step or _grid(config)[3]
    epoch = float(config["epoch_jd_tdb"])
    p0, v0 = barycentric_states(epoch)
    with CoreSeconds() as timer:
        with GravityCode("mercury", step) as code:
            code.set_massive_bodies(p0 - p0[0], v0 - v0[0])
            code.add_particles(pos, vel)
            code._code.evolve_model(days | units.day)
    return timer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="background objects")
    parser.add_argument("--n-impactors", type=int, default=300)
    parser.add_argument("--years", type=float, default=35.6, help="background span")
    parser.add_argument("--impactor-years", type=float, default=200.0, help="impact window")
    parser.add_argument("--compare-handover-days", type=float, default=36.0)
    parser.add_argument(
        "--step-sweep",
        default="",
        help="comma-separated Mercury steps (days), e.g. 2,4,6,8: raw rate on the same "
        "objects, the massive bodies' energy error over 100 yr and the known impactors "
        "that come back to Earth, at each step",
    )
    parser.add_argument(
        "--sweep-impactors",
        type=int,
        default=60,
        help="known impactors (impacts 0.5-5 yr ahead) run forward at each swept step",
    )
    parser.add_argument(
        "--timestep-days",
        type=float,
        default=None,
        help="Mercury step (default: config/config.yaml)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(REPO / "config" / "config.yaml")
    config["simulation"]["impactor"]["window_end_years"] = args.years
    if args.timestep_days:
        config["simulation"]["timestep_days"] = args.timestep_days
    config["simulation"]["background"].update(n=args.n, shards=1)
    config["simulation"]["impactor"].update(n=args.n_impactors, shards=1)
    _, handover, n_int, _ = _grid(config)
    span_days = n_int * handover  # the background runs on the hand-over grid
    ast_years = args.n * span_days / YEAR_D

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bkg.parquet"
        barycentric_states(float(config["epoch_jd_tdb"]))  # warm astropy up for both
        with CoreSeconds() as wf:
            simulate_shard(config, "background", 0, out)
        table = pd.read_parquet(out)
        pos = table[["x_au", "y_au", "z_au"]].to_numpy()
        vel = table[["vx_au_d", "vy_au_d", "vz_au_d"]].to_numpy()
        raw = raw_mercury(config, pos, vel, span_days)

        impactor_runs = []
        for handover_days in (handover, args.compare_handover_days):
            imp_config = copy.deepcopy(config)
            imp_config["simulation"]["handover_days"] = handover_days
            imp_config["simulation"]["impactor"]["window_end_years"] = args.impactor_years
            imp_out = Path(tmp) / f"imp-{handover_days}.parquet"
            with CoreSeconds() as imp_timer:
                simulate_shard(imp_config, "impactor", 0, imp_out)
            imp = pd.read_parquet(imp_out)
            imp_years = float(((imp["impact_jd_tdb"] - imp["epoch_jd_tdb"]) / YEAR_D).sum())
            impactor_runs.append((handover_days, len(imp), imp_years, imp_timer))

        sweep = []
        steps = [float(s) for s in args.step_sweep.split(",") if s.strip()]
        if steps:
            known = copy.deepcopy(config)
            known["simulation"]["impactor"].update(
                n=args.sweep_impactors, window_start_years=0.5, window_end_years=5.0
            )
            known_table = simulate.simulate_impactors(known, np.arange(args.sweep_impactors))
        for step in steps:
            days = round(span_days / step) * step
            timer = raw_mercury(config, pos, vel, days, step)
            errors = simulate.massive_energy_errors("mercury", step, float(config["epoch_jd_tdb"]))
            rate = args.n * days / YEAR_D / timer.cpu
            t_hit, _ = simulate.forward_collisions(
                known, known_table, step, known_table["impact_jd_tdb"].max() + 2.0
            )
            back = int(np.sum(np.abs(t_hit - known_table["impact_jd_tdb"].to_numpy()) < 1.0))
            sweep.append((step, rate, np.abs(errors).max(), simulate.energy_drift(errors), back))

    wf_rate = ast_years / wf.cpu
    raw_rate = ast_years / raw.cpu
    print(
        f"background: {args.n} asteroids x {span_days / YEAR_D:.2f} yr = {ast_years:,.0f} "
        f"asteroid-years (Mercury, step {config['simulation']['timestep_days']} d)"
    )
    print(
        f"  workflow step (simulate_shard): {wf.cpu:7.2f} core-s ({wf.wall:6.2f} s wall)  "
        f"{wf_rate:10,.0f} ast-yr/core-s"
    )
    print(
        f"  raw Mercury evolve_model      : {raw.cpu:7.2f} core-s ({raw.wall:6.2f} s wall)  "
        f"{raw_rate:10,.0f} ast-yr/core-s"
    )
    print(f"  ratio raw / workflow          : {raw_rate / wf_rate:7.2f}  (target <= 1.5)")
    print(f"  target >= {TARGET:,.0f} ast-yr/core-s: {'met' if wf_rate >= TARGET else 'NOT met'}")
    for handover_days, n_imp, imp_years, imp_timer in impactor_runs:
        print(
            f"impactors, hand-over {handover_days:g} d: {n_imp} objects, {imp_years:,.0f} "
            f"asteroid-years backward in {imp_timer.cpu:.2f} core-s = "
            f"{imp_years / imp_timer.cpu:,.0f} ast-yr/core-s (IAS15 launch phase + Mercury)"
        )
    speedup = impactor_runs[1][3].cpu / impactor_runs[0][3].cpu
    print(f"  hand-over {handover:g} d vs {args.compare_handover_days:g} d: {speedup:.2f}x faster")
    if sweep:
        print(
            "step sweep (raw Mercury, same objects; energy of the massive bodies over 100 yr; "
            f"{args.sweep_impactors} known impactors forward: back at Earth within a day):"
        )
        print("  step d   ast-yr/core-s   peak |dE/E|   secular drift   impactors back")
        for step, rate, peak, drift, back in sweep:
            print(
                f"  {step:6g}   {rate:13,.0f}   {peak:11.1e}   {drift:13.1e}   "
                f"{back:5d} / {args.sweep_impactors}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
