"""Ephemerides at the observation times: sky position, motion and brightness.

For every simulated object and every observation time of the ``observations``
config section (``n_epochs`` times, ``cadence_min`` apart, starting
``start_offset_days`` after the epoch) this computes:

* astrometric ICRS right ascension and declination (light-time corrected, no
  aberration or refraction), seen from Earth's centre or from ``observations.site``;
* the apparent sky rate (arcsec/min) and its position angle (degrees east of north);
* heliocentric distance r, observer distance Δ (au) and phase angle (degrees);
* the V magnitude in the IAU H-G system with slope ``observations.g_slope``.

Objects are propagated from the simulated state at the epoch on their heliocentric
two-body orbit. Observation sequences span minutes to hours (days at most), over
which planetary perturbations move an asteroid by far less than an arcsecond
except during a close encounter; the Sun and the observer come from astropy's
built-in ephemeris.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.io import config_hash
from asteroid_ml.simulation.solar_system import (
    C_AU_D,
    GM_SUN,
    barycentric_states,
    ecliptic_to_icrs,
    elements_to_state,
    state_to_elements,
)
from asteroid_ml.tables import EPHEMERIS_COLUMNS, SIM_STATE_COLUMNS, read_table

log = logging.getLogger(__name__)

RAD_PER_DAY_TO_ARCSEC_PER_MIN = np.rad2deg(1.0) * 3600.0 / 1440.0


def observation_times(config: dict[str, Any]) -> np.ndarray:
    """Observation times (JD TDB) from the ``observations`` section."""
    obs = config["observations"]
    start = float(config["epoch_jd_tdb"]) + float(obs["start_offset_days"])
    return start + np.arange(int(obs["n_epochs"])) * float(obs["cadence_min"]) / 1440.0


def kepler_propagate(
    pos: np.ndarray, vel: np.ndarray, dt_days: np.ndarray, mu: float = GM_SUN
) -> tuple[np.ndarray, np.ndarray]:
    """Two-body propagation of heliocentric states (N, 3) by ``dt_days`` (N,)."""
    el = state_to_elements(pos, vel, mu)
    a = el["a_au"]
    n_motion = np.sqrt(mu / np.abs(a) ** 3)
    ma = el["ma_deg"] + np.rad2deg(n_motion * np.asarray(dt_days, dtype=float))
    return elements_to_state(a, el["e"], el["i_deg"], el["om_deg"], el["w_deg"], ma, mu)


def hg_magnitude(
    h_mag: np.ndarray,
    r_au: np.ndarray,
    delta_au: np.ndarray,
    phase_rad: np.ndarray,
    g_slope: float = 0.15,
) -> np.ndarray:
    """V magnitude in the IAU H-G system (Bowell et al. 1989)."""
    tan_half = np.tan(np.asarray(phase_rad) / 2.0)
    phi1 = np.exp(-3.33 * tan_half**0.63)
    phi2 = np.exp(-1.87 * tan_half**1.22)
    return (
        np.asarray(h_mag)
        + 5.0 * np.log10(r_au * delta_au)
        - 2.5 * np.log10((1.0 - g_slope) * phi1 + g_slope * phi2)
    )


def observer_states(
    times_jd_tdb: np.ndarray, site: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Barycentric ICRS observer position (au), velocity (au/day), and Sun position (au).

    ``site``: None (Earth's centre), an astropy site name or ``"lon_deg,lat_deg,height_m"``.
    """
    pos, vel = barycentric_states(np.asarray(times_jd_tdb), bodies=("sun", "earth"))
    sun = ecliptic_to_icrs(pos[:, 0])
    obs_pos, obs_vel = ecliptic_to_icrs(pos[:, 1]), ecliptic_to_icrs(vel[:, 1])
    if site:
        from astropy.time import Time
        from astropy.utils import iers

        location = _parse_site(site)
        with (
            iers.conf.set_temp("auto_download", False),
            iers.conf.set_temp("iers_degraded_accuracy", "warn"),
        ):
            gpos, gvel = location.get_gcrs_posvel(Time(times_jd_tdb, format="jd", scale="tdb"))
        # GCRS axes coincide with ICRS to milliarcseconds: add the geocentric offset.
        obs_pos = obs_pos + gpos.xyz.to_value("au").T
        obs_vel = obs_vel + gvel.xyz.to_value("au/day").T
    return obs_pos, obs_vel, sun


def _parse_site(site: str) -> Any:
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    parts = site.split(",")
    if len(parts) == 3:
        try:
            lon, lat, height = (float(p) for p in parts)
        except ValueError as exc:
            raise ValueError(f"observations.site: cannot parse {site!r} as lon,lat,height") from exc
        return EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, height * u.m)
    try:
        return EarthLocation.of_site(site, refresh_cache=False)
    except Exception as exc:  # unknown name or no registry offline
        raise ValueError(
            f"observations.site: unknown site {site!r} ({exc}); "
            "give 'lon_deg,lat_deg,height_m' instead"
        ) from exc


def sky_geometry(
    helio_pos: np.ndarray,
    helio_vel: np.ndarray,
    times_jd_tdb: np.ndarray,
    epoch_jd_tdb: float,
    site: str | None = None,
) -> dict[str, np.ndarray]:
    """Geometry of objects at times. ``helio_*``: (N, 3) ecliptic J2000 states at the epoch.

    Returns arrays of shape (N, T): ra_deg, dec_deg, rate_arcsec_min, pa_deg, r_au,
    delta_au, phase_rad.
    """
    n_obj, n_t = len(helio_pos), len(times_jd_tdb)
    obs_pos, obs_vel, sun_pos = observer_states(times_jd_tdb, site)
    # Flatten (object, time) pairs.
    pos0 = np.repeat(helio_pos, n_t, axis=0)
    vel0 = np.repeat(helio_vel, n_t, axis=0)
    t = np.tile(np.asarray(times_jd_tdb, dtype=float), n_obj)
    o_pos, o_vel, s_pos = (np.tile(x, (n_obj, 1)) for x in (obs_pos, obs_vel, sun_pos))
    light_time = np.zeros(len(t))
    for _ in range(3):  # light-time iteration converges to < 1e-9 d in 2-3 steps
        hp, hv = kepler_propagate(pos0, vel0, t - light_time - epoch_jd_tdb)
        hp, hv = ecliptic_to_icrs(hp), ecliptic_to_icrs(hv)
        # The Sun moves < 1 km during the light time: use its position at t.
        rho = hp + s_pos - o_pos
        delta = np.linalg.norm(rho, axis=1)
        light_time = delta / C_AU_D
    unit = rho / delta[:, None]
    # Sun's barycentric velocity is ~0.01 km/s: neglected in the relative velocity.
    rel_vel = hv - o_vel
    du = (rel_vel - unit * np.einsum("ij,ij->i", unit, rel_vel)[:, None]) / delta[:, None]
    ra = np.arctan2(unit[:, 1], unit[:, 0])
    dec = np.arcsin(np.clip(unit[:, 2], -1, 1))
    east = np.stack([-np.sin(ra), np.cos(ra), np.zeros_like(ra)], axis=1)
    north = np.stack([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)], axis=1)
    rate_e = np.einsum("ij,ij->i", du, east)
    rate_n = np.einsum("ij,ij->i", du, north)
    r = np.linalg.norm(hp, axis=1)
    to_sun = -hp
    to_obs = -rho
    cos_phase = np.einsum("ij,ij->i", to_sun, to_obs) / (r * delta)
    out = {
        "ra_deg": np.mod(np.rad2deg(ra), 360.0),
        "dec_deg": np.rad2deg(dec),
        "rate_arcsec_min": np.hypot(rate_e, rate_n) * RAD_PER_DAY_TO_ARCSEC_PER_MIN,
        "pa_deg": np.mod(np.rad2deg(np.arctan2(rate_e, rate_n)), 360.0),
        "r_au": r,
        "delta_au": delta,
        "phase_rad": np.arccos(np.clip(cos_phase, -1, 1)),
    }
    return {k: v.reshape(n_obj, n_t) for k, v in out.items()}


def compute_ephemerides(
    config: dict[str, Any], sim_path: str | os.PathLike[str], output_path: str | os.PathLike[str]
) -> None:
    """Ephemerides of every object of a simulation shard at the observation times."""
    from asteroid_ml.io import write_parquet

    needed = ["object_id", "population", "epoch_jd_tdb", "H_mag", *SIM_STATE_COLUMNS]
    sim = read_table(sim_path, needed, "simulation shard")
    obs = config["observations"]
    times = observation_times(config)
    epochs = sim["epoch_jd_tdb"].to_numpy()
    if len(sim) and not np.allclose(epochs, epochs[0]):
        raise ValueError(f"{sim_path}: epoch_jd_tdb differs between rows")
    epoch = float(epochs[0]) if len(sim) else float(config["epoch_jd_tdb"])
    pos = sim[SIM_STATE_COLUMNS[:3]].to_numpy()
    vel = sim[SIM_STATE_COLUMNS[3:]].to_numpy()
    geo = sky_geometry(pos, vel, times, epoch, obs["site"])
    n_obj, n_t = len(sim), len(times)
    h = sim["H_mag"].to_numpy()[:, None]
    vmag = hg_magnitude(h, geo["r_au"], geo["delta_au"], geo["phase_rad"], obs["g_slope"])
    table = pd.DataFrame(
        {
            "object_id": np.repeat(sim["object_id"].to_numpy(), n_t),
            "population": np.repeat(sim["population"].to_numpy(), n_t),
            "obs_index": np.tile(np.arange(n_t), n_obj).astype("int64"),
            "obs_jd_tdb": np.tile(times, n_obj),
            "ra_deg": geo["ra_deg"].ravel(),
            "dec_deg": geo["dec_deg"].ravel(),
            "rate_arcsec_min": geo["rate_arcsec_min"].ravel(),
            "pa_deg": geo["pa_deg"].ravel(),
            "r_au": geo["r_au"].ravel(),
            "delta_au": geo["delta_au"].ravel(),
            "phase_deg": np.rad2deg(geo["phase_rad"]).ravel(),
            "V_mag": vmag.ravel(),
            "H_mag": np.broadcast_to(h, (n_obj, n_t)).ravel(),
        },
        columns=EPHEMERIS_COLUMNS,
    )
    metadata = {
        "units": {
            "obs_jd_tdb": "Julian date, TDB",
            "ra_deg": "deg, ICRS astrometric",
            "dec_deg": "deg, ICRS astrometric",
            "rate_arcsec_min": "arcsec/min",
            "pa_deg": "deg, east of north",
            "r_au": "au",
            "delta_au": "au",
            "phase_deg": "deg",
            "V_mag": "mag (H-G)",
            "H_mag": "mag",
        },
        "observer": obs["site"] or "geocentric",
        "exposure_s": obs["exposure_s"],
        "config_hash": config_hash(config, ["seed", "epoch_jd_tdb", "simulation", "observations"]),
    }
    write_parquet(table, output_path, metadata=metadata)
    log.info(
        "wrote %d ephemeris rows (%d objects x %d times) to %s", len(table), n_obj, n_t, output_path
    )
