"""Hazard ranking (evaluation/ranking.py): labels, features, metrics and bootstrap on hand-built
tracks whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asteroid_ml.evaluation import ranking
from asteroid_ml.evaluation.metrics import cluster_bootstrap_rows, rank_auc

LIMIT = 0.05


def _track(moids: list[list[float]]) -> np.ndarray:
    """Tracks with fixed elements (a=1.5 au, e=0.3, i=5 deg) and the given MOID samples."""
    m = np.asarray(moids, dtype=float)
    track = np.zeros((*m.shape, 6))
    track[..., 0], track[..., 1], track[..., 2], track[..., 4] = 1.5, 0.3, 5.0, 90.0
    track[..., 5] = m
    return track


def test_labels_count_only_the_first_crossing_within_the_horizon():
    # object 0: MOID falls below the limit at sample 4; object 1: below already at the epoch
    # object 2: never; samples every 20 yr, 2 samples of history, horizons of 1 and 3 samples
    track = _track(
        [
            [0.20, 0.16, 0.12, 0.08, 0.04, 0.02, 0.03],
            [0.04, 0.03, 0.02, 0.03, 0.04, 0.06, 0.08],
            [0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30],
        ]
    )
    history = _track([[0.3, 0.3, 0.3]] * 3)
    x, y = ranking.starts(track, 20 * 365.25, history, 2, {20: 1, 60: 3}, LIMIT)
    got = pd.DataFrame({"object": x["object"], "start": x["start"], "h20": y[20], "h60": y[60]})
    row = got.set_index(["object", "start"])
    assert list(got.loc[got["object"] == 0, "start"]) == [0, 2, 3, 4, 5, 6]
    assert row.loc[(0, 0), "h20"] == 0 and row.loc[(0, 0), "h60"] == 0  # samples 1-3 > limit
    assert row.loc[(0, 2), "h20"] == 0 and row.loc[(0, 2), "h60"] == 1  # sample 4 within 3
    assert row.loc[(0, 3), "h20"] == 1 and row.loc[(0, 3), "h60"] == 1
    assert row.loc[(0, 4), "h20"] == -1  # at the limit already: not a ranking example
    assert row.loc[(0, 4), "h60"] == -1 and row.loc[(0, 5), "h60"] == -1  # beyond the track
    assert (got.loc[got["object"] == 1, "h60"].isin([-1, 1])).all()
    assert row.loc[(1, 5), "h20"] == 0  # 0.06 -> 0.08
    assert (got.loc[(got["object"] == 2) & (got["h20"] >= 0), "h20"] == 0).all()


def test_trend_is_the_least_squares_slope_of_the_history():
    track = _track([[0.20, 0.18, 0.16, 0.14, 0.12]])
    history = _track([[0.20, 0.22, 0.24]])  # lags 0, 20, 40 yr: falling 0.1 au/century
    x, _ = ranking.starts(track, 20 * 365.25, history, 2, {20: 1}, LIMIT)
    slopes = dict(zip(x["start"], x["moid_slope_au_per_century"], strict=True))
    assert slopes[0] == pytest.approx(-0.1, rel=1e-9)
    assert slopes[2] == pytest.approx(-0.1, rel=1e-3)  # 20 yr of 365.25 d, times in centuries
    scores = ranking.baseline_scores(x, 100.0)
    assert scores["moid_trend"][0] == pytest.approx(-(0.20 - 0.1), rel=1e-9)
    assert scores["moid_now"][0] == -0.20


def test_series_history_interpolates_and_refuses_a_short_series():
    series = np.zeros((1, 3, 6))
    series[0, :, 5] = [0.1, 0.2, 0.4]
    series[0, :, 4] = [350.0, 10.0, 30.0]  # omega through 0 deg
    days = np.array([0.0, 100.0, 200.0])
    got = ranking.series_history(series, days, np.array([0, 50, 150]))
    np.testing.assert_allclose(got[0, :, 5], [0.1, 0.15, 0.3])
    np.testing.assert_allclose(got[0, :, 4], [350.0, 0.0, 20.0], atol=1e-9)
    with pytest.raises(ValueError, match="needs 1 yr before the epoch"):
        ranking.series_history(series, days, np.array([0, 365.25]))


def test_rank_auc_matches_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + labels, 1)
    assert rank_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert np.isnan(rank_auc(np.ones(5), np.arange(5)))


def test_cluster_bootstrap_draws_whole_groups():
    groups = np.array(["a", "a", "a", "b", "c", "c"])
    for rows in cluster_bootstrap_rows(groups, 50, np.random.default_rng(0)):
        drawn = groups[rows]
        for g in "abc":
            assert (drawn == g).sum() % (groups == g).sum() == 0
        assert len(np.unique(drawn)) <= 3


def test_score_rows_use_the_given_thresholds_and_pair_the_deltas():
    labels = np.array([1, 1, 0, 0, 0, 0])
    scores = {"ranking_gbt": np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.4]),
              "moid_now": np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.4])}  # fmt: skip
    rows = ranking.score_rows("p", 100, labels, scores, np.arange(6).astype(str),
                              {"ranking_gbt": 0.85, "moid_now": 0.05}, 200, 1)  # fmt: skip
    by = {r["model"]: r for r in rows}
    assert by["ranking_gbt"]["roc_auc"] == 1.0 and by["moid_now"]["roc_auc"] == 0.5
    assert by["ranking_gbt"]["delta_auc_vs_moid_now"] == 0.5
    assert by["ranking_gbt"]["recall_at_threshold"] == 0.5  # 0.8 < 0.85: val's threshold kept
    assert by["moid_now"]["flagged_fraction"] == 1.0
    assert by["moid_now"]["delta_ci95_low"] == by["moid_now"]["delta_ci95_high"] == 0.0
