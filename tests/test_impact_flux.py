"""Öpik encounter geometry and the flux-weighted impactor launches."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from asteroid_ml.config import load_config
from asteroid_ml.simulation import draws, solar_system
from asteroid_ml.simulation import impact_flux as flux
from asteroid_ml.simulation.solar_system import EARTH_RADIUS_AU, GM_AU3_D2, GM_SUN

REPO = Path(__file__).resolve().parents[1]


def test_encounter_velocity_by_hand_and_tisserand():
    # a = 1.5 au, e = 0.5, i = 10 deg: p = 1.125, U_x^2 = 2 - 1/1.5 - 1.125.
    u = flux.opik_encounter_velocity(1.5, 0.5, math.radians(10.0))
    assert u == pytest.approx([0.4564355, 0.0445464, 0.1841817], abs=1e-7)
    # |U|^2 = 3 - T_E (Tisserand parameter with respect to Earth).
    t_earth = 1 / 1.5 + 2 * math.sqrt(1.125) * math.cos(math.radians(10.0))
    assert np.sum(u**2) == pytest.approx(3 - t_earth, rel=1e-12)
    # Orbits that do not cross 1 au have no encounter and no impact rate.
    assert np.isnan(flux.opik_encounter_velocity(2.0, 0.3, 0.1)[0])
    assert flux.opik_impact_rate(np.array([2.0]), np.array([0.3]), np.array([0.1]), 11.2)[0] == 0


def _ring_fraction(a, e, inc, d, n, rng):
    """Monte Carlo: fraction of time an orbit (uniform ω and mean anomaly) spends within d of
    the circle r = 1 au, z = 0."""
    mean_anom = rng.uniform(0, 2 * np.pi, n)
    ecc_anom = mean_anom.copy()
    for _ in range(15):  # Newton on Kepler's equation
        ecc_anom -= (ecc_anom - e * np.sin(ecc_anom) - mean_anom) / (1 - e * np.cos(ecc_anom))
    nu = 2 * np.arctan2(
        np.sqrt(1 + e) * np.sin(ecc_anom / 2), np.sqrt(1 - e) * np.cos(ecc_anom / 2)
    )
    r = a * (1 - e * np.cos(ecc_anom))
    u = nu + rng.uniform(0, 2 * np.pi, n)  # argument of latitude with ω uniform
    rho = r * np.sqrt(np.cos(u) ** 2 + (np.sin(u) * np.cos(inc)) ** 2)
    z = r * np.sin(u) * np.sin(inc)
    return np.mean((rho - 1) ** 2 + z**2 < d * d)


def test_opik_rate_matches_the_time_an_orbit_spends_at_earths_orbit():
    """Öpik's rate without focusing is the asteroid's density on Earth's orbital ring times
    the cross-section πτ² times U. That density is fraction / (2π · π d²), with fraction the
    time within d of the ring; Öpik per revolution τ² U / (π sin i |U_x|) over the period
    2π a^1.5 (GM = 1) therefore predicts fraction = d² / (π sin i |U_x| a^1.5). A Monte
    Carlo over time and ω must agree."""
    rng = np.random.default_rng(5)
    d = 0.04
    for a, e, inc_deg in [(1.5, 0.5, 10.0), (1.1, 0.3, 25.0), (2.2, 0.6, 5.0)]:
        inc = math.radians(inc_deg)
        u = flux.opik_encounter_velocity(a, e, inc)
        predicted = d * d / (math.pi * math.sin(inc) * u[0] * a**1.5)
        measured = _ring_fraction(a, e, inc, d, 1_000_000, rng)
        assert measured == pytest.approx(predicted, rel=0.07), (a, e, inc_deg)
        # The rate function is the same expression times U and the focusing factor.
        speed = np.linalg.norm(u)
        focusing = 1 + (11.186 / (speed * flux.V_EARTH_CIRC_KMS)) ** 2
        rate = flux.opik_impact_rate(np.array([a]), np.array([e]), np.array([inc]), 11.186)[0]
        assert rate == pytest.approx(math.pi * predicted / d**2 * speed * focusing, rel=1e-12)


def test_surface_crossing_is_on_the_incoming_hyperbola():
    mu, radius = GM_AU3_D2["earth"], EARTH_RADIUS_AU
    rng = np.random.default_rng(2)
    for _ in range(20):
        v_inf = rng.normal(size=3)
        v_inf *= rng.uniform(1, 25) * solar_system.KMS_TO_AUD / np.linalg.norm(v_inf)
        perp = np.cross(v_inf, rng.normal(size=3))
        b_max = radius * math.sqrt(1 + 2 * mu / (radius * v_inf @ v_inf))
        b_vec = perp / np.linalg.norm(perp) * b_max * math.sqrt(rng.uniform())
        pos, vel = flux.surface_crossing(v_inf, b_vec, mu, radius)
        assert np.linalg.norm(pos) == pytest.approx(radius, rel=1e-12)
        assert pos @ vel < 0  # on the way in
        # Energy and angular momentum of the hyperbola with that asymptote and impact parameter.
        assert vel @ vel / 2 - mu / radius == pytest.approx(v_inf @ v_inf / 2, rel=1e-9)
        assert np.cross(pos, vel) == pytest.approx(np.cross(b_vec, v_inf), rel=1e-9, abs=1e-20)
        # Run backwards, it leaves along -v_inf.
        out = draws._outgoing_asymptote(pos, -vel, mu)
        assert out == pytest.approx(-v_inf, rel=1e-9, abs=1e-14)
    with pytest.raises(ValueError, match="misses"):
        flux.surface_crossing(v_inf, 3 * b_vec / np.linalg.norm(b_vec) * b_max, mu, radius)


@pytest.fixture(scope="module")
def config():
    return load_config(REPO / "config" / "test.yaml")


def _pre_encounter_elements(launch, config):
    """(a, e, i deg) of Earth's velocity plus the asymptotic excess velocity, at Earth."""
    pos, vel = solar_system.barycentric_states(launch.impact_jd_tdb)
    r_e, v_e = pos[solar_system.EARTH_INDEX] - pos[0], vel[solar_system.EARTH_INDEX] - vel[0]
    v_h = v_e - draws._outgoing_asymptote(launch.position, -launch.velocity, GM_AU3_D2["earth"])
    a = 1 / (2 / np.linalg.norm(r_e) - v_h @ v_h / GM_SUN)
    h = np.cross(r_e, v_h)
    e_vec = np.cross(v_h, h) / GM_SUN - r_e / np.linalg.norm(r_e)
    return a, np.linalg.norm(e_vec), math.degrees(math.acos(h[2] / np.linalg.norm(h)))


@pytest.mark.filterwarnings("ignore::erfa.ErfaWarning")
@pytest.mark.slow
def test_flux_launches_favour_slow_low_inclination_crossers(config):
    assert config["simulation"]["impactor"]["launch_model"] == "flux"
    launches = [draws.draw_impact(config, k) for k in range(300)]
    speeds = np.array([x.speed_kms for x in launches])
    assert np.all(speeds > draws.earth_escape_speed_kms())
    # Öpik-weighted draws from the default background model: median ~14.5 km/s
    # (the isotropic law's median is 18 km/s).
    assert 13.0 < np.median(speeds) < 16.5
    elements = np.array([_pre_encounter_elements(x, config) for x in launches])
    background = [draws.draw_background_elements(config, k) for k in range(600)]
    bg_e = np.array([b["e"] for b in background])
    bg_i = np.array([b["i_deg"] for b in background])
    # Impacts favour slow encounters: lower e and i than the population they come from.
    assert np.median(elements[:, 1]) < np.median(bg_e) - 0.1
    assert np.median(elements[:, 2]) < np.median(bg_i) - 3.0
    # Every launch comes from an Earth-crossing orbit of the model (q < 1 < Q, a < a_max).
    a, e = elements[:, 0], elements[:, 1]
    assert np.all(a * (1 - e) < 1.02) and np.all(a * (1 + e) > 0.98) and np.all(a < 3.2)
    # Impact-point geometry: incoming, impact angle near Shoemaker's sin 2θ (mean sin = 2/3).
    sin_elev = [
        -(x.position @ x.velocity)
        / np.linalg.norm(x.position)
        / x.speed_kms
        / solar_system.KMS_TO_AUD
        for x in launches
    ]
    assert np.all(np.array(sin_elev) > 0)
    assert np.mean(sin_elev) == pytest.approx(2 / 3, abs=0.05)
    # Reproducible per object.
    assert np.array_equal(draws.draw_impact(config, 7).velocity, launches[7].velocity)
