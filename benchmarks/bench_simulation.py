"""Simulation throughput: asteroid-years per core-second, workflow step vs raw integrator.

    .venv/bin/python benchmarks/bench_simulation.py [--n 3000] [--years 35.6] [--repeats 3]
        [--step-sweep 2,4,8]

1. Workflow step: ``simulate_shard`` for the background population (draws, the AMUSE
   Mercury integration over the window with its encounter handling, bookkeeping,
   Parquet output), one shard of ``--n`` objects integrated for ``--years``.
2. Raw integrator: the same initial conditions (the objects written in step 1) and the
   same planets, one ``evolve_model`` call of one AMUSE Mercury instance over the same
   span. The workflow splits sets larger than ``gravity_code.PARTICLES_PER_CODE`` over
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
   within a day of their impact epoch. That is trajectory accuracy over years; the
   background's labels (hit Earth within the 2,000-yr window or not) only need the
   encounter statistics to be right, so the sweep also counts the background objects'
   encounters with Earth in the raw run (Mercury records those within 3 Hill radii,
   ~0.03 au) and their median distance: ``--n 5000 --years 1000`` makes them precise
   to ~1.5 %.

Core-seconds are the CPU time of this Python process plus that of its AMUSE worker
processes (read from /proc before they stop); wall-clock times are printed alongside.
CPU time still varies by ~10 % between runs on a shared machine (caches, clock), so
steps 1 and 2 are repeated ``--repeats`` times, alternating, and the medians are compared
(the range is printed); every repeat of step 1 must write the same shard, bit for bit.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from amuse.units import units

from asteroid_ml.config import load_config
from asteroid_ml.simulation import gravity_code, populations
from asteroid_ml.simulation.gravity_code import GravityCode
from asteroid_ml.simulation.handover import handover_grid
from asteroid_ml.simulation.mercury_encounters import close_encounter_minima
from asteroid_ml.simulation.populations import simulate_shard
from asteroid_ml.simulation.solar_system import YEAR_D, barycentric_states

REPO = Path(__file__).resolve().parents[1]
TARGET = 5e4


class CoreSeconds:
    """Wall time, and CPU time of this process plus its AMUSE workers, of a block."""

    def __enter__(self) -> CoreSeconds:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time() + gravity_code.WORKER_CPU_SECONDS[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() + gravity_code.WORKER_CPU_SECONDS[0] - self.cpu0


def raw_mercury(
    config: dict, pos: np.ndarray, vel: np.ndarray, days: float, step: float | None = None
) -> tuple[CoreSeconds, np.ndarray]:
    """One raw Mercury run of the particles over ``days`` (start-up included).

    Also returns the minimum distance (au) of every encounter of a particle with Earth
    that Mercury recorded (within 3 Hill radii, ~0.03 au). The record is read before the
    worker stops, so inside the timing: one read of a file of a few hundred kB.
    """
    step = step or handover_grid(config)[3]
    epoch = float(config["epoch_jd_tdb"])
    p0, v0 = barycentric_states(epoch)
    with CoreSeconds() as timer:
        with GravityCode("mercury", step) as code:
            code.set_massive_bodies(p0 - p0[0], v0 - v0[0])
            code.add_particles(pos, vel)
            code._code.evolve_model(days | units.day)
            record = code.encounter_file.read_bytes()
            bodies = dict(code._body_ids)
    earth = next(i for i, body in bodies.items() if body == "earth")
    earth_d = [
        d
        for _, a, b, d in close_encounter_minima(record)
        if earth in (a, b) and (b if a == earth else a) not in bodies
    ]
    return timer, np.array(earth_d)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="background objects")
    parser.add_argument("--n-impactors", type=int, default=300)
    parser.add_argument("--years", type=float, default=35.6, help="background span")
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating runs of steps 1 and 2 (medians)"
    )
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
    _, handover, n_int, _ = handover_grid(config)
    span_days = n_int * handover  # the background runs on the hand-over grid
    ast_years = args.n * span_days / YEAR_D

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bkg.parquet"
        barycentric_states(float(config["epoch_jd_tdb"]))  # warm astropy up for both
        wf_runs, raw_runs, digests = [], [], set()
        for _ in range(max(1, args.repeats)):
            with CoreSeconds() as wf:
                simulate_shard(config, "background", 0, out)
            wf_runs.append(wf)
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
            table = pd.read_parquet(out)
            pos = table[["x_au", "y_au", "z_au"]].to_numpy()
            vel = table[["vx_au_d", "vy_au_d", "vz_au_d"]].to_numpy()
            raw_runs.append(raw_mercury(config, pos, vel, span_days)[0])
        if len(digests) != 1:
            raise SystemExit("the repeated workflow runs wrote different shards")

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
            known_table = populations.simulate_impactors(known, np.arange(args.sweep_impactors))
        for step in steps:
            days = round(span_days / step) * step
            timer, earth_d = raw_mercury(config, pos, vel, days, step)
            errors = populations.massive_energy_errors(
                "mercury", step, float(config["epoch_jd_tdb"])
            )
            rate = args.n * days / YEAR_D / timer.cpu
            t_hit, _ = populations.forward_collisions(
                known, known_table, step, known_table["impact_jd_tdb"].max() + 2.0
            )
            back = int(np.sum(np.abs(t_hit - known_table["impact_jd_tdb"].to_numpy()) < 1.0))
            drift = populations.energy_drift(errors)
            sweep.append((step, rate, np.abs(errors).max(), drift, back, earth_d))

    wf_rate = ast_years / float(np.median([t.cpu for t in wf_runs]))
    raw_rate = ast_years / float(np.median([t.cpu for t in raw_runs]))
    print(
        f"background: {args.n} asteroids x {span_days / YEAR_D:.2f} yr = {ast_years:,.0f} "
        f"asteroid-years (Mercury, step {config['simulation']['timestep_days']} d); "
        f"median of {len(wf_runs)} alternating runs [range]"
    )
    for label, runs, rate in (
        ("workflow step (simulate_shard)", wf_runs, wf_rate),
        ("raw Mercury evolve_model      ", raw_runs, raw_rate),
    ):
        rates = [ast_years / t.cpu for t in runs]
        print(
            f"  {label}: {ast_years / rate:7.2f} core-s "
            f"({float(np.median([t.wall for t in runs])):6.2f} s wall)  {rate:10,.0f} "
            f"ast-yr/core-s [{min(rates):,.0f}-{max(rates):,.0f}]"
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
            f"{args.sweep_impactors} known impactors forward: back at Earth within a day; "
            "the background's Earth encounters over the span, statistics that a step which "
            "is statistically right leaves unchanged within Poisson noise):"
        )
        print(
            "  step d   ast-yr/core-s   peak |dE/E|   secular drift   impactors back"
            "   Earth encounters (< 0.01 au)   median au"
        )
        for step, rate, peak, drift, back, earth_d in sweep:
            median = f"{np.median(earth_d):9.4f}" if len(earth_d) else "        -"
            closer = int(np.sum(earth_d < 0.01))
            print(
                f"  {step:6g}   {rate:13,.0f}   {peak:11.1e}   {drift:13.1e}   "
                f"{back:5d} / {args.sweep_impactors}   {len(earth_d):8d} ({closer:6d})"
                f"           {median}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
