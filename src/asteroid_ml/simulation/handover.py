"""Backward impactor runs: the IAS15 launch phase, the hand-over grid and the planet track.

The integration of the impactors runs in two phases (see :func:`integrate_impactors`):

1. *Launch phase*, precise: from the start of the hand-over interval that contains
   the impact, the massive bodies as they are in the AMUSE code are copied into
   a REBOUND IAS15 integration, the particle is launched from Earth's surface at its
   exact impact epoch and followed through the deep part of Earth's potential
   until the end of the interval (at most ``handover_days``).
2. *Population phase*, AMUSE: the particle is added to the AMUSE gravity code
   (Mercury by default: hybrid symplectic with close-encounter handling) at the
   hand-over time and integrated with all others to the observation epoch.

Backward means time reversal: all velocities are flipped, the system is integrated
forward in reversed time τ = t_start - t, and velocities are flipped back at the end.
The AMUSE code is stepped through the same global grid of hand-over times in every
shard, so the planets follow the same trajectory whatever the shard split.

Windows reaching past AD 3000 (the end of astropy's built-in ephemeris) start the
backward runs from a free forward run of the planets (:func:`planet_track`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from asteroid_ml.simulation import gravity_code
from asteroid_ml.simulation.gravity_code import GravityCode, SimulationError
from asteroid_ml.simulation.planet_track import PlanetTrack, track_sample_intervals
from asteroid_ml.simulation.rebound_support import integrate
from asteroid_ml.simulation.solar_system import (
    BODIES,
    EARTH_INDEX,
    EPHEMERIS_END_JD,
    YEAR_D,
    barycentric_states,
)

if TYPE_CHECKING:
    from asteroid_ml.simulation.draws import ImpactLaunch

log = logging.getLogger(__name__)


def _launch_phase(
    massive_pos: np.ndarray,
    massive_vel: np.ndarray,
    launches: list[tuple[float, np.ndarray, np.ndarray]],
    duration: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Launch particles from Earth in IAS15 and follow them to their hand-over time.

    ``massive_*``: heliocentric state of :data:`BODIES` at the interval start (reversed
    time). ``launches``: (delay in days, geocentric position au, geocentric velocity
    au/day in reversed time) per particle. Each particle gets its own integration so
    that its trajectory does not depend on which other particles share the interval
    (IAS15's step size is global). Returns heliocentric states after ``duration`` days.
    """
    from asteroid_ml.simulation.close_approach import make_simulation

    no_particles = np.empty((0, 3))
    out_pos = np.empty((len(launches), 3))
    out_vel = np.empty((len(launches), 3))
    for k, (delay, r_geo, v_geo) in enumerate(launches):
        # the AMUSE world: no relativity, planets free (as in the AMUSE code)
        sim = make_simulation(0.0, massive_pos, massive_vel, no_particles, no_particles, gr=False)
        integrate(sim, delay, exact_finish_time=1)
        earth = sim.particles[EARTH_INDEX]
        sim.add(
            m=0.0,
            x=earth.x + r_geo[0],
            y=earth.y + r_geo[1],
            z=earth.z + r_geo[2],
            vx=earth.vx + v_geo[0],
            vy=earth.vy + v_geo[1],
            vz=earth.vz + v_geo[2],
        )
        integrate(sim, duration, exact_finish_time=1)
        p, sun = sim.particles[len(BODIES)], sim.particles[0]
        out_pos[k] = np.array(p.xyz) - np.array(sun.xyz)
        out_vel[k] = np.array(p.vxyz) - np.array(sun.vxyz)
    return out_pos, out_vel


def needs_planet_track(config: dict[str, Any]) -> bool:
    """True when the backward runs start past the end of astropy's built-in ephemeris."""
    t_start, handover, _, _ = handover_grid(config)
    return t_start + handover > EPHEMERIS_END_JD


def _impactor_step(config: dict[str, Any]) -> float:
    handover = float(config["simulation"]["handover_days"])
    return handover / max(
        1, round(handover / float(config["simulation"]["impactor"]["timestep_days"]))
    )


def planet_track(config: dict[str, Any]) -> PlanetTrack | None:
    """Integrate the massive bodies forward from the epoch to the start of the backward runs.

    ``None`` when the ephemeris covers the window (the backward runs then start from
    the ephemeris). Free N-body with the impactor runs' code and step; the same in
    every shard.
    """
    if not needs_planet_track(config):
        return None
    _, handover, n_int, _ = handover_grid(config)
    every = track_sample_intervals(handover)
    epoch = float(config["epoch_jd_tdb"])
    pos0, vel0 = barycentric_states(epoch)
    pos, vel = [pos0 - pos0[0]], [vel0 - vel0[0]]
    log.info("planets: free run over %.0f yr (past the ephemeris)", n_int * handover / YEAR_D)
    with GravityCode(config["simulation"]["code"], _impactor_step(config)) as code:
        code.set_massive_bodies(pos[0], vel[0])
        for j in range(every, n_int + 1, every):
            code.evolve(j * handover)
            p, v = code.massive_state()
            pos.append(p)
            vel.append(v)
        if n_int % every:
            code.evolve(n_int * handover)
            end = code.massive_state()
        else:
            end = (pos[-1], vel[-1])
    return PlanetTrack(epoch, every * handover, np.array(pos), np.array(vel), end[0], end[1])


def handover_grid(config: dict[str, Any]) -> tuple[float, float, int, float]:
    """(t_start JD, hand-over interval days, number of intervals, timestep days)."""
    sim = config["simulation"]
    handover = float(sim["handover_days"])
    n_sub = max(1, round(handover / sim["timestep_days"]))
    step = handover / n_sub
    n_int = math.ceil(sim["impactor"]["window_end_years"] * YEAR_D / handover - 1e-9)
    t_start = float(config["epoch_jd_tdb"]) + n_int * handover
    return t_start, handover, n_int, step


def integrate_impactors(
    config: dict[str, Any], launches: list[ImpactLaunch], track: PlanetTrack | None = None
) -> dict[str, np.ndarray]:
    """Integrate ``launches`` backward to the epoch; heliocentric state at the epoch.

    The planets start from ``track``'s end state if given (windows past the
    ephemeris, :func:`planet_track`), else from the ephemeris.

    Returns ``pos`` (N, 3) au, ``vel`` (N, 3) au/day (real-time direction) and
    ``present`` (N,) bool (False where the code removed the particle).
    """
    sim_cfg = config["simulation"]
    t_start, handover, n_int, _ = handover_grid(config)
    # Impactors get their own (shorter) step: their eccentric orbits have fast perihelion
    # passages, and the launch phase, not Mercury, dominates their cost.
    step = _impactor_step(config)
    min_launch = float(sim_cfg["launch_min_days"])
    # Reversed time: τ = t_start - t; flip velocities.
    tau_imp = np.array([t_start - L.impact_jd_tdb for L in launches])
    launch_grid = np.floor(tau_imp / handover).astype(int)
    # Hand over at the first grid time at least launch_min_days after the launch, so that
    # the particle has left Earth's Hill sphere (capped at the epoch).
    hand_grid = np.minimum(np.ceil((tau_imp + min_launch) / handover).astype(int), n_int)
    if track is None:
        pos0, vel0 = barycentric_states(t_start)
        pos0, vel0 = pos0 - pos0[0], vel0 - vel0[0]
    else:
        pos0, vel0 = track.end_pos, track.end_vel
    pending: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    # Launch k goes to code instance k mod n_codes; all instances step through the same
    # grid from the same planets (see PARTICLES_PER_CODE).
    n_codes = max(1, math.ceil(len(launches) / gravity_code.PARTICLES_PER_CODE))
    code_of = np.arange(len(launches)) % n_codes
    handles: list[tuple[np.ndarray, int, np.ndarray]] = []
    with contextlib.ExitStack() as stack:
        codes = [stack.enter_context(GravityCode(sim_cfg["code"], step)) for _ in range(n_codes)]
        for code in codes:
            code.set_massive_bodies(pos0, -vel0)
        for j in range(n_int):
            members = np.flatnonzero(launch_grid == j)
            if len(members):
                mpos, mvel = codes[0].massive_state()
                for h in np.unique(hand_grid[members]):
                    group = members[hand_grid[members] == h]
                    jobs = [
                        (tau_imp[m] - j * handover, launches[m].position, -launches[m].velocity)
                        for m in group
                    ]
                    ppos, pvel = _launch_phase(mpos, mvel, jobs, (h - j) * handover)
                    pending.setdefault(int(h), []).append((group, ppos, pvel))
            for code in codes:
                code.evolve((j + 1) * handover)
            for group, ppos, pvel in pending.pop(j + 1, []):
                for c in np.unique(code_of[group]):
                    mine = code_of[group] == c
                    keys = codes[c].add_particles(ppos[mine], pvel[mine])
                    handles.append((group[mine], int(c), keys))
            if (j + 1) % max(1, n_int // 10) == 0:
                log.info(
                    "impactors: reversed time %.1f / %.1f yr",
                    (j + 1) * handover / YEAR_D,
                    n_int * handover / YEAR_D,
                )
        if pending:
            raise SimulationError(f"internal error: launches left for grid {sorted(pending)}")
        pos = np.full((len(launches), 3), np.nan)
        vel = np.full((len(launches), 3), np.nan)
        present = np.zeros(len(launches), bool)
        for members, c, keys in handles:
            p, v, ok = codes[c].particle_state(keys)
            # A collision in reversed time is an earlier impact in real time: such an
            # object never reaches its drawn impact, so it is redrawn like a removed one.
            t_hit, _ = codes[c].collisions(keys)
            pos[members], vel[members], present[members] = p, -v, ok & np.isnan(t_hit)
    return {"pos": pos, "vel": vel, "present": present}
