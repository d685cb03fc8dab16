"""scikit-learn baselines: random forests on engineered features.

- ``stamp_rf``: an Autoscan-style (Goldstein et al. 2015) random forest on
  hand-made features of each cutout: background-subtracted flux and SNR in a
  central aperture, peak value and its offset from the centre, second moments,
  ellipticity and a FWHM estimate of the central source, sharpness (cosmic
  rays and hot pixels), line excess (hot columns), blank fraction...
- ``impactor_rf``: a random forest (or histogram gradient boosting) on the same
  orbital-element features as the impactor MLP.

Models are stored with joblib as ``results/models/{model}/model.joblib``: a dict
holding the fitted estimator, the feature names and the task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from asteroid_ml.models.features import DETECTOR_FEATURES, image_features

log = logging.getLogger(__name__)

# --- training -----------------------------------------------------------------------


def _forest(config: Mapping[str, Any], seed_stage: str, threads: int, kind: str = "random_forest"):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from asteroid_ml.seeds import rng_for

    cfg = config["training"]["baselines"]
    random_state = int(rng_for(config["seed"], seed_stage).integers(2**31 - 1))
    if kind == "gradient_boosting":
        return HistGradientBoostingClassifier(
            max_iter=cfg["n_estimators"],
            min_samples_leaf=max(cfg["min_samples_leaf"], 5),
            class_weight="balanced",
            random_state=random_state,
        )
    return RandomForestClassifier(
        n_estimators=cfg["n_estimators"],
        min_samples_leaf=cfg["min_samples_leaf"],
        class_weight="balanced",
        n_jobs=max(1, int(threads)),
        random_state=random_state,
    )


def _save(bundle: dict[str, Any], path: Path) -> None:
    import joblib

    from asteroid_ml.io import atomic_output

    with atomic_output(path) as tmp:
        joblib.dump(bundle, tmp, compress=3)


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Load a ``model.joblib`` bundle: {'model', 'task', 'features', ...}.

    joblib unpickles: load only files this workflow wrote.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"baseline model not found: {path}")
    bundle = joblib.load(path)
    if not isinstance(bundle, dict) or "model" not in bundle or "task" not in bundle:
        raise ValueError(f"{path}: not a model bundle written by asteroid_ml.models.baselines")
    return bundle


def train_detector_baseline(
    config: Mapping[str, Any], dataset_dir: str | Path, model_path: str | Path, threads: int = 1
) -> dict[str, Any]:
    """Fit ``stamp_rf`` on the train split of ``dataset_dir``; write ``model_path``."""
    from asteroid_ml.models.datamodules import load_split_images, split_labels

    images = load_split_images(dataset_dir, "train")
    labels = split_labels(dataset_dir, "train", len(images))
    features = image_features(images)
    model = _forest(config, "stamp_rf", threads)
    model.fit(features, labels)
    train_acc = float(model.score(features, labels))
    log.info(
        "stamp_rf: %d cutouts, %d features, train accuracy %.4f",
        len(labels),
        features.shape[1],
        train_acc,
    )
    _save(
        {"model": model, "task": "detector", "features": list(DETECTOR_FEATURES)}, Path(model_path)
    )
    return {"n_train": len(labels), "train_accuracy": train_acc}


def train_impactor_baseline(
    config: Mapping[str, Any], elements_path: str | Path, model_path: str | Path, threads: int = 1
) -> dict[str, Any]:
    """Fit ``impactor_rf`` on the train rows of ``elements.parquet``; write ``model_path``."""
    from asteroid_ml.models.datamodules import load_elements
    from asteroid_ml.models.features import element_features

    names = list(config["training"]["impactor"]["features"])
    table = load_elements(elements_path)
    train = table[table["split"] == "train"]
    x, y = element_features(train, names), train["label"].to_numpy(int)
    kind = config["training"]["baselines"]["impactor_model"]
    model = _forest(config, "impactor_rf", threads, kind)
    model.fit(x, y)
    train_acc = float(model.score(x, y))
    log.info("impactor_rf (%s): %d objects, train accuracy %.4f", kind, len(y), train_acc)
    _save(
        {"model": model, "task": "impactor", "features": names, "estimator": kind}, Path(model_path)
    )
    return {"n_train": len(y), "train_accuracy": train_acc}


def predict_baseline(bundle: Mapping[str, Any], features: np.ndarray) -> np.ndarray:
    """Probability of class 1 (N,) float64 for a feature matrix."""
    model = bundle["model"]
    proba = model.predict_proba(features)
    classes = list(model.classes_)
    if 1 not in classes:
        return np.zeros(len(features))
    return proba[:, classes.index(1)].astype(np.float64)
