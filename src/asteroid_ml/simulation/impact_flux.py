"""Physically weighted impact geometry: which NEOs hit Earth, how fast and from where.

An impactor library made by launching particles from Earth's surface needs a
distribution of encounter velocities. Instead of assuming one (isotropic
directions, a fixed speed law), this module derives it from the background NEO
model: an orbit (a, e, i) of that model hits Earth at a rate given by Öpik's
collision theory (Öpik 1951, Proc. R. Irish Acad. 54A, 165; Wetherill 1967, JGR
72, 2429), and its encounter velocity relative to Earth follows from the same
theory. The impactors are then the Earth-hitting members of the population the
classifier must separate them from, which is what a hazard classifier should
learn (low-speed, low-inclination Earth-crossers hit far more often than their
share of the population).

Öpik's frame, in units of Earth's circular speed v_E = sqrt(GM_sun / 1 au) for a
target on a circular orbit of radius 1 au: at the crossing of r = 1 au the
relative velocity U has components

* U_x = ±sqrt(2 - 1/a - a(1 - e²))   radial (outward +),
* U_y = sqrt(a(1 - e²)) cos i - 1     along Earth's motion,
* U_z = ±sqrt(a(1 - e²)) sin i        along Earth's orbital pole,

and the mean collision probability per unit time, averaged over the argument of
perihelion, is ∝ τ² U / (sin i |U_x| a^{3/2}) with the gravitationally focused
cross-section τ² ∝ 1 + v_esc² / (U v_E)². Angles are radians, speeds in the
units named by each function.
"""

from __future__ import annotations

import math

import numpy as np

#: Earth's circular heliocentric speed at 1 au, the unit of Öpik's U (km/s).
V_EARTH_CIRC_KMS = 29.7847


def opik_encounter_velocity(a: np.ndarray, e: np.ndarray, inc: np.ndarray) -> np.ndarray:
    """|U_x|, U_y, |U_z| (units of v_E) of orbits crossing r = 1 au; shape (..., 3).

    ``a`` in au, ``inc`` in radians. Orbits that do not cross 1 au give NaN.
    """
    a, e, inc = np.broadcast_arrays(np.asarray(a, float), np.asarray(e, float), inc)
    p = a * (1.0 - e * e)
    ux2 = 2.0 - 1.0 / a - p
    crosses = (a * (1.0 - e) < 1.0) & (a * (1.0 + e) > 1.0)
    ux = np.where(crosses, np.sqrt(np.maximum(ux2, 0.0)), np.nan)
    sp = np.sqrt(np.maximum(p, 0.0))
    return np.stack([ux, sp * np.cos(inc) - 1.0, sp * np.sin(inc)], axis=-1)


def opik_impact_rate(a: np.ndarray, e: np.ndarray, inc: np.ndarray, v_esc_kms: float) -> np.ndarray:
    """Relative Earth-impact rate per unit time of orbits (a au, e, inc rad); 0 if not crossing.

    Öpik's ω-averaged probability per revolution, τ² U / (π sin i |U_x|), divided
    by the period a^{3/2}, with τ² ∝ 1 + v_esc²/(U v_E)²; the constant factor
    (Earth's radius over 1 au, squared, over π) is dropped.
    """
    u = opik_encounter_velocity(a, e, inc)
    speed = np.linalg.norm(u, axis=-1)
    focusing = 1.0 + (v_esc_kms / (speed * V_EARTH_CIRC_KMS)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = focusing * speed / (np.sin(inc) * u[..., 0] * np.asarray(a, float) ** 1.5)
    return np.where(np.isfinite(rate), rate, 0.0)


def encounter_frame(r_earth: np.ndarray, v_earth: np.ndarray) -> np.ndarray:
    """Rows: Öpik's x (radial), y (along Earth's motion), z (orbit pole) unit vectors.

    ``r_earth``, ``v_earth``: Earth's heliocentric position and velocity in the
    frame the result is expressed in (any units).
    """
    x = r_earth / np.linalg.norm(r_earth)
    z = np.cross(r_earth, v_earth)
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z])


def surface_crossing(
    v_inf: np.ndarray, b_vec: np.ndarray, mu: float, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Geocentric position and velocity where an incoming hyperbola reaches ``radius``.

    The body approaches with asymptotic velocity ``v_inf`` and impact-parameter
    vector ``b_vec`` (perpendicular to ``v_inf``); ``mu`` is the planet's GM, all in
    one unit system (e.g. au and au/day). |b_vec| must be below the focused
    radius ``radius * sqrt(1 + 2 mu / (radius |v_inf|²))`` so the orbit hits.
    """
    v2 = float(np.dot(v_inf, v_inf))
    b = float(np.linalg.norm(b_vec))
    u_hat = v_inf / math.sqrt(v2)
    if b == 0.0:  # head-on: a radial line
        speed = math.sqrt(v2 + 2.0 * mu / radius)
        return -radius * u_hat, speed * u_hat
    h_vec = np.cross(b_vec, v_inf)  # r x v at the incoming infinity, r -> b - L u_hat
    h = float(np.linalg.norm(h_vec))
    h_hat = h_vec / h
    p = h * h / mu
    ecc = math.sqrt(1.0 + v2 * h * h / (mu * mu))
    nu_inf = -math.acos(-1.0 / ecc)  # true anomaly of the incoming asymptote
    cos_nu = (p / radius - 1.0) / ecc
    if cos_nu > 1.0:
        raise ValueError("impact parameter too large: the hyperbola misses the surface")
    nu = -math.acos(cos_nu)  # before periapsis: on the way in
    # Periapsis direction from the incoming radial direction (-u_hat at nu_inf).
    towards = -u_hat
    peri = math.cos(nu_inf) * towards - math.sin(nu_inf) * np.cross(h_hat, towards)
    q_hat = np.cross(h_hat, peri)
    pos = p / (1.0 + ecc * math.cos(nu)) * (math.cos(nu) * peri + math.sin(nu) * q_hat)
    vel = math.sqrt(mu / p) * (-math.sin(nu) * peri + (ecc + math.cos(nu)) * q_hat)
    return pos, vel
