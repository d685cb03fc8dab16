"""Baselines: engineered image features on hand-made cutouts, forests learn synthetic data."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from asteroid_ml.config import load_config
from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA, MAD_TO_SIGMA
from asteroid_ml.models.baselines import (
    load_baseline,
    predict_baseline,
    train_detector_baseline,
    train_impactor_baseline,
)
from asteroid_ml.models.features import (
    DETECTOR_FEATURES,
    element_features,
    image_features,
)
from asteroid_ml.models.synthetic import make_synthetic_dataset

S = 32


def _background():
    """Rows alternating 99/101: median 100, MAD 1, noise sigma 1.4826."""
    img = np.full((S, S), 100.0)
    img[::2] -= 1.0
    img[1::2] += 1.0
    return img


def _gaussian(sigma_x, sigma_y, flux, x0=16.0, y0=16.0):
    yy, xx = np.mgrid[0:S, 0:S]
    g = np.exp(-0.5 * (((xx - x0) / sigma_x) ** 2 + ((yy - y0) / sigma_y) ** 2))
    return flux * g / g.sum()


def _f(images):
    return dict(zip(DETECTOR_FEATURES, image_features(np.asarray(images)).T, strict=True))


def test_features_of_hand_made_cutouts():
    hot = _background()
    hot[16, 16] += 1000.0
    star = _background() + _gaussian(2.0, 2.0, 2e5)
    trail = _background() + _gaussian(6.0, 1.5, 2e5)
    column = _background()
    column[:, 3] += 30.0
    f = _f([hot, star, trail, column])
    sigma = MAD_TO_SIGMA
    # the hot pixel (on a 99 row) shifts the median to 101; the MAD stays 1
    np.testing.assert_allclose(f["peak_snr"][0], (99 + 1000 - 101) / sigma, rtol=1e-9)
    np.testing.assert_allclose(f["peak_offset_px"][:3], np.hypot(0.5, 0.5), rtol=1e-6)
    assert f["sharpness"][0] > 0.95 and f["sharpness"][1] < 0.3  # single pixel vs resolved source
    # FWHM of a round Gaussian of sigma 2 px (bright: the 2-sigma cut hardly matters)
    np.testing.assert_allclose(f["fwhm_px"][1], GAUSSIAN_FWHM_PER_SIGMA * 2.0, rtol=0.1)
    assert f["ellipticity"][1] < 0.05 and f["ellipticity"][2] > 0.6
    assert f["line_excess"][3] > 5 * max(f["line_excess"][1], 1.0)
    assert f["aperture_snr"][1] > f["aperture_snr"][0]


def test_features_nan_safe():
    img = _background()
    img[:8] = np.nan
    f = image_features(np.stack([img, np.full((S, S), np.nan)]))
    assert np.isfinite(f).all()
    assert f[0, DETECTOR_FEATURES.index("blank_fraction")] == 0.25
    assert f[1, DETECTOR_FEATURES.index("blank_fraction")] == 1.0
    with pytest.raises(ValueError, match="cutouts"):
        image_features(np.zeros((2, 4, 5)))


def test_baselines_learn_synthetic_data(tmp_path):
    dataset = make_synthetic_dataset(
        tmp_path / "ds",
        {"train": 200, "val": 16, "test": 100},
        seed=9,
        snr_range=(8.0, 50.0),
        n_objects=500,
    )
    config = copy.deepcopy(load_config("config/test.yaml"))
    config["training"]["baselines"]["n_estimators"] = 60
    det = tmp_path / "stamp_rf" / "model.joblib"
    train_detector_baseline(config, dataset, det)
    bundle = load_baseline(det)
    assert bundle["task"] == "detector" and bundle["features"] == list(DETECTOR_FEATURES)
    test = np.load(dataset / "test.npy")
    import pandas as pd

    manifest = pd.read_parquet(dataset / "manifest.parquet")
    labels = manifest[manifest["split"] == "test"].sort_values("index_in_split")["label"].to_numpy()
    scores = predict_baseline(bundle, image_features(test))
    assert scores.shape == (100,) and ((scores >= 0) & (scores <= 1)).all()
    assert np.mean((scores >= 0.5) == labels) > 0.8

    imp = tmp_path / "impactor_rf" / "model.joblib"
    train_impactor_baseline(config, dataset / "elements.parquet", imp)
    bundle = load_baseline(imp)
    elements = pd.read_parquet(dataset / "elements.parquet")
    held_out = elements[elements["split"] == "test"]
    scores = predict_baseline(bundle, element_features(held_out, bundle["features"]))
    assert np.mean((scores >= 0.5) == held_out["label"].to_numpy()) > 0.9

    config["training"]["baselines"]["impactor_model"] = "gradient_boosting"
    train_impactor_baseline(config, dataset / "elements.parquet", imp)
    assert load_baseline(imp)["estimator"] == "gradient_boosting"
    with pytest.raises(FileNotFoundError, match="nothing.joblib"):
        load_baseline(tmp_path / "nothing.joblib")
