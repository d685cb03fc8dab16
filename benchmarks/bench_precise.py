"""Precise propagator: cost of the Sun's 1PN term, compiled callback vs Python callback.

    .venv/bin/python benchmarks/bench_precise.py [--years 20] [--particles 5] [--repeats 3]

The precise check of future close approachers (``real_catalog_summary``) integrates a few
objects with REBOUND IAS15, the Sun, eight planets and the Moon, for centuries. IAS15
calls the additional force ~18,000 times per simulated year. Three runs of the same
bodies over ``--years`` (planets put back on the ephemeris every 100 days, as the check
does), alternating, medians compared:

1. no 1PN term: REBOUND's own cost, the floor;
2. the compiled callback (:func:`asteroid_ml.simulation.gr_kernel.sun_gr_callback`), as
   the workflow runs it;
3. the same formula as a Python callback (``sun_gr_acceleration`` on a NumPy view of the
   particles), the code before the compiled one.

Runs 2 and 3 must end in the same states, bit for bit. Target: the compiled 1PN term
costs at most 1.5x the run without it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from asteroid_ml.simulation import close_approach as ca
from asteroid_ml.simulation.gr_kernel import sun_gr_acceleration, sun_gr_callback
from asteroid_ml.simulation.solar_system import EARTH_INDEX, barycentric_states

TARGET_RATIO = 1.5
RESET_DAYS = 100.0
EPOCH = 2459000.5


def python_callback(sim_pointer: object) -> None:
    p = ca._particle_array(sim_pointer.contents)  # type: ignore[attr-defined]
    p[1:, 6:9] += sun_gr_acceleration(p[1:, 0:3] - p[0, 0:3], p[1:, 3:6] - p[0, 3:6])


def run(mode: str, pos: np.ndarray, vel: np.ndarray, edges: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds (process time) and final test-particle states of one run over ``edges``."""
    massive_pos, massive_vel = barycentric_states(edges)
    t0 = time.process_time()
    for s in range(len(edges) - 1):
        sim = ca.make_simulation(
            edges[s], massive_pos[s], massive_vel[s], pos, vel, gr=mode != "no 1PN"
        )
        if mode == "python":
            sim.additional_forces = python_callback
        sim.integrate(edges[s + 1], exact_finish_time=1)
        p = ca._particle_array(sim)
        pos, vel = p[ca.N_MASSIVE :, 0:3].copy(), p[ca.N_MASSIVE :, 3:6].copy()
    return time.process_time() - t0, np.hstack([pos, vel])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, default=20.0)
    parser.add_argument("--particles", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mpos, mvel = barycentric_states(EPOCH)
    rng = np.random.default_rng(0)
    pos = mpos[EARTH_INDEX] + rng.normal(0.0, 0.3, (args.particles, 3))
    vel = mvel[EARTH_INDEX] * (1.0 + rng.normal(0.0, 0.2, (args.particles, 3)))
    n_seg = int(np.ceil(args.years * 365.25 / RESET_DAYS))
    edges = EPOCH + np.arange(n_seg + 1) * RESET_DAYS
    sun_gr_callback()  # compile outside the timing (~0.6 s once per process)
    modes = ("no 1PN", "compiled", "python")
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    states: dict[str, np.ndarray] = {}
    for _ in range(max(1, args.repeats)):
        for mode in modes:
            dt, states[mode] = run(mode, pos, vel, edges)
            seconds[mode].append(dt)
    median = {m: float(np.median(seconds[m])) for m in modes}
    print(
        f"{args.particles} test particles + Sun, 8 planets, Moon; {n_seg * RESET_DAYS / 365.25:.1f}"
        f" yr, resets every {RESET_DAYS:g} d; median of {args.repeats} alternating runs [range]"
    )
    for mode in modes:
        print(
            f"  {mode:9s}: {median[mode]:7.2f} core-s "
            f"[{min(seconds[mode]):.2f}-{max(seconds[mode]):.2f}]  "
            f"{median[mode] / median['no 1PN']:5.2f}x the run without the 1PN term"
        )
    same = np.array_equal(states["compiled"], states["python"])
    print(f"  compiled and Python callbacks end in the same states bit for bit: {same}")
    print(f"  compiled callback {median['python'] / median['compiled']:.1f}x faster than Python")
    ratio = median["compiled"] / median["no 1PN"]
    met = ratio <= TARGET_RATIO and same
    print(
        f"  target: 1PN term <= {TARGET_RATIO}x the run without it: {'met' if met else 'NOT met'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
