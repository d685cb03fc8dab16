"""Frames, constants and element conversions of the solar-system model."""

from __future__ import annotations

import numpy as np
import pytest

from asteroid_ml.simulation import solar_system as ss

EPOCH = 2459000.5  # 2020-05-31.0 TDB


def test_ecliptic_rotation_puts_the_ecliptic_pole_where_it_belongs():
    # North ecliptic pole (J2000): RA 270 deg, Dec 90 - 23.4392911 deg.
    pole = ss.ecliptic_to_icrs(np.array([0.0, 0.0, 1.0]))
    ra = np.degrees(np.arctan2(pole[1], pole[0])) % 360
    dec = np.degrees(np.arcsin(pole[2]))
    assert ra == pytest.approx(270.0, abs=1e-12)
    assert dec == pytest.approx(90.0 - 23.4392911, abs=1e-7)
    rot = ss.ICRS_TO_ECLIPTIC
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-15)
    v = np.array([[0.3, -1.2, 0.7]])
    np.testing.assert_allclose(ss.icrs_to_ecliptic(ss.ecliptic_to_icrs(v)), v, atol=1e-15)


def test_ecliptic_frame_matches_astropy_transformation():
    """Our fixed rotation agrees with astropy's ICRS -> ecliptic J2000 (BarycentricMeanEcliptic)."""
    from astropy import units as u
    from astropy.coordinates import ICRS, BarycentricMeanEcliptic, SkyCoord
    from astropy.time import Time

    c = SkyCoord(ra=[10.0, 123.0, 250.0] * u.deg, dec=[5.0, -40.0, 60.0] * u.deg, frame=ICRS)
    ecl = c.transform_to(BarycentricMeanEcliptic(equinox=Time("J2000")))
    vec = ss.icrs_to_ecliptic(c.cartesian.xyz.value.T)
    lon = np.degrees(np.arctan2(vec[:, 1], vec[:, 0])) % 360
    lat = np.degrees(np.arcsin(vec[:, 2]))
    # Astropy's mean ecliptic uses the IAU 2006 obliquity (84381.406") and the ICRS frame
    # bias (~0.02"), JPL's ecliptic the IAU 1976 value (84381.448"): agree to < 0.3".
    dlon = ((lon - ecl.lon.deg + 180) % 360 - 180) * np.cos(np.radians(lat))
    assert np.max(np.abs(dlon)) < 0.3 / 3600
    np.testing.assert_allclose(lat, ecl.lat.deg, atol=0.3 / 3600)
    # ... while a wrong frame (e.g. no rotation) would be off by degrees.
    assert np.max(np.abs(np.degrees(np.arcsin(c.cartesian.xyz.value.T[:, 2])) - ecl.lat.deg)) > 1


def test_earth_sun_and_earth_moon_distances():
    # 2020 perihelion (Jan 5, 07:48 UT) 0.983243 au; aphelion (Jul 4, 11:35 UT) 1.016694 au.
    pos, _ = ss.barycentric_states(np.array([2458853.8258, 2459035.9830]))
    r = np.linalg.norm(pos[:, ss.BODIES.index("earth")] - pos[:, 0], axis=1)
    np.testing.assert_allclose(r, [0.983243, 1.016694], atol=2e-5)
    pos, vel = ss.barycentric_states(EPOCH)
    earth, moon = pos[ss.BODIES.index("earth")], pos[ss.BODIES.index("moon")]
    moon_km = np.linalg.norm(moon - earth) * ss.AU_KM
    assert 356_000 < moon_km < 407_000
    # Near J2000 the Earth-Moon barycentre stays in the J2000 ecliptic (|z| < 3e-6 au,
    # planetary perturbations) while Earth alone wobbles with the Moon; by 2020 the
    # ecliptic has precessed by ~9" (0.47"/yr), z ~ 4.5e-5 au: checks frame and masses.
    m_e, m_m = ss.GM_AU3_D2["earth"], ss.GM_AU3_D2["moon"]
    for jd, limit in ((2451545.0, 3e-6), (2451635.0, 3e-6), (EPOCH, 6e-5)):
        p, _ = ss.barycentric_states(jd)
        emb = (m_e * p[3] + m_m * p[4]) / (m_e + m_m) - p[0]
        assert abs(emb[2]) < limit
    # Earth's orbital speed ~ 29.3-30.3 km/s.
    v_kms = np.linalg.norm(vel[3] - vel[0]) * ss.AU_KM / ss.DAY_S
    assert 29.2 < v_kms < 30.4


def test_code_masses_reproduce_de440_gm():
    g = 2.959872379828867e-04  # AMUSE's G in au^3 / (MSun day^2)
    m = ss.code_masses(g)
    np.testing.assert_allclose(m * g, [ss.GM_AU3_D2[b] for b in ss.BODIES], rtol=1e-15)
    assert ss.GM_SUN == pytest.approx(2.9591220828559115e-04, rel=1e-12)  # k^2 (DE440)


def test_elements_round_trip_elliptic_and_hyperbolic():
    rng = np.random.default_rng(3)
    n = 500
    el = dict(
        a=rng.uniform(0.5, 5, n),
        e=rng.uniform(0, 0.99, n),
        i=rng.uniform(0, 179, n),
        om=rng.uniform(0, 360, n),
        w=rng.uniform(0, 360, n),
        ma=rng.uniform(0, 360, n),
    )
    pos, vel = ss.elements_to_state(el["a"], el["e"], el["i"], el["om"], el["w"], el["ma"])
    back = ss.state_to_elements(pos, vel)
    np.testing.assert_allclose(back["a_au"], el["a"], rtol=1e-11)
    np.testing.assert_allclose(back["e"], el["e"], atol=1e-11)
    np.testing.assert_allclose(back["i_deg"], el["i"], atol=1e-9)
    for key, name in (("om", "om_deg"), ("w", "w_deg"), ("ma", "ma_deg")):
        diff = (back[name] - el[key] + 180) % 360 - 180
        assert np.max(np.abs(diff)) < 1e-6
    # Hyperbolic orbits (a < 0).
    a, e = -rng.uniform(0.5, 3, n), rng.uniform(1.05, 3, n)
    ma = rng.uniform(-20, 20, n)
    pos, vel = ss.elements_to_state(a, e, el["i"], el["om"], el["w"], ma)
    back = ss.state_to_elements(pos, vel)
    np.testing.assert_allclose(back["a_au"], a, rtol=1e-10)
    np.testing.assert_allclose(back["ma_deg"], ma, atol=1e-8)


def test_elements_to_state_known_orbit_and_bad_input():
    # Circular orbit of 1 au in the ecliptic: r = 1 au, v = sqrt(GM/a).
    pos, vel = ss.elements_to_state(1.0, 0.0, 0.0, 0.0, 0.0, 90.0)
    np.testing.assert_allclose(pos[0], [0.0, 1.0, 0.0], atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(vel[0]), np.sqrt(ss.GM_SUN), rtol=1e-14)
    with pytest.raises(ValueError, match="a > 0"):
        ss.elements_to_state(-1.0, 0.5, 0, 0, 0, 0)


def test_kepler_solution_independent_of_batch():
    m = np.array([0.1, 2.0, 3.1])
    e = np.array([0.1, 0.9, 0.5])
    together = ss.solve_kepler(m, e)
    alone = np.array([ss.solve_kepler(m[k : k + 1], e[k : k + 1])[0] for k in range(3)])
    assert np.array_equal(together, alone)
