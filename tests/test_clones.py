"""Orbit-uncertainty clones (simulation/clones.py) against JPL's 2020 close approaches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asteroid_ml.simulation import clones
from asteroid_ml.simulation.cad_validation import load_cad
from asteroid_ml.simulation.close_approach import load_catalog

REPO = Path(__file__).resolve().parents[1]
EPOCH = 2459000.5


@pytest.mark.parametrize(("text", "minutes"), [("< 00:01", 0.5), ("00:12", 12.0),
                                                ("01:19", 79.0), ("2_03:20", 2 * 1440 + 200)])  # fmt: skip
def test_jpl_time_sigma_is_read_in_minutes(text, minutes):
    assert clones.parse_t_sigma(text) == minutes
    with pytest.raises(ValueError, match="cannot read t_sigma_f"):
        clones.parse_t_sigma("soon")


def test_straight_line_closest_approach():
    pos = np.array([[1.0, 0.0, 0.0], [2.0, 1.0, 0.0]])
    vel = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    dt, dist = clones.linear_closest_approach(pos, vel, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(dt, [0.0, 2.0])
    np.testing.assert_allclose(dist, [1.0, 1.0])


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO / "resources" / "neo" / "neos-2020.csv")


@pytest.mark.parametrize("parameters", clones.CLONE_PARAMETERS)
def test_clones_keep_the_nominal_first_and_spread_by_the_sigmas(catalog, parameters):
    row = catalog[catalog["des"] == "2020 AP3"].iloc[0]
    drawn = clones.draw_clones(row, 4000, np.random.default_rng(1), EPOCH, parameters)
    for key in ("a", "e", "i", "om", "w"):
        assert drawn[key].iloc[0] == pytest.approx(float(row[key]), rel=1e-12)
    assert drawn["ma"].iloc[0] == float(row["ma"])
    if parameters == "keplerian":
        assert np.std(drawn["a"]) == pytest.approx(float(row["sigma_a"]), rel=0.05)
        assert np.std(drawn["ma"]) == pytest.approx(float(row["sigma_ma"]), rel=0.05)
    if parameters == "along_track":
        assert np.ptp(drawn["i"]) == 0 and np.ptp(drawn["e"]) == 0
    if parameters == "cometary":
        q = drawn["a"] * (1 - drawn["e"])
        assert np.std(q[1:]) == pytest.approx(float(row["sigma_q"]), rel=0.05)


def test_nominal_clone_reproduces_jpl_distance(catalog):
    """The nominal clone, moved with IAS15 to JPL's time of approach and closed on a straight
    line, lands on JPL's nominal distance (three 2020 approaches; relative error < 1e-5)."""
    cad = load_cad(REPO / "resources" / "neo" / "cad-2020.json")
    at_epoch = catalog[np.isclose(catalog["epoch"], EPOCH)].set_index("des")
    for des in ("2020 AP3", "2019 AE3", "2020 BK7"):
        approach = cad[(cad["des"] == des) & (cad["dist"] <= 0.05)].iloc[0]
        times, dist = clones.clone_approach(at_epoch.loc[des], float(approach["jd"]), EPOCH, 20,
                                            np.random.default_rng(0))  # fmt: skip
        assert dist[0] == pytest.approx(float(approach["dist"]), rel=1e-5), des
        assert abs(times[0] - float(approach["jd"])) * 1440 < 2.0, des
        assert np.ptp(dist) > 0
