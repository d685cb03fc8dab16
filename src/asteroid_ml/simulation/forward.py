"""Forward runs over the impact window: the Earth MOID along the way and Earth encounters.

What physics can say about an object's future: it is integrated forward from the
epoch over the impact window (``simulation.impactor.window_end_years``) with the
population engine (the AMUSE code, the same planets and step as the background
run), its Earth MOID is sampled every ``hazard.sample_years`` and the code's own
record of Earth encounters is read (Mercury: every encounter minimum within 3 Hill
radii, ~0.03 au).

The physics label of an object (``future_approach``) is

    min(MOID over the samples, t = 0 included) <= hazard.moid_au
    or an Earth encounter closer than hazard.moid_au inside the window,

i.e. the object's orbit comes within the PHA distance of Earth's orbit, or the object
comes that close to the Earth, at some time inside the window. MOID below the limit
is necessary for an approach that close, so the MOID samples catch approaches
between 0.03 and 0.05 au that the encounter record does not hold; the limit is the
one of NASA's PHA definition so that the label reads "is or becomes PHA-like by
geometry". Sampling every 10-20 yr follows the secular change of the MOID (periods
of 10^3-10^4 yr); a sudden change at a deep encounter is in the encounter record.

Rules: ``forward_simulated`` (one per simulation shard) and ``forward_catalog`` (the
real NEOs, whose elements at other epochs are first moved to the run epoch with the
precise propagator, :func:`asteroid_ml.simulation.close_approach.propagate_states`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.io import config_hash, save_npy
from asteroid_ml.simulation import gravity_code
from asteroid_ml.simulation.gravity_code import GravityCode, terminate_on_sigterm
from asteroid_ml.simulation.moid import earth_moid_au
from asteroid_ml.simulation.solar_system import (
    GM_SUN,
    YEAR_D,
    barycentric_states,
    elements_to_state,
    state_to_elements,
)
from asteroid_ml.workflow_support import PROGRESS_INTERVAL_S, progress_heartbeat

log = logging.getLogger(__name__)

#: Cost of moving catalog elements to the run epoch with the precise propagator, in CPU
#: seconds per object per year of travel (IAS15 with the planets; 60 objects moved 10 yr
#: in 2.4 s on one core of the 2-core reference machine). Used only to warn before a run
#: whose epoch lies far from the catalog's element epochs.
PROPAGATION_S_PER_OBJECT_YEAR = 0.004

#: A catalog move expected to take longer than this per job is announced before the run.
CATALOG_MOVE_WARN_S = 60.0

#: Columns of a forward-run table (one row per object), after the identifier column.
FORWARD_COLUMNS = [
    "moid_now_au",
    "moid_min_au",
    "moid_min_jd_tdb",
    "moid_first_below_jd_tdb",
    "encounter_min_au",
    "encounter_min_jd_tdb",
    "future_approach",
]
FORWARD_UNITS = {
    "moid_now_au": "au, Earth MOID at the epoch",
    "moid_min_au": "au, smallest sampled Earth MOID in [epoch, epoch + window]",
    "moid_min_jd_tdb": "JD TDB of that sample",
    "moid_first_below_jd_tdb": "JD TDB of the first sample with MOID <= hazard.moid_au (NaN: none)",
    "encounter_min_au": "au, closest Earth encounter in the code's record (NaN: none within ~0.03 au)",
    "encounter_min_jd_tdb": "JD TDB of that encounter",
    "future_approach": "1 if moid_min_au <= hazard.moid_au or encounter_min_au <= hazard.moid_au",
}


#: Columns of a forward track (``track-K.npy``: one row per object, one slice per MOID
#: sample, the epoch first): osculating elements and the Earth MOID along the forward run.
TRACK_COLUMNS = ("a_au", "e", "i_deg", "om_deg", "w_deg", "moid_au")


def forward_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config a forward run reads: the epoch, the simulation and the ``hazard`` section
    without its ``ranking`` part (which only the ranking reads: changing it reruns no
    forward run). The forward rules' params and the tables' config hash."""
    hazard = {k: v for k, v in config["hazard"].items() if k != "ranking"}
    return {
        "epoch_jd_tdb": config["epoch_jd_tdb"],
        "simulation": config["simulation"],
        "hazard": hazard,
    }


def sample_times(config: Mapping[str, Any]) -> np.ndarray:
    """Days after the epoch at which the MOID is sampled: every ``hazard.sample_years``
    (rounded to whole steps of the gravity code), the last one at the window's end."""
    step = float(config["simulation"]["timestep_days"])
    window_days = float(config["simulation"]["impactor"]["window_end_years"]) * YEAR_D
    n_samples = max(1, math.ceil(window_days / (float(config["hazard"]["sample_years"]) * YEAR_D)))
    steps_per_sample = max(1, math.ceil(window_days / n_samples / step - 1e-9))
    return step * steps_per_sample * np.arange(1, n_samples + 1)


def _moid(pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """Earth MOID (au) of heliocentric states; NaN for unbound orbits."""
    return _elements_and_moid(pos, vel)[:, 5]


def _elements_and_moid(pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """``(N, 6)``: a (au), e, i, Ω, ω (deg) and Earth MOID (au) of heliocentric states
    (columns of :data:`TRACK_COLUMNS`); the MOID is NaN for unbound orbits."""
    el = state_to_elements(pos, vel, GM_SUN)
    out = np.stack([np.asarray(el[k], dtype=float) for k in TRACK_COLUMNS[:5]] + [
        np.full(len(pos), np.nan)], axis=1)  # fmt: skip
    bound = (out[:, 1] < 1) & (out[:, 0] > 0)
    if bound.any():
        out[bound, 5] = earth_moid_au(*(out[bound, k] for k in range(5)))
    return out


def forward_run(config: Mapping[str, Any], pos: np.ndarray, vel: np.ndarray) -> pd.DataFrame:
    """Forward run of particles given heliocentric ecliptic states (au, au/day) at the epoch.

    Returns one row per particle with :data:`FORWARD_COLUMNS` (times as JD TDB).
    """
    return forward_run_with_track(config, pos, vel)[0]


def forward_run_with_track(
    config: Mapping[str, Any], pos: np.ndarray, vel: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`forward_run`, and the track: ``(N, 1 + samples, 6)`` elements and MOID
    (:data:`TRACK_COLUMNS`) at the epoch and at every :func:`sample_times` sample."""
    epoch = float(config["epoch_jd_tdb"])
    limit = float(config["hazard"]["moid_au"])
    times = sample_times(config)
    n = len(pos)
    track = np.full((n, len(times) + 1, len(TRACK_COLUMNS)), np.nan)
    encounter_d = np.full(n, np.nan)
    encounter_t = np.full(n, np.nan)
    p0, v0 = barycentric_states(epoch)
    per_code = gravity_code.PARTICLES_PER_CODE
    with terminate_on_sigterm():
        for first in range(0, n, per_code):
            part = slice(first, min(first + per_code, n))
            with GravityCode(
                config["simulation"]["code"], config["simulation"]["timestep_days"]
            ) as code:
                code.set_massive_bodies(p0 - p0[0], v0 - v0[0])
                keys = code.add_particles(pos[part], vel[part])
                for k, t in enumerate(times):
                    code.evolve(float(t))
                    p, v, _ = code.particle_state(keys)
                    track[part, k + 1] = _elements_and_moid(p, v)
                encounter_t[part], encounter_d[part] = code.closest_approaches(keys, "earth")
            log.info("forward run: %d / %d objects", part.stop, n)
    track[:, 0] = _elements_and_moid(pos, vel)
    moid_now = track[:, 0, 5]
    all_moids = track[:, :, 5].T
    all_times = np.concatenate([[0.0], times])
    with np.errstate(invalid="ignore"):
        best = np.nanargmin(np.where(np.isnan(all_moids), np.inf, all_moids), axis=0)
        below = all_moids <= limit
    first_below = np.where(below.any(axis=0), all_times[np.argmax(below, axis=0)] + epoch, np.nan)
    moid_min = all_moids[best, np.arange(n)]
    with np.errstate(invalid="ignore"):
        label = (moid_min <= limit) | (encounter_d <= limit)
    table = pd.DataFrame(
        {
            "moid_now_au": moid_now,
            "moid_min_au": moid_min,
            "moid_min_jd_tdb": all_times[best] + epoch,
            "moid_first_below_jd_tdb": first_below,
            "encounter_min_au": encounter_d,
            "encounter_min_jd_tdb": encounter_t + epoch,
            "future_approach": label.astype(np.int64),
        }
    )
    return table, track


def series_times(config: Mapping[str, Any]) -> np.ndarray:
    """Days *before* the epoch of the element-series samples (0 first): ``hazard.series_samples``
    epochs evenly over ``hazard.series_years``, rounded to whole steps of the gravity code."""
    step = float(config["simulation"]["timestep_days"])
    n = int(config["hazard"]["series_samples"])
    if n == 1:
        return np.zeros(1)
    span_steps = float(config["hazard"]["series_years"]) * YEAR_D / step
    per_sample = max(1, round(span_steps / (n - 1)))
    return step * per_sample * np.arange(n)


def element_series(config: Mapping[str, Any], pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """Osculating elements and Earth MOID of particles at :func:`series_times` before the epoch.

    A backward run of the population engine (time reversal: velocities of the planets and
    the particles flipped). Returns ``(N, K, 6)`` with the columns of
    :data:`asteroid_ml.models.series.SERIES_COLUMNS` (a au, e, i, Ω, ω deg, MOID au), the
    first sample at the epoch itself.
    """
    epoch = float(config["epoch_jd_tdb"])
    times = series_times(config)
    n = len(pos)
    out = np.full((n, len(times), 6), np.nan)
    p0, v0 = barycentric_states(epoch)
    per_code = gravity_code.PARTICLES_PER_CODE
    for first in range(0, n, per_code):
        part = slice(first, min(first + per_code, n))
        code_name, step = config["simulation"]["code"], config["simulation"]["timestep_days"]
        with GravityCode(code_name, step) as code:
            code.set_massive_bodies(p0 - p0[0], -(v0 - v0[0]))
            keys = code.add_particles(pos[part], -vel[part])
            for k, t in enumerate(times):
                if t > 0:
                    code.evolve(float(t))
                p, v, _ = code.particle_state(keys)
                out[part, k] = _elements_and_moid(p, -v)
        log.info("element series: %d / %d objects", part.stop, n)
    return out


def _write_series(
    config: Mapping[str, Any], pos: np.ndarray, vel: np.ndarray, path: str | os.PathLike[str]
) -> None:
    with terminate_on_sigterm():
        series = element_series(config, pos, vel)
    save_npy(series, path)


def _write(
    table: pd.DataFrame, config: Mapping[str, Any], output_path: str | os.PathLike[str], what: str
) -> None:
    from asteroid_ml.io import write_parquet

    metadata = {
        "stage": what,
        "units": FORWARD_UNITS,
        "config_hash": config_hash(forward_settings(config)),
        "gravity_code": config["simulation"]["code"],
        "sample_days": float(sample_times(config)[0]),
    }
    write_parquet(table, output_path, metadata=metadata)


def forward_simulated(
    config: Mapping[str, Any],
    sim_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    series_path: str | os.PathLike[str] | None = None,
    track_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Forward run of the objects of one simulation shard (rule ``forward_simulated``), their
    element series before the epoch (``series_path``, ``.npy``, rows as the table) and their
    forward track (``track_path``, :func:`forward_run_with_track`)."""
    from asteroid_ml.tables import SIM_STATE_COLUMNS, read_table

    sim = read_table(sim_path, ["object_id", *SIM_STATE_COLUMNS], "simulation shard")
    phase = ["forward run"]
    with progress_heartbeat(
        log, lambda t: f"{sim_path}, {len(sim)} objects: {phase[0]}, {t:.0f} s so far"
    ):
        table, track = forward_run_with_track(
            config,
            sim[SIM_STATE_COLUMNS[:3]].to_numpy(dtype=float),
            sim[SIM_STATE_COLUMNS[3:]].to_numpy(dtype=float),
        )
        table.insert(0, "object_id", sim["object_id"].astype(str).to_numpy())
        if series_path is not None:
            phase[0] = "backward element series"
            states = sim[SIM_STATE_COLUMNS].to_numpy(dtype=float)
            _write_series(config, states[:, :3], states[:, 3:], series_path)
    if track_path is not None:
        save_npy(track, track_path)
    _write(table, config, output_path, "forward_simulated")
    return table


def catalog_shard(catalog: pd.DataFrame, n_shards: int, shard: int) -> pd.DataFrame:
    """Rows of shard ``shard`` of ``n_shards`` (contiguous blocks of the catalog order)."""
    from asteroid_ml.simulation.populations import shard_indices

    return catalog.iloc[shard_indices(len(catalog), n_shards, shard)].reset_index(drop=True)


def catalog_states_at_epoch(catalog: pd.DataFrame, epoch: float) -> tuple[np.ndarray, np.ndarray]:
    """Heliocentric states at ``epoch`` of catalog rows (``a, e, i, om, w, ma, epoch``).

    Rows whose elements are at another epoch are moved there with the precise
    propagator (REBOUND IAS15, planets on the ephemeris) in two sweeps, one from the
    earliest epoch forward and one from the latest backward: each group of rows joins
    the sweep at its own epoch, so the cost is that of the epochs' span, not of their
    number (331 epochs over 18 years in ``neos-2020.csv``).
    """
    from asteroid_ml.simulation.close_approach import propagate_states

    catalog = catalog.reset_index(drop=True)
    pos, vel = elements_to_state(
        catalog["a"], catalog["e"], catalog["i"], catalog["om"], catalog["w"], catalog["ma"], GM_SUN
    )
    pos, vel = np.array(pos, dtype=float), np.array(vel, dtype=float)
    t = catalog["epoch"].to_numpy(dtype=float)
    at_epoch = np.isclose(t, epoch, rtol=0.0, atol=1e-6)
    for side in (t < epoch, t > epoch):
        side &= ~at_epoch
        stops = sorted(set(t[side]), key=lambda x: abs(x - epoch), reverse=True) + [epoch]
        moving = np.zeros(len(t), dtype=bool)
        for start, stop in zip(stops[:-1], stops[1:], strict=True):
            moving |= side & (t == start)
            pos[moving], vel[moving] = propagate_states(pos[moving], vel[moving], start, stop)
    return pos, vel


def catalog_move_estimate(
    epoch_jd_tdb: float, catalog_epochs: np.ndarray, n_shards: int
) -> tuple[float, float]:
    """Years from ``epoch_jd_tdb`` to the farthest catalog element epoch, and the expected
    CPU seconds per ``forward_catalog`` job of moving its share of the catalog there
    (:data:`PROPAGATION_S_PER_OBJECT_YEAR`; the move runs before the forward run)."""
    epochs = np.asarray(catalog_epochs, dtype=float)
    years = float(np.max(np.abs(epochs - epoch_jd_tdb))) / YEAR_D if len(epochs) else 0.0
    per_job = math.ceil(len(epochs) / max(1, n_shards))
    mean_years = float(np.mean(np.abs(epochs - epoch_jd_tdb))) / YEAR_D if len(epochs) else 0.0
    return years, PROPAGATION_S_PER_OBJECT_YEAR * per_job * mean_years


def catalog_move_warning(config: Mapping[str, Any], catalog_path: str | os.PathLike[str]) -> str:
    """One line announcing a long catalog move (empty when it is expected to be short).

    Reads only the ``epoch`` column of the catalog (csv module, a few ms)."""
    import csv

    with open(catalog_path, newline="", encoding="utf-8") as handle:
        epochs = np.array([float(row["epoch"]) for row in csv.DictReader(handle)])
    if not len(epochs):
        return ""
    epoch = float(config["epoch_jd_tdb"])
    years, seconds = catalog_move_estimate(epoch, epochs, int(config["hazard"]["catalog_shards"]))
    if seconds < CATALOG_MOVE_WARN_S:
        return ""
    return (
        f"warning: epoch_jd_tdb {epoch} lies up to {years:.0f} yr from the element epochs of "
        f"{catalog_path} (JD {epochs.min():.1f}-{epochs.max():.1f}): each forward_catalog job "
        f"first moves its objects there with the precise propagator, about "
        f"{seconds / 60:.0f} min per job (progress is logged every "
        f"{PROGRESS_INTERVAL_S:.0f} s)"
    )


def forward_catalog(
    config: Mapping[str, Any],
    catalog_path: str | os.PathLike[str],
    shard: int,
    output_path: str | os.PathLike[str],
    series_path: str | os.PathLike[str] | None = None,
    track_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Forward run of shard ``shard`` of the real NEO catalog (rule ``forward_catalog``), the
    element series before the epoch (``series_path``) and the forward track (``track_path``)."""
    from asteroid_ml.simulation.close_approach import load_catalog

    epoch = float(config["epoch_jd_tdb"])
    catalog = load_catalog(catalog_path)
    part = catalog_shard(catalog, int(config["hazard"]["catalog_shards"]), int(shard))
    phase = ["moving the elements to the run epoch"]
    with progress_heartbeat(
        log, lambda t: f"catalog shard {shard}, {len(part)} objects: {phase[0]}, {t:.0f} s so far"
    ):
        pos, vel = catalog_states_at_epoch(part, epoch)
        phase[0] = "forward run"
        table, track = forward_run_with_track(config, pos, vel)
        table.insert(0, "des", part["des"].astype(str).to_numpy())
        table.insert(1, "epoch_shift_days", epoch - part["epoch"].to_numpy(dtype=float))
        if series_path is not None:
            phase[0] = "backward element series"
            _write_series(config, pos, vel, series_path)
    if track_path is not None:
        save_npy(track, track_path)
    _write(table, config, output_path, "forward_catalog")
    return table
