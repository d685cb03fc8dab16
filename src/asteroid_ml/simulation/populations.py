"""Population simulation with AMUSE: known impactors and a non-impacting background.

Impactors (Hefele et al. 2020, A&A 634, A45) are launched from Earth's surface at
future impact epochs (:mod:`.draws`) and integrated backward to the observation epoch
(:mod:`.handover`); objects that the code removes, or that hit a body earlier in real
time, are redrawn from the object's own random stream.

Background: parametric NEOs (:func:`.draws.draw_background_elements`) integrated
forward over the impact window with the same AMUSE code (:mod:`.gravity_code`);
objects that hit a massive body within the window
(:meth:`~.gravity_code.GravityCode.collisions`) are redrawn from the object's own
random stream.

Outputs: one Parquet file per shard (:func:`simulate_shard`), columns
:data:`SIM_COLUMNS` (documented in ``docs/simulation.md``), heliocentric
ecliptic-J2000 osculating elements and state at the epoch.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.io import config_hash
from asteroid_ml.seeds import rng_for
from asteroid_ml.simulation import gravity_code
from asteroid_ml.simulation.checks import simulation_problems
from asteroid_ml.simulation.draws import ImpactLaunch, draw_background_elements, draw_impact
from asteroid_ml.simulation.gravity_code import GravityCode, SimulationError, terminate_on_sigterm
from asteroid_ml.simulation.handover import (
    handover_grid,
    integrate_impactors,
    planet_track,
)
from asteroid_ml.simulation.planet_track import PlanetTrack
from asteroid_ml.simulation.solar_system import (
    EARTH_INDEX,
    YEAR_D,
    barycentric_states,
    elements_to_state,
    state_to_elements,
)
from asteroid_ml.tables import SIM_COLUMNS, SIM_STATE_COLUMNS, SIM_UNITS
from asteroid_ml.workflow_support import progress_heartbeat

log = logging.getLogger(__name__)

POPULATIONS = ("impactor", "background")
ID_PREFIX = {"impactor": "imp", "background": "bkg"}

#: Rounds of redrawing objects the code removed before giving up.
MAX_REDRAW_ROUNDS = 5


def shard_indices(n: int, n_shards: int, shard: int) -> np.ndarray:
    """Object indices of ``shard`` (contiguous blocks, as even as possible)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shard(s)")
    bounds = np.linspace(0, n, n_shards + 1).round().astype(int)
    return np.arange(bounds[shard], bounds[shard + 1])


def object_id(population: str, index: int) -> str:
    return f"{ID_PREFIX[population]}-{index:06d}"


def simulate_impactors(config: dict[str, Any], indices: np.ndarray) -> pd.DataFrame:
    """Impactor rows for object ``indices`` (see module docstring)."""
    epoch = float(config["epoch_jd_tdb"])
    track = planet_track(config)
    launches = _draw_impacts(config, indices, track)
    rows: dict[int, dict[str, Any]] = {}
    todo = list(launches)
    for round_ in range(MAX_REDRAW_ROUNDS + 1):
        if not todo:
            break
        result = integrate_impactors(config, todo, track)
        el = state_to_elements(
            np.nan_to_num(result["pos"], nan=1.0), np.nan_to_num(result["vel"], nan=0.01)
        )
        redo = []
        for k, launch in enumerate(todo):
            if not result["present"][k] or not (0 <= el["e"][k] < 1):
                redo.append(launch)
                continue
            rows[launch.index] = _row(
                "impactor",
                launch.index,
                epoch,
                result["pos"][k],
                result["vel"][k],
                el,
                k,
                launch.h_mag,
                launch.impact_jd_tdb,
                launch.speed_kms,
            )
        if redo:
            log.warning(
                "impactors: %d removed or unbound, redrawing (round %d)", len(redo), round_ + 1
            )
            todo = [_redraw_impact(config, L, round_ + 1, track) for L in redo]
        else:
            todo = []
    if todo:
        raise SimulationError(f"impactors {[L.index for L in todo]}: still invalid after redraws")
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=SIM_COLUMNS)


def _draw_impacts(
    config: dict[str, Any], indices: np.ndarray, track: PlanetTrack | None = None
) -> list[ImpactLaunch]:
    sim = config["simulation"]["impactor"]
    rngs = [rng_for(config["seed"], "simulate-impactor", int(i)) for i in indices]
    epoch = float(config["epoch_jd_tdb"])
    # Earth's states at all impact epochs in one vectorised ephemeris call (the
    # first draw of each object's stream is its epoch, as in draw_impact).
    t_imp = np.array(
        [
            epoch + r.uniform(sim["window_start_years"], sim["window_end_years"]) * YEAR_D
            for r in rngs
        ]
    )
    if len(t_imp) == 0:
        return []
    if track is not None:
        return [
            draw_impact(config, int(i), track.earth(t)) for i, t in zip(indices, t_imp, strict=True)
        ]
    pos, vel = barycentric_states(t_imp)
    return [
        draw_impact(
            config, int(i), (pos[k, EARTH_INDEX] - pos[k, 0], vel[k, EARTH_INDEX] - vel[k, 0])
        )
        for k, i in enumerate(indices)
    ]


def _redraw_impact(
    config: dict[str, Any], launch: ImpactLaunch, attempt: int, track: PlanetTrack | None = None
) -> ImpactLaunch:
    """A new launch for the same object and epoch, from the (seed, object, attempt) stream."""
    cfg = dict(config)
    cfg["seed"] = int(
        rng_for(config["seed"], "simulate-impactor-redraw", launch.index, attempt).integers(2**32)
    )
    new = draw_impact(cfg, launch.index, track=track)
    return ImpactLaunch(
        launch.index, new.impact_jd_tdb, new.position, new.velocity, new.speed_kms, launch.h_mag
    )


def _row(
    population: str,
    index: int,
    epoch: float,
    pos: np.ndarray,
    vel: np.ndarray,
    el: dict[str, np.ndarray],
    k: int,
    h_mag: float,
    impact_jd: float,
    impact_speed: float,
) -> dict[str, Any]:
    return {
        "object_id": object_id(population, index),
        "object_index": index,
        "population": population,
        "epoch_jd_tdb": epoch,
        "a_au": float(el["a_au"][k]),
        "e": float(el["e"][k]),
        "i_deg": float(el["i_deg"][k]),
        "om_deg": float(el["om_deg"][k]),
        "w_deg": float(el["w_deg"][k]),
        "ma_deg": float(el["ma_deg"][k]),
        **{c: float(x) for c, x in zip(SIM_STATE_COLUMNS, [*pos, *vel], strict=True)},
        "H_mag": h_mag,
        "impact_jd_tdb": impact_jd,
        "impact_speed_kms": impact_speed,
    }


def _forward_from_epoch(
    config: dict[str, Any], pos: np.ndarray, vel: np.ndarray, days: float, step: float
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Particles (heliocentric states at the epoch) and the planets from the ephemeris,
    integrated forward by the configured code for ``days`` in one evolve call (per code
    instance of at most :data:`~.gravity_code.PARTICLES_PER_CODE` particles).

    Returns the mask of particles still in the code, and each one's first collision
    (days since the epoch, NaN if none) and the body it hit.
    """
    p0, v0 = barycentric_states(float(config["epoch_jd_tdb"]))
    present = np.zeros(len(pos), bool)
    t_hit = np.full(len(pos), np.nan)
    bodies: list[str | None] = [None] * len(pos)
    per_code = gravity_code.PARTICLES_PER_CODE
    for first in range(0, len(pos), per_code):
        part = slice(first, first + per_code)
        stop = min(first + per_code, len(pos))
        with GravityCode(config["simulation"]["code"], step) as code:
            code.set_massive_bodies(p0 - p0[0], v0 - v0[0])
            keys = code.add_particles(pos[part], vel[part])
            # One long call: every evolve_model call restarts Mercury's integrator (so the
            # worker cannot be asked how far it is: the heartbeat says it is alive).
            with progress_heartbeat(
                log,
                lambda t, first=first, stop=stop: (
                    f"objects {first}..{stop - 1} of {len(pos)}: integrating {days / 365.25:.0f} yr"
                    f" in one {config['simulation']['code']} call, {t:.0f} s so far"
                ),
            ):
                code.evolve(days)
            log.info("objects %d..%d of %d integrated", first, stop - 1, len(pos))
            _, _, present[part] = code.particle_state(keys)
            t_hit[part], bodies[part] = code.collisions(keys)
    return present, t_hit, bodies


def integrate_forward(
    config: dict[str, Any], pos: np.ndarray, vel: np.ndarray, duration_days: float
) -> np.ndarray:
    """Integrate particles forward from the epoch for ``duration_days``; mask of survivors
    (particles that hit no massive body, see :meth:`GravityCode.collisions`)."""
    _, handover, _, step = handover_grid(config)
    n_int = max(1, math.ceil(duration_days / handover - 1e-9))
    # The end is a whole number of steps (the hand-over grid).
    present, t_hit, bodies = _forward_from_epoch(config, pos, vel, n_int * handover, step)
    for k in np.flatnonzero(~np.isnan(t_hit)):
        log.info("particle %d hits %s at t = %.2f d", k, bodies[k], t_hit[k])
    return present & np.isnan(t_hit)


def forward_collisions(
    config: dict[str, Any], table: pd.DataFrame, timestep_days: float, until_jd_tdb: float
) -> tuple[np.ndarray, list[str | None]]:
    """Integrate the objects of a simulation ``table`` (state at its epoch) forward with
    the configured AMUSE code at ``timestep_days`` until ``until_jd_tdb`` (rounded up to a
    whole number of steps); returns each object's first collision epoch (JD TDB, NaN if
    none) and the body it hit.

    Run on known impactors it checks the encounter handling: they should come back to
    Earth at their impact epochs (the benchmark's step sweep and the tests use it).
    """
    epoch = float(config["epoch_jd_tdb"])
    days = math.ceil((until_jd_tdb - epoch) / timestep_days - 1e-9) * timestep_days
    _, t_hit, bodies = _forward_from_epoch(
        config,
        table[SIM_STATE_COLUMNS[:3]].to_numpy(dtype=float),
        table[SIM_STATE_COLUMNS[3:]].to_numpy(dtype=float),
        days,
        timestep_days,
    )
    return epoch + t_hit, bodies


def massive_energy_errors(
    code_name: str,
    timestep_days: float,
    epoch_jd_tdb: float,
    years: float = 100.0,
    sample_days: float = 36.5,
) -> np.ndarray:
    """Relative energy error (E(t) - E0) / E0 of the massive bodies in free mode.

    The planets (no asteroids) start from the ephemeris at ``epoch_jd_tdb`` (TDB) and are
    integrated for ``years`` by ``code_name``; the energy is sampled every ``sample_days``
    (rounded to whole steps). A symplectic code's error is a bounded oscillation whose
    size is set by the step (an offset included: its initial conditions are not on the
    integrator's shadow Hamiltonian), plus any secular drift; see :func:`energy_drift`.
    """
    n_sub = max(1, round(sample_days / timestep_days))
    n_samples = math.ceil(years * YEAR_D / (n_sub * timestep_days))
    pos, vel = barycentric_states(epoch_jd_tdb)
    errors = np.empty(n_samples)
    with GravityCode(code_name, timestep_days) as code:
        code.set_massive_bodies(pos - pos[0], vel - vel[0])
        e0 = code.total_energy()
        for k in range(n_samples):
            code.evolve((k + 1) * n_sub * timestep_days)
            errors[k] = code.total_energy() / e0 - 1.0
    return errors


def energy_drift(errors: np.ndarray, window_fraction: float = 0.1) -> float:
    """Secular energy change: mean error over the last ``window_fraction`` of the samples
    minus the mean over the first (the means average the step's oscillation out)."""
    n = max(1, round(len(errors) * window_fraction))
    return float(errors[-n:].mean() - errors[:n].mean())


def simulate_background(config: dict[str, Any], indices: np.ndarray) -> pd.DataFrame:
    """Background rows for object ``indices``: parametric NEOs that survive the window."""
    epoch = float(config["epoch_jd_tdb"])
    window = config["simulation"]["impactor"]["window_end_years"] * YEAR_D
    attempt = dict.fromkeys(map(int, indices), 0)
    rows: dict[int, dict[str, Any]] = {}
    todo = [int(i) for i in indices]
    for round_ in range(MAX_REDRAW_ROUNDS + 1):
        if not todo:
            break
        draws = [draw_background_elements(config, i, attempt[i]) for i in todo]
        el = {k: np.array([d[k] for d in draws]) for k in draws[0]}
        pos, vel = elements_to_state(
            el["a_au"], el["e"], el["i_deg"], el["om_deg"], el["w_deg"], el["ma_deg"]
        )
        survived = integrate_forward(config, pos, vel, window)
        redo = []
        for k, i in enumerate(todo):
            if not survived[k]:
                attempt[i] += 1
                redo.append(i)
                continue
            rows[i] = _row(
                "background", i, epoch, pos[k], vel[k], el, k, el["H_mag"][k], np.nan, np.nan
            )
        if redo:
            log.warning(
                "background: %d objects hit a body within the window, redrawing (round %d)",
                len(redo),
                round_ + 1,
            )
        todo = redo
    if todo:
        raise SimulationError(f"background objects {todo}: still removed after redraws")
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=SIM_COLUMNS)


def check_simulation_config(config: dict[str, Any]) -> None:
    """Cross-key checks of the ``simulation`` section (also run by config validation)."""
    problems = simulation_problems(config)
    if problems:
        raise ValueError("invalid simulation config: " + "; ".join(problems))


def simulate_shard(
    config: dict[str, Any],
    population: str,
    shard: int | str,
    output_path: str | os.PathLike[str],
    catalog_path: str | os.PathLike[str] | None = None,
) -> None:
    """Simulate shard ``shard`` of ``population`` and write its Parquet file atomically.

    ``catalog_path`` (the real NEO catalog) is accepted for the rule interface but
    not used to draw objects: the impactor classifier is later applied to the real
    catalog, so the training populations must not contain its objects.
    """
    from asteroid_ml.io import write_parquet

    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    shard = int(shard)
    check_simulation_config(config)
    pcfg = config["simulation"][population]
    indices = shard_indices(int(pcfg["n"]), int(pcfg["shards"]), shard)
    log.info(
        "simulating %s shard %d: objects %d..%d with %s",
        population,
        shard,
        indices[0] if len(indices) else -1,
        indices[-1] if len(indices) else -1,
        config["simulation"]["code"],
    )
    with terminate_on_sigterm():
        if population == "impactor":
            table = simulate_impactors(config, indices)
        else:
            table = simulate_background(config, indices)
    metadata = {
        "units": SIM_UNITS,
        "frame": "heliocentric ecliptic J2000 (ICRS rotated by 84381.448 arcsec about x)",
        "population": population,
        "shard": shard,
        "config_hash": config_hash(config, ["seed", "epoch_jd_tdb", "simulation"]),
        "gravity_code": config["simulation"]["code"],
    }
    write_parquet(table, output_path, metadata=metadata)
    log.info("wrote %d %s objects to %s", len(table), population, output_path)
