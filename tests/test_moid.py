"""Earth MOID against hand-built geometry and against JPL's MOIDs for real NEOs."""

from __future__ import annotations

import numpy as np
import pytest

from asteroid_ml.evaluation.real_catalog import read_neo_catalog
from asteroid_ml.simulation.moid import EARTH_A_AU, EARTH_E, EARTH_VARPI_DEG, earth_moid_au


def test_coplanar_circular_orbits_by_hand():
    # A circular orbit of radius a in the ecliptic: MOID = a - Earth's aphelion
    # (outside) or Earth's perihelion - a (inside).
    q_earth = EARTH_A_AU * (1 - EARTH_E)
    big_q_earth = EARTH_A_AU * (1 + EARTH_E)
    moid = earth_moid_au([1.5, 0.7], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    np.testing.assert_allclose(moid, [1.5 - big_q_earth, q_earth - 0.7], atol=1e-9)


def test_inclined_orbit_through_earths_orbit_has_zero_moid():
    # Perihelion at Earth's orbital radius, on the node line (w = 0): the orbits cross.
    node_longitude = 40.0
    lam = np.deg2rad(node_longitude - EARTH_VARPI_DEG)
    r_earth = EARTH_A_AU * (1 - EARTH_E**2) / (1 + EARTH_E * np.cos(lam))
    e = 0.4
    moid = earth_moid_au(r_earth / (1 - e), e, 30.0, node_longitude, 0.0)
    assert moid < 1e-9


def test_invalid_orbits_give_nan():
    moid = earth_moid_au([1.0, -2.0, 1.2], [1.2, 0.1, np.nan], [5, 5, 5], [0, 0, 0], [0, 0, 0])
    assert np.isnan(moid).all()


def test_agrees_with_jpl_moids_of_real_neos(repo):
    """All 4,226 NEOs of resources/neo/neos-2020.csv against the SBDB's moid column.

    The residual is Earth's orbit model (mean J2000 ellipse of the Earth-Moon
    barycentre vs JPL's Earth at each object's epoch): measured median 9e-5 au,
    p99 6.3e-4 au, max 1.7e-3 au.
    """
    catalog, _ = read_neo_catalog(repo / "resources" / "neo" / "neos-2020.csv")
    moid = earth_moid_au(
        catalog["a_au"], catalog["e"], catalog["i_deg"], catalog["om_deg"], catalog["w_deg"]
    )
    error = np.abs(moid - catalog["moid_au"].to_numpy())
    assert len(error) == 4226 and np.isfinite(error).all()
    assert np.median(error) < 2e-4
    assert np.quantile(error, 0.99) < 1e-3
    assert error.max() < 3e-3
    # NASA's PHA flag (MOID <= 0.05 au and H <= 22) is reproduced for >= 99.5 % of objects.
    pha = (moid <= 0.05) & (catalog["H_mag"].to_numpy() <= 22)
    assert (pha == catalog["pha"].to_numpy()).mean() > 0.995


@pytest.mark.parametrize("names", [["moid_au"], ["log10_moid", "a_au"]])
def test_element_features_expose_moid(names):
    import pandas as pd

    from asteroid_ml.models.features import element_features

    elements = pd.DataFrame(
        {"a_au": [1.5], "e": [0.0], "i_deg": [0.0], "om_deg": [0.0], "w_deg": [0.0]}
    )
    features = element_features(elements, names)
    moid = 1.5 - EARTH_A_AU * (1 + EARTH_E)
    expected = {"moid_au": moid, "log10_moid": np.log10(moid + 1e-4), "a_au": 1.5}
    np.testing.assert_allclose(features[0], [expected[n] for n in names], rtol=1e-6)


def test_earth_orbit_drift_bounds_the_fixed_ellipse_error():
    """Standish & Williams' secular rates: the J2000 ellipse is off by at most 0.0004 au after
    100 yr and 0.0073 au after 2,000 yr (the inclination of Earth's orbit dominates)."""
    from asteroid_ml.simulation.moid import earth_orbit_drift_au

    drift = earth_orbit_drift_au(np.array([0.0, 100.0, 500.0, 2000.0]))
    np.testing.assert_allclose(drift, [0.0, 0.000364, 0.00182, 0.00728], atol=2e-5)
    assert earth_orbit_drift_au(-500.0) == pytest.approx(drift[2])
