"""Earth minimum orbit intersection distance (MOID), vectorised over many orbits.

The MOID is the smallest distance between two Keplerian orbits as curves in
space, whatever the positions of the bodies on them. NASA's PHA flag is
``MOID <= 0.05 au and H <= 22``, so an impactor classifier meant to recover PHAs
needs the orbit geometry, not only the elements one by one.

Earth's orbit is taken as the J2000 mean ellipse of the Earth-Moon barycentre
(Standish & Williams, "Keplerian elements for approximate positions of the major
planets", JPL; inclination 1.5e-5 deg, neglected). For a point P of the asteroid
orbit the distance to that near-circular ellipse is

    d = sqrt((rho - r_E(lambda))**2 + z**2),

with ``rho, lambda, z`` the cylindrical coordinates of P (ecliptic J2000,
heliocentric) and ``r_E(lambda)`` Earth's orbital radius at longitude lambda:
the nearest point of an ellipse of eccentricity 0.0167 lies at P's longitude to
~1e-4 of the distance. The asteroid's true anomaly is scanned on a grid and the
best minimum refined by golden-section search. Checked against the MOIDs of the
JPL Small-Body Database for the 4,226 NEOs of ``resources/neo`` in the tests.
"""

from __future__ import annotations

import numpy as np

#: J2000 mean elements of the Earth-Moon barycentre (Standish & Williams, JPL):
#: semi-major axis (au), eccentricity, longitude of perihelion (deg).
EARTH_A_AU = 1.00000261
EARTH_E = 0.01671123
EARTH_VARPI_DEG = 102.93768193

#: Secular rates of the same elements per Julian century (Standish & Williams, Table 1):
#: eccentricity, inclination to the J2000 ecliptic (deg) and longitude of perihelion (deg).
EARTH_E_RATE = -0.00004392
EARTH_I_RATE_DEG = -0.01294668
EARTH_VARPI_RATE_DEG = 0.32327364


def earth_orbit_drift_au(years: float | np.ndarray) -> np.ndarray:
    """Upper bound (au) on how far Earth's orbit moves from the J2000 ellipse in ``years``,
    and so on the MOID error of keeping that ellipse (the MOID moves by at most the largest
    displacement of either curve): in-plane ``|de| + e |dvarpi|`` plus out of plane
    ``sin |di|``, from the secular rates. 0.0004 au after 100 yr, 0.0018 after 500,
    0.0073 after 2,000 (mostly the inclination of Earth's orbit to the J2000 ecliptic)."""
    centuries = np.abs(np.asarray(years, dtype=float)) / 100.0
    in_plane = EARTH_A_AU * (
        np.abs(EARTH_E_RATE) * centuries + EARTH_E * np.radians(EARTH_VARPI_RATE_DEG * centuries)
    )
    return in_plane + EARTH_A_AU * np.sin(np.radians(np.abs(EARTH_I_RATE_DEG) * centuries))


#: True-anomaly grid of the coarse scan and golden-section refinement steps.
GRID_POINTS = 720
REFINE_STEPS = 40
#: Orbits processed together (bounds the (chunk, GRID_POINTS) temporaries to ~6 MB each).
CHUNK = 1024


def _distance(nu, p, e, cos_om, sin_om, cos_i, sin_i, w):
    """Distance (au) from the asteroid orbit point at true anomaly ``nu`` to Earth's orbit."""
    r = p / (1.0 + e * np.cos(nu))
    u = w + nu
    cu, su = np.cos(u), np.sin(u)
    x = r * (cos_om * cu - sin_om * su * cos_i)
    y = r * (sin_om * cu + cos_om * su * cos_i)
    z = r * su * sin_i
    rho = np.hypot(x, y)
    lam = np.arctan2(y, x)
    varpi = np.deg2rad(EARTH_VARPI_DEG)
    r_earth = EARTH_A_AU * (1.0 - EARTH_E**2) / (1.0 + EARTH_E * np.cos(lam - varpi))
    return np.hypot(rho - r_earth, z)


def earth_moid_au(a_au, e, i_deg, om_deg, w_deg) -> np.ndarray:
    """Earth MOID (au) of heliocentric ecliptic-J2000 orbits (arrays of equal shape).

    ``a_au`` is the semi-major axis (negative for hyperbolic orbits is not supported:
    orbits with ``e >= 1`` or ``a <= 0`` give NaN). Accuracy: ~1e-4 au against JPL's
    MOIDs, limited by Earth's orbit model (mean J2000 ellipse of the Earth-Moon
    barycentre, not Earth's osculating orbit at the epoch).
    """
    a = np.asarray(a_au, dtype=np.float64).ravel()
    ecc = np.asarray(e, dtype=np.float64).ravel()
    inc = np.deg2rad(np.asarray(i_deg, dtype=np.float64).ravel())
    om = np.deg2rad(np.asarray(om_deg, dtype=np.float64).ravel())
    w = np.deg2rad(np.asarray(w_deg, dtype=np.float64).ravel())
    shape = np.shape(a_au)
    moid = np.full(a.size, np.nan)
    valid = np.flatnonzero((ecc >= 0) & (ecc < 1) & (a > 0) & np.isfinite(inc + om + w))
    grid = np.linspace(-np.pi, np.pi, GRID_POINTS, endpoint=False)
    step = grid[1] - grid[0]
    golden = (np.sqrt(5.0) - 1.0) / 2.0
    for start in range(0, valid.size, CHUNK):
        k = valid[start : start + CHUNK]
        args = [
            (a[k] * (1 - ecc[k] ** 2))[:, None],
            ecc[k][:, None],
            np.cos(om[k])[:, None],
            np.sin(om[k])[:, None],
            np.cos(inc[k])[:, None],
            np.sin(inc[k])[:, None],
            w[k][:, None],
        ]
        coarse = _distance(grid[None, :], *args)
        best = grid[np.argmin(coarse, axis=1)][:, None]
        # Golden-section search on [best - step, best + step] (unimodal there).
        lo, hi = best - step, best + step
        x1 = hi - golden * (hi - lo)
        x2 = lo + golden * (hi - lo)
        f1, f2 = _distance(x1, *args), _distance(x2, *args)
        for _ in range(REFINE_STEPS):
            left = f1 < f2
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            x2n = np.where(left, x1, lo + golden * (hi - lo))
            x1n = np.where(left, hi - golden * (hi - lo), x2)
            x1, x2 = x1n, x2n
            f1, f2 = _distance(x1, *args), _distance(x2, *args)
        moid[k] = np.minimum(np.minimum(f1, f2), coarse.min(axis=1)[:, None])[:, 0]
    return moid.reshape(shape)
