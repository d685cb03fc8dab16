"""Solar-system model: constants, frames, ephemeris states and orbital elements.

Conventions used throughout the simulation stage:

* **Time**: Julian dates in TDB (``*_jd_tdb``); durations in days.
* **Frame**: ecliptic J2000 (the frame of JPL's SBDB elements), i.e. ICRS rotated
  about its x axis by the IAU 1976 J2000 obliquity, 84381.448 arcsec. Positions in
  au, velocities in au/day. "Barycentric" means solar-system barycentre,
  "heliocentric" means centred on the Sun.
* **Masses**: GM values from JPL's DE440 (km^3 s^-2), Earth and Moon separate.
  Codes that take masses (AMUSE) get ``GM / G_code`` so that ``G_code * m`` is the
  DE440 GM exactly (AMUSE's G x M_sun differs from the IAU value by 2.5e-4).
* **Ephemeris**: astropy's built-in ephemeris (ERFA ``epv00``/``plan94``/``moon98``,
  via :func:`astropy.coordinates.get_body_barycentric_posvel`), so no kernel
  download is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Astronomical unit in km (IAU 2012).
AU_KM = 149_597_870.7
DAY_S = 86_400.0
#: Julian year in days.
YEAR_D = 365.25

#: Bodies of the solar-system model, in the order used by every state array.
BODIES: tuple[str, ...] = (
    "sun",
    "mercury",
    "venus",
    "earth",
    "moon",
    "mars",
    "jupiter",
    "saturn",
    "uranus",
    "neptune",
)

#: GM in km^3 s^-2 from DE440 (Park et al. 2021); planets beyond Earth are system values.
GM_KM3_S2: dict[str, float] = {
    "sun": 132_712_440_041.279419,
    "mercury": 22_031.868551,
    "venus": 324_858.592000,
    "earth": 398_600.435507,
    "moon": 4_902.800118,
    "mars": 42_828.375816,
    "jupiter": 126_712_764.100000,
    "saturn": 37_940_584.841800,
    "uranus": 5_794_556.400000,
    "neptune": 6_836_527.100580,
}

#: Mean (volumetric) radii in km; Earth's is the IAU equatorial-ish value used for impacts.
RADIUS_KM: dict[str, float] = {
    "sun": 695_700.0,
    "mercury": 2_439.7,
    "venus": 6_051.8,
    "earth": 6_371.0,
    "moon": 1_737.4,
    "mars": 3_389.5,
    "jupiter": 69_911.0,
    "saturn": 58_232.0,
    "uranus": 25_362.0,
    "neptune": 24_622.0,
}

#: Index of the Earth in :data:`BODIES` (and in every state array).
EARTH_INDEX = BODIES.index("earth")
#: km/s -> au/day.
KMS_TO_AUD = DAY_S / AU_KM
#: JD (TDB) of AD 3000 January 1.0: the end of the range of astropy's built-in planetary
#: ephemeris (ERFA plan94/epv00). Backward impactor runs that start later take the planets
#: from a free forward run instead (:func:`asteroid_ml.simulation.handover.planet_track`).
EPHEMERIS_END_JD = 2816787.5
#: JD (TDB) of AD 1000 January 1.0 (proleptic Gregorian, as astropy counts): the start of
#: the span accepted for precise close approaches (ERFA's plan94 series are fitted over
#: 1000 BC to AD 3000; the Earth's epv00 is accurate from 1900 to 2100 and warns outside).
EPHEMERIS_START_JD = 2086302.5

#: GM in au^3 day^-2.
GM_AU3_D2: dict[str, float] = {k: v * DAY_S**2 / AU_KM**3 for k, v in GM_KM3_S2.items()}
GM_SUN = GM_AU3_D2["sun"]
EARTH_RADIUS_AU = RADIUS_KM["earth"] / AU_KM
#: Speed of light in au/day.
C_AU_D = 299_792.458 * DAY_S / AU_KM

#: IAU 1976 obliquity of the ecliptic at J2000 (the SBDB / JPL Horizons ecliptic).
OBLIQUITY_J2000_RAD = np.deg2rad(84381.448 / 3600.0)
_c, _s = np.cos(OBLIQUITY_J2000_RAD), np.sin(OBLIQUITY_J2000_RAD)
#: Rotation matrix: ecliptic = ICRS_TO_ECLIPTIC @ icrs.
ICRS_TO_ECLIPTIC = np.array([[1.0, 0.0, 0.0], [0.0, _c, _s], [0.0, -_s, _c]])
ECLIPTIC_TO_ICRS = ICRS_TO_ECLIPTIC.T


def icrs_to_ecliptic(vectors: np.ndarray) -> np.ndarray:
    """Rotate ICRS-aligned vectors (..., 3) into ecliptic J2000."""
    return np.asarray(vectors) @ ICRS_TO_ECLIPTIC.T


def ecliptic_to_icrs(vectors: np.ndarray) -> np.ndarray:
    """Rotate ecliptic-J2000 vectors (..., 3) into ICRS axes."""
    return np.asarray(vectors) @ ECLIPTIC_TO_ICRS.T


def code_masses(g_code: float, bodies: Sequence[str] = BODIES) -> np.ndarray:
    """Masses ``GM / g_code`` for a code whose gravitational constant is ``g_code``.

    ``g_code`` must be in au^3 day^-2 per mass unit; the result is in that mass unit.
    """
    return np.array([GM_AU3_D2[b] / g_code for b in bodies])


#: Bodies whose ephemeris velocities are analytic derivatives consistent with the positions
#: (ERFA epv00); the others' velocities are differentiated numerically (barycentric_states).
ANALYTIC_VELOCITY_BODIES = ("sun", "earth")
#: Step (days) of those numerical derivatives.
FD_STEP_DAYS = 0.125


def barycentric_states(
    jd_tdb: float | np.ndarray, bodies: Sequence[str] = BODIES
) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric ecliptic-J2000 positions (au) and velocities (au/day) of ``bodies``.

    Returns arrays of shape ``(len(bodies), 3)`` for a scalar ``jd_tdb`` or
    ``(len(jd_tdb), len(bodies), 3)`` for an array, from astropy's built-in ephemeris.
    """
    from astropy.coordinates import (
        get_body_barycentric,
        get_body_barycentric_posvel,
        solar_system_ephemeris,
    )
    from astropy.time import Time

    scalar = np.ndim(jd_tdb) == 0
    jd = np.atleast_1d(np.asarray(jd_tdb, dtype=float))
    times = Time(jd, format="jd", scale="tdb")
    pos = np.empty((len(times), len(bodies), 3))
    vel = np.empty_like(pos)
    with solar_system_ephemeris.set("builtin"):
        for k, body in enumerate(bodies):
            p, v = get_body_barycentric_posvel(body, times)
            pos[:, k] = p.xyz.to_value("au").T
            if body in ANALYTIC_VELOCITY_BODIES:
                vel[:, k] = v.xyz.to_value("au/day").T
                continue
            # ERFA plan94/moon98 velocities disagree with their own positions by up to
            # 25 m/s (Saturn: 2.6e-3 relative), which makes a free integration drift off
            # the ephemeris by ~1 au per century; differentiate the positions instead
            # (4th-order central differences; truncation ~1e-8 relative for the Moon).
            h = FD_STEP_DAYS
            shifted = [
                get_body_barycentric(body, Time(jd, k_h * h, format="jd", scale="tdb"))
                .xyz.to_value("au")
                .T
                for k_h in (-2, -1, 1, 2)
            ]
            vel[:, k] = (shifted[0] - 8 * shifted[1] + 8 * shifted[2] - shifted[3]) / (12 * h)
    pos, vel = icrs_to_ecliptic(pos), icrs_to_ecliptic(vel)
    if scalar:
        return pos[0], vel[0]
    return pos, vel


# --- Keplerian elements <-> Cartesian state ---------------------------------------------


def solve_kepler(mean_anomaly: np.ndarray, e: np.ndarray, tol: float = 1e-14) -> np.ndarray:
    """Eccentric (e < 1) or hyperbolic (e > 1) anomaly from the mean anomaly, radians."""
    M = np.asarray(mean_anomaly, dtype=float)
    e = np.broadcast_to(np.asarray(e, dtype=float), M.shape)
    hyper = e > 1.0
    E = np.where(hyper, np.arcsinh(M / np.maximum(e, 1e-300)), M + e * np.sin(M))
    E = np.where(~hyper & (e > 0.8), np.pi * np.sign(M) + 0.0 * M, E)
    E = np.where(~hyper & (e > 0.8) & (M == 0), 0.0, E)
    # Each element stops updating once its own step is below tolerance, so that a
    # value does not depend on which other elements share the batch.
    active = np.ones(M.shape, dtype=bool)
    for _ in range(100):
        f = np.where(hyper, e * np.sinh(E) - E - M, E - e * np.sin(E) - M)
        fp = np.where(hyper, e * np.cosh(E) - 1.0, 1.0 - e * np.cos(E))
        step = np.where(active, f / fp, 0.0)
        E = E - step
        active &= np.abs(step) >= tol * np.maximum(1.0, np.abs(E))
        if not active.any():
            break
    return E


def elements_to_state(
    a: np.ndarray,
    e: np.ndarray,
    i_deg: np.ndarray,
    om_deg: np.ndarray,
    w_deg: np.ndarray,
    ma_deg: np.ndarray,
    mu: float = GM_SUN,
) -> tuple[np.ndarray, np.ndarray]:
    """Osculating elements -> Cartesian state (position au, velocity au/day), shape (N, 3).

    ``a`` in au (negative for hyperbolic orbits), angles in degrees, ``mu`` in
    au^3/day^2 (default: the Sun's GM, for heliocentric elements of massless bodies).
    """
    a, e, i_deg, om_deg, w_deg, ma_deg = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, dtype=float)) for x in (a, e, i_deg, om_deg, w_deg, ma_deg))
    )
    if np.any(e < 0) or np.any((e < 1) & (a <= 0)) or np.any((e > 1) & (a >= 0)):
        raise ValueError("elements_to_state: need a > 0 for e < 1 and a < 0 for e > 1")
    inc, om, w = np.deg2rad(i_deg), np.deg2rad(om_deg), np.deg2rad(w_deg)
    M = np.deg2rad(ma_deg)
    hyper = e > 1.0
    M = np.where(hyper, M, np.mod(M + np.pi, 2 * np.pi) - np.pi)
    E = solve_kepler(M, e)
    absa = np.abs(a)
    n = np.sqrt(mu / absa**3)
    # Perifocal coordinates.
    ell_x, ell_y = a * (np.cos(E) - e), absa * np.sqrt(np.abs(1 - e**2)) * np.sin(E)
    hyp_x, hyp_y = absa * (e - np.cosh(E)), absa * np.sqrt(np.abs(e**2 - 1)) * np.sinh(E)
    x_p = np.where(hyper, hyp_x, ell_x)
    y_p = np.where(hyper, hyp_y, ell_y)
    r = np.hypot(x_p, y_p)
    ell_vx = -(absa**2) * n * np.sin(E) / r
    ell_vy = absa**2 * n * np.sqrt(np.abs(1 - e**2)) * np.cos(E) / r
    hyp_vx = -(absa**2) * n * np.sinh(E) / r
    hyp_vy = absa**2 * n * np.sqrt(np.abs(e**2 - 1)) * np.cosh(E) / r
    vx_p = np.where(hyper, hyp_vx, ell_vx)
    vy_p = np.where(hyper, hyp_vy, ell_vy)
    rot = _perifocal_to_reference(inc, om, w)  # (N, 3, 3)
    pos = np.einsum("nij,nj->ni", rot[:, :, :2], np.stack([x_p, y_p], axis=-1))
    vel = np.einsum("nij,nj->ni", rot[:, :, :2], np.stack([vx_p, vy_p], axis=-1))
    return pos, vel


def _perifocal_to_reference(inc: np.ndarray, om: np.ndarray, w: np.ndarray) -> np.ndarray:
    co, so, ci, si, cw, sw = np.cos(om), np.sin(om), np.cos(inc), np.sin(inc), np.cos(w), np.sin(w)
    return np.stack(
        [
            np.stack([co * cw - so * sw * ci, -co * sw - so * cw * ci, so * si], axis=-1),
            np.stack([so * cw + co * sw * ci, -so * sw + co * cw * ci, -co * si], axis=-1),
            np.stack([sw * si, cw * si, ci], axis=-1),
        ],
        axis=-2,
    )


def state_to_elements(
    pos: np.ndarray, vel: np.ndarray, mu: float = GM_SUN
) -> dict[str, np.ndarray]:
    """Cartesian state (N, 3) in au, au/day -> osculating elements.

    Returns a dict with ``a_au`` (negative if hyperbolic), ``e``, ``i_deg``,
    ``om_deg``, ``w_deg`` and ``ma_deg`` (angles in [0, 360), mean anomaly of a
    hyperbolic orbit as the signed hyperbolic mean anomaly), and ``q_au``.
    """
    r_vec = np.atleast_2d(np.asarray(pos, dtype=float))
    v_vec = np.atleast_2d(np.asarray(vel, dtype=float))
    r = np.linalg.norm(r_vec, axis=1)
    v2 = np.einsum("ij,ij->i", v_vec, v_vec)
    h_vec = np.cross(r_vec, v_vec)
    h = np.linalg.norm(h_vec, axis=1)
    inc = np.arccos(np.clip(h_vec[:, 2] / h, -1.0, 1.0))
    node = np.stack([-h_vec[:, 1], h_vec[:, 0], np.zeros_like(h)], axis=1)
    n_norm = np.linalg.norm(node, axis=1)
    e_vec = np.cross(v_vec, h_vec) / mu - r_vec / r[:, None]
    e = np.linalg.norm(e_vec, axis=1)
    inv_a = 2.0 / r - v2 / mu
    a = 1.0 / inv_a
    safe_n = np.where(n_norm > 1e-15, n_norm, 1.0)
    om = np.where(n_norm > 1e-15, np.arctan2(node[:, 1], node[:, 0]), 0.0)
    # Argument of perihelion measured from the node (or from x for planar orbits).
    ref = np.where((n_norm > 1e-15)[:, None], node / safe_n[:, None], np.array([1.0, 0, 0]))
    ref_perp = np.cross(h_vec / h[:, None], ref)
    w = np.arctan2(np.einsum("ij,ij->i", e_vec, ref_perp), np.einsum("ij,ij->i", e_vec, ref))
    # True anomaly.
    e_hat = e_vec / np.where(e > 0, e, 1.0)[:, None]
    e_perp = np.cross(h_vec / h[:, None], e_hat)
    nu = np.arctan2(np.einsum("ij,ij->i", r_vec, e_perp), np.einsum("ij,ij->i", r_vec, e_hat))
    hyper = e > 1.0
    with np.errstate(invalid="ignore"):
        E = 2.0 * np.arctan2(
            np.sqrt(np.clip(1 - e, 0, None)) * np.sin(nu / 2), np.sqrt(1 + e) * np.cos(nu / 2)
        )
        M_ell = E - e * np.sin(E)
        F = 2.0 * np.arctanh(np.sqrt(np.clip((e - 1) / (e + 1), 0, None)) * np.tan(nu / 2))
        M_hyp = e * np.sinh(F) - F
    M = np.where(hyper, M_hyp, M_ell)
    wrap = lambda x: np.mod(np.rad2deg(x), 360.0)  # noqa: E731
    return {
        "a_au": a,
        "e": e,
        "i_deg": np.rad2deg(inc),
        "om_deg": wrap(om),
        "w_deg": wrap(w),
        "ma_deg": np.where(hyper, np.rad2deg(M), wrap(M)),
        "q_au": a * (1.0 - e),
    }
