"""Ephemerides: sky positions against astropy, rates, magnitudes, output contract."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asteroid_ml.config import load_config
from asteroid_ml.simulation import ephemeris as eph
from asteroid_ml.simulation.solar_system import BODIES, barycentric_states, icrs_to_ecliptic

REPO = Path(__file__).resolve().parents[1]
EPOCH = 2459000.5


def _sim_table(pos, vel, h=(20.0,), population="background"):
    n = len(pos)
    return pd.DataFrame(
        {
            "object_id": [f"bkg-{k:06d}" for k in range(n)],
            "population": population,
            "epoch_jd_tdb": EPOCH,
            "x_au": pos[:, 0],
            "y_au": pos[:, 1],
            "z_au": pos[:, 2],
            "vx_au_d": vel[:, 0],
            "vy_au_d": vel[:, 1],
            "vz_au_d": vel[:, 2],
            "H_mag": np.resize(np.array(h), n),
        }
    )


def test_mars_position_matches_astropy():
    """Put an 'asteroid' on Mars' heliocentric state: our astrometric RA/Dec equals
    astropy's light-time-corrected geometric direction to < 0.5", and its apparent
    (aberrated) GCRS position to within aberration (< 25")."""
    from astropy import units as u
    from astropy.coordinates import get_body, get_body_barycentric, solar_system_ephemeris
    from astropy.time import Time

    mars = BODIES.index("mars")
    pos, vel = barycentric_states(EPOCH)
    helio_p, helio_v = pos[mars] - pos[0], vel[mars] - vel[0]
    geo = eph.sky_geometry(helio_p[None], helio_v[None], np.array([EPOCH]), EPOCH)
    t = Time(EPOCH, format="jd", scale="tdb")
    with solar_system_ephemeris.set("builtin"):
        earth = get_body_barycentric("earth", t)
        delta = geo["delta_au"][0, 0]
        mars_lt = get_body_barycentric("mars", t - delta * 499.004783836 * u.s)
        vec = (mars_lt - earth).xyz.to_value(u.au)
        apparent = get_body("mars", t)  # GCRS: geocentric, aberrated
    ra_ref = np.degrees(np.arctan2(vec[1], vec[0])) % 360
    dec_ref = np.degrees(np.arcsin(vec[2] / np.linalg.norm(vec)))
    # Mars on a two-body orbit over the light time (~10 min) vs the full ephemeris: < 0.5".
    assert abs(geo["ra_deg"][0, 0] - ra_ref) * np.cos(np.radians(dec_ref)) * 3600 < 0.5
    assert abs(geo["dec_deg"][0, 0] - dec_ref) * 3600 < 0.5
    sep = (
        np.degrees(
            np.arccos(
                np.clip(
                    np.sin(np.radians(dec_ref)) * np.sin(apparent.dec.rad)
                    + np.cos(np.radians(dec_ref))
                    * np.cos(apparent.dec.rad)
                    * np.cos(np.radians(ra_ref) - apparent.ra.rad),
                    -1,
                    1,
                )
            )
        )
        * 3600
    )
    assert sep < 25.0
    assert geo["r_au"][0, 0] == pytest.approx(np.linalg.norm(helio_p), rel=1e-4)


def test_rate_and_position_angle_match_finite_differences():
    rng = np.random.default_rng(5)
    pos = icrs_to_ecliptic(rng.normal(size=(20, 3)))
    pos *= (rng.uniform(0.6, 3.0, 20) / np.linalg.norm(pos, axis=1))[:, None]
    vel = rng.normal(scale=0.01, size=(20, 3))
    times = EPOCH + np.array([0.0, 1.0 / 1440.0])  # one minute apart
    geo = eph.sky_geometry(pos, vel, times, EPOCH)
    ra, dec = np.radians(geo["ra_deg"]), np.radians(geo["dec_deg"])
    d_east = (ra[:, 1] - ra[:, 0] + np.pi) % (2 * np.pi) - np.pi
    d_east *= np.cos(dec.mean(axis=1))
    d_north = dec[:, 1] - dec[:, 0]
    rate = np.degrees(np.hypot(d_east, d_north)) * 3600  # arcsec per minute
    np.testing.assert_allclose(geo["rate_arcsec_min"][:, 0], rate, rtol=2e-3)
    pa = np.degrees(np.arctan2(d_east, d_north)) % 360
    diff = (geo["pa_deg"][:, 0] - pa + 180) % 360 - 180
    assert np.max(np.abs(diff)) < 0.5


def test_hg_magnitude_values():
    # Zero phase at 1 au from Sun and observer: V = H.
    assert eph.hg_magnitude(18.0, 1.0, 1.0, 0.0) == pytest.approx(18.0, abs=1e-12)
    # Bowell et al. (1989): phase 20 deg, G = 0.15 -> phase term 1.0745 mag; r=2, Δ=1.
    v = eph.hg_magnitude(18.0, 2.0, 1.0, np.radians(20.0), 0.15)
    tan = np.tan(np.radians(10.0))
    phi = 0.85 * np.exp(-3.33 * tan**0.63) + 0.15 * np.exp(-1.87 * tan**1.22)
    assert v == pytest.approx(18.0 + 5 * np.log10(2.0) - 2.5 * np.log10(phi), abs=1e-12)
    assert 0.9 < -2.5 * np.log10(phi) < 1.2


def test_compute_ephemerides_contract_and_site(tmp_path):
    config = load_config(REPO / "config" / "test.yaml")
    rng = np.random.default_rng(2)
    pos = icrs_to_ecliptic(rng.normal(size=(4, 3)))
    vel = rng.normal(scale=0.01, size=(4, 3))
    sim_path = tmp_path / "sim.parquet"
    _sim_table(pos, vel, h=(18.0, 20.0, 22.0, 24.0)).to_parquet(sim_path)
    out = tmp_path / "eph.parquet"
    eph.compute_ephemerides(config, sim_path, out)
    table = pd.read_parquet(out)
    n_t = config["observations"]["n_epochs"]
    assert list(table.columns) == eph.EPHEMERIS_COLUMNS
    assert len(table) == 4 * n_t
    assert table["obs_index"].tolist() == list(range(n_t)) * 4
    np.testing.assert_allclose(
        np.diff(table["obs_jd_tdb"].to_numpy()[:n_t]) * 1440, config["observations"]["cadence_min"]
    )
    assert table[["ra_deg", "dec_deg", "V_mag"]].notna().all().all()
    assert (table["ra_deg"].between(0, 360) & table["dec_deg"].between(-90, 90)).all()
    # Topocentric from a site: parallax below 8.8"/Δ (+ rounding) from geocentric.
    cfg = copy.deepcopy(config)
    cfg["observations"]["site"] = "-70.404,-24.627,2635"  # Paranal
    out2 = tmp_path / "eph_site.parquet"
    eph.compute_ephemerides(cfg, sim_path, out2)
    topo = pd.read_parquet(out2)
    sep = (
        np.hypot(
            (topo["ra_deg"] - table["ra_deg"]) * np.cos(np.radians(table["dec_deg"])),
            topo["dec_deg"] - table["dec_deg"],
        )
        * 3600
    )
    assert np.all(sep < 8.9 / table["delta_au"] + 0.01)
    assert np.any(sep > 0.1)


def test_compute_ephemerides_bad_input(tmp_path):
    config = load_config(REPO / "config" / "test.yaml")
    with pytest.raises(FileNotFoundError, match="simulation shard not found"):
        eph.compute_ephemerides(config, tmp_path / "missing.parquet", tmp_path / "o.parquet")
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"object_id": ["x"]}).to_parquet(bad)
    with pytest.raises(ValueError, match="lacks column"):
        eph.compute_ephemerides(config, bad, tmp_path / "o.parquet")
    cfg = copy.deepcopy(config)
    cfg["observations"]["site"] = "not-a-real-observatory-xyz"
    with pytest.raises(ValueError, match="observations.site"):
        eph.observer_states(np.array([EPOCH]), cfg["observations"]["site"])
