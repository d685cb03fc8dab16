"""Forward runs, the physics label, the MOID baselines and the real-catalog summary."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from asteroid_ml.config import load_config
from asteroid_ml.evaluation.hazard import summary_rows
from asteroid_ml.evaluation.physics import moid_score, physics_scores
from asteroid_ml.evaluation.scoring import evaluate_model
from asteroid_ml.models.baselines import train_impactor_baseline
from asteroid_ml.models.series import (
    SERIES_COLUMNS,
    SERIES_FEATURES,
    ImpactorSeriesNet,
    series_features,
)
from asteroid_ml.models.synthetic import make_synthetic_dataset
from asteroid_ml.models.training import load_checkpoint, score_batches, train_series
from asteroid_ml.simulation import forward
from asteroid_ml.simulation.close_approach import load_catalog, propagate_states
from asteroid_ml.simulation.solar_system import GM_SUN, elements_to_state, state_to_elements

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "resources" / "neo" / "neos-2020.csv"


def _config(window_years: float, sample_years: float) -> dict:
    config = copy.deepcopy(load_config(REPO / "config" / "test.yaml"))
    config["simulation"]["impactor"]["window_end_years"] = window_years
    config["hazard"]["sample_years"] = sample_years
    return config


def _rows(designations: list[str]) -> pd.DataFrame:
    catalog = load_catalog(CATALOG)
    return catalog.set_index("des").loc[designations].reset_index()


def test_forward_moid_at_epoch_equals_jpl_moid():
    """t = 0 of the forward run: our MOID against the catalog's (JPL's) for 40 objects."""
    catalog = load_catalog(CATALOG)
    sample = catalog[np.isclose(catalog["epoch"], 2459000.5)].sample(40, random_state=3)
    config = _config(1.0, 1.0)
    pos, vel = forward.catalog_states_at_epoch(sample, 2459000.5)
    table = forward.forward_run(config, pos, vel)
    # JPL's MOIDs are against the osculating Earth, ours against the mean J2000 ellipse
    # (tests/test_moid.py: within 1.7e-3 au for all 4,226 objects).
    np.testing.assert_allclose(table["moid_now_au"], sample["moid"], atol=2e-3)
    assert (table["moid_min_au"] <= table["moid_now_au"] + 1e-12).all()


def test_orbit_whose_moid_shrinks_through_the_limit_gets_the_physics_label():
    """2020 HL3 (MOID 0.0503 au at the epoch) reaches MOID < 0.05 au within 10 years;
    1685 Toro stays far (MOID ~0.05-0.06 now, no approach within 2 years), and an orbit
    far from the Earth's (a = 2.5 au, q = 2 au) never gets the label."""
    config = _config(10.0, 2.0)
    rows = _rows(["2020 HL3"])
    pos, vel = forward.catalog_states_at_epoch(rows, 2459000.5)
    far_pos, far_vel = elements_to_state(2.5, 0.2, 5.0, 40.0, 60.0, 10.0, GM_SUN)
    pos = np.vstack([pos, np.atleast_2d(far_pos)])
    vel = np.vstack([vel, np.atleast_2d(far_vel)])
    table = forward.forward_run(config, pos, vel)
    assert table.loc[0, "moid_now_au"] > 0.05
    assert table.loc[0, "moid_min_au"] <= 0.05 and table.loc[0, "future_approach"] == 1
    first = table.loc[0, "moid_first_below_jd_tdb"]
    assert 2459000.5 < first <= 2459000.5 + 10 * 365.25 + 4
    assert table.loc[1, "moid_now_au"] > 0.9 and table.loc[1, "future_approach"] == 0
    assert np.isnan(table.loc[1, "moid_first_below_jd_tdb"])


def test_sample_times_are_whole_steps_and_end_at_the_window():
    config = _config(100.0, 20.0)
    times = forward.sample_times(config)
    step = config["simulation"]["timestep_days"]
    assert len(times) == 5
    np.testing.assert_allclose(times / step, np.round(times / step))
    assert times[-1] >= 100.0 * 365.25 and times[-1] - 100.0 * 365.25 < 5 * step


def test_sweep_to_the_epoch_equals_one_propagation_per_epoch():
    """The sweep resets the planets at other times than a propagation from each object's own
    epoch: they agree to 2e-7 au after the longest shift (18 yr, measured), far below what
    a population run resolves."""
    catalog = load_catalog(CATALOG)
    other = catalog[~np.isclose(catalog["epoch"], 2459000.5)]
    rows = pd.concat([other.nsmallest(3, "epoch"), other.nlargest(2, "epoch")]).reset_index(
        drop=True
    )
    pos, vel = forward.catalog_states_at_epoch(rows, 2459000.5)
    for k, row in rows.iterrows():
        p, v = elements_to_state(row.a, row.e, row.i, row.om, row.w, row.ma, GM_SUN)
        p1, v1 = propagate_states(np.atleast_2d(p), np.atleast_2d(v), row.epoch, 2459000.5)
        np.testing.assert_allclose(pos[k], p1[0], atol=1e-6)
        np.testing.assert_allclose(vel[k], v1[0], atol=1e-8)


def test_moid_score_is_monotone_and_half_at_the_limit():
    moid = np.array([0.0, 0.01, 0.05, 0.2])
    s = moid_score(moid, 0.05)
    assert s[0] == 1.0 and s[2] == 0.5 and np.all(np.diff(s) < 0)


def test_baselines_go_through_the_same_metric_code(tmp_path):
    """impactor_moid_now and impactor_rf are scored by the same evaluate_model: same keys,
    and the baseline's ROC-AUC is that of -MOID."""
    dataset = make_synthetic_dataset(
        tmp_path / "dataset", {"train": 40, "val": 20, "test": 20}, seed=2, n_objects=300
    )
    config = copy.deepcopy(load_config(REPO / "config" / "test.yaml"))
    config["training"]["baselines"]["n_estimators"] = 20
    elements = pd.read_parquet(dataset / "elements.parquet")
    rng = np.random.default_rng(0)
    moid = np.where(
        elements["label"] == 1,
        rng.uniform(0, 0.05, len(elements)),
        rng.uniform(0, 0.4, len(elements)),
    )
    table = pd.DataFrame(
        {"object_id": elements["object_id"], **{c: np.nan for c in forward.FORWARD_COLUMNS}}
    )
    table["moid_now_au"] = moid
    table["moid_min_au"] = moid / 2
    table["future_approach"] = 0
    fwd = tmp_path / "forward.parquet"
    table.to_parquet(fwd)
    model = tmp_path / "models" / "impactor_rf" / "model.joblib"
    train_impactor_baseline(config, dataset / "elements.parquet", model)
    keys = {}
    for name, path in (("impactor_moid_now", ""), ("impactor_rf", model)):
        out = tmp_path / "eval" / name
        evaluate_model(
            config,
            name,
            path,
            dataset,
            out / "metrics.json",
            out / "predictions.parquet",
            forward_paths=[fwd],
        )
        keys[name] = set(json.loads((out / "metrics.json").read_text()))
    assert keys["impactor_moid_now"] == keys["impactor_rf"]
    metrics = json.loads((tmp_path / "eval" / "impactor_moid_now" / "metrics.json").read_text())
    test = elements[elements["split"] == "test"]
    expected = roc_auc_score(test["label"], -moid[test.index.to_numpy()])
    assert metrics["roc_auc"] == pytest.approx(expected, rel=1e-12)
    assert metrics["operating_threshold"]["chosen_on"] == "val"


def test_physics_scores_name_a_missing_object():
    table = pd.DataFrame({"des": ["a"], "moid_now_au": [0.1], "moid_min_au": [0.01]})
    np.testing.assert_allclose(
        physics_scores("impactor_moid_future", table, "des", ["a"], 0.05), [1 / 1.2]
    )
    with pytest.raises(ValueError, match="lack 1 object"):
        physics_scores("impactor_moid_now", table, "des", ["b"], 0.05)


def test_summary_rows_hand_computed():
    scores = pd.DataFrame({"m": [0.9, 0.8, 0.3, 0.2, 0.6]})
    labels = {"pha": np.array([1, 0, 1, 0, 0]), "future_approach": np.array([1, 1, 1, 0, 0])}
    rows = summary_rows(scores, labels, {"m": 0.5}).set_index("label")
    # flagged: 0.9, 0.8, 0.6 -> 3 of 5
    assert rows.loc["pha", "flagged_fraction"] == pytest.approx(0.6)
    assert rows.loc["pha", "recall"] == pytest.approx(0.5)  # 1 of 2 PHAs
    assert rows.loc["future_approach", "recall"] == pytest.approx(2 / 3)
    # ROC-AUC for pha: positives 0.9, 0.3 against 0.8, 0.2, 0.6 -> (3 + 1) / 6
    assert rows.loc["pha", "roc_auc"] == pytest.approx(4 / 6)
    # Wilson 95 % for 1/2: centre (0.5 + z^2/4) / (1 + z^2/2) = 0.5, half 0.4129...
    assert rows.loc["pha", "recall_ci95_low"] == pytest.approx(0.0945, abs=1e-4)
    assert rows.loc["pha", "recall_ci95_high"] == pytest.approx(0.9055, abs=1e-4)


def test_series_times_and_element_series_start_at_the_epoch():
    config = _config(10.0, 5.0)
    config["hazard"]["series_years"] = 20.0
    config["hazard"]["series_samples"] = 3
    times = forward.series_times(config)
    step = config["simulation"]["timestep_days"]
    assert times[0] == 0.0 and len(times) == 3
    np.testing.assert_allclose(times / step, np.round(times / step))
    assert abs(times[-1] - 20.0 * 365.25) < 3 * step
    rows = _rows(["1685", "2020 HL3"])
    pos, vel = forward.catalog_states_at_epoch(rows, 2459000.5)
    series = forward.element_series(config, pos, vel)
    assert series.shape == (2, 3, len(SERIES_COLUMNS))
    # the first sample is the epoch itself: the catalog's elements and our MOID
    elements = state_to_elements(pos, vel, GM_SUN)
    np.testing.assert_allclose(series[:, 0, 0], elements["a_au"], rtol=1e-9)
    np.testing.assert_allclose(series[:, 0, 1], elements["e"], rtol=1e-9)
    assert series[0, 0, 0] == pytest.approx(
        rows.loc[0, "a"], rel=1e-9
    )  # Toro: elements at the epoch
    np.testing.assert_allclose(
        series[:, 0, 5], forward.forward_run(_config(1.0, 1.0), pos, vel)["moid_now_au"], rtol=1e-12
    )
    # 20 years back the orbits have changed, but only a little
    assert np.all(np.abs(series[:, 2, 0] - series[:, 0, 0]) < 0.05)


def test_series_features_and_network_shapes():
    rng = np.random.default_rng(0)
    raw = np.stack(
        [rng.uniform(0.9, 2.5, (4, 7)), rng.uniform(0, 0.6, (4, 7)), rng.uniform(0, 20, (4, 7)),
         rng.uniform(0, 360, (4, 7)), rng.uniform(0, 360, (4, 7)), rng.uniform(0, 0.3, (4, 7))],
        axis=2,
    )  # fmt: skip
    x = series_features(raw)
    assert x.shape == (4, len(SERIES_FEATURES), 7) and x.dtype == np.float32
    from asteroid_ml.config import section_with_defaults

    net = ImpactorSeriesNet.from_config(section_with_defaults("training", {})["series"], 7, 1.0)
    assert net(torch.from_numpy(x)).shape == (4,)
    raw[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="row 1"):
        series_features(raw)


def test_series_network_learns_a_moid_trend(tmp_path):
    """Impactor-like series (MOID falling towards 0) against flat ones: the network separates them."""
    dataset = make_synthetic_dataset(
        tmp_path / "dataset", {"train": 8, "val": 4, "test": 4}, seed=4, n_objects=240
    )
    elements = pd.read_parquet(dataset / "elements.parquet")
    rng = np.random.default_rng(1)
    k = 10
    trend = np.linspace(0.08, 0.0, k)
    raw = np.empty((len(elements), k, 6))
    raw[:, :, 0] = rng.uniform(1.0, 2.0, (len(elements), 1))
    raw[:, :, 1] = rng.uniform(0.1, 0.5, (len(elements), 1))
    raw[:, :, 2] = rng.uniform(0, 20, (len(elements), 1))
    raw[:, :, 3] = rng.uniform(0, 360, (len(elements), 1))
    raw[:, :, 4] = rng.uniform(0, 360, (len(elements), 1))
    positive = elements["label"].to_numpy() == 1
    raw[:, :, 5] = np.where(
        positive[:, None],
        trend + 0.01 * rng.random((len(elements), k)),
        rng.uniform(0.05, 0.3, (len(elements), 1)),
    )
    table = tmp_path / "forward.parquet"
    pd.DataFrame({"object_id": elements["object_id"].astype(str)}).to_parquet(table)
    series = tmp_path / "series.npy"
    np.save(series, raw)
    config = copy.deepcopy(load_config(REPO / "config" / "test.yaml"))
    config["training"]["series"].update(max_epochs=30, patience=30)
    train_series(
        config,
        dataset / "elements.parquet",
        [table],
        [series],
        tmp_path / "model",
        enable_progress_bar=False,
    )
    model = load_checkpoint(tmp_path / "model" / "best.ckpt", "impactor_series")
    test = elements[elements["split"] == "test"]
    scores = score_batches(model, torch.from_numpy(series_features(raw[test.index.to_numpy()])))
    assert roc_auc_score(test["label"], scores) > 0.95
