"""scikit-learn baselines: random forests on engineered features.

- ``detector_rf``: an Autoscan-style (Goldstein et al. 2015) random forest on
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

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826
#: Gaussian FWHM / sigma.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

DETECTOR_FEATURES = (
    "peak_snr",  # max pixel (sigma units) in the central disc
    "peak_offset_px",  # distance of that pixel from the cutout centre
    "aperture_flux",  # sum of background-subtracted pixels in the central disc (sigma units)
    "aperture_snr",  # aperture_flux / sqrt(pixels in the disc)
    "n_above_3sigma",  # central-disc pixels above 3 sigma
    "n_above_5sigma",
    "moment_size_px",  # sqrt((Ixx + Iyy) / 2) of the > 2 sigma central light
    "ellipticity",  # sqrt((Ixx - Iyy)^2 + 4 Ixy^2) / (Ixx + Iyy)
    "fwhm_px",  # FWHM estimate from the minor-axis second moment
    "sharpness",  # peak / sum of the 3x3 box around it (1 for a single hot pixel)
    "line_excess",  # largest |median| of a row or column (sigma units): hot columns/rows
    "global_peak_snr",  # max pixel of the whole cutout (stars anywhere)
    "blank_fraction",
    "log_sky_sigma",  # log10 of the robust noise (raw units)
    "positive_fraction",  # pixels above 2 sigma in the whole cutout
)


def _robust_background(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row median and MAD sigma of (N, P) pixels, ignoring NaN; sigma > 0."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(flat, axis=1)
        sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(flat - median[:, None]), axis=1)
        rms = np.nanstd(flat, axis=1)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, rms)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1.0)
    return np.where(np.isfinite(median), median, 0.0), sigma


def image_features(images: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Engineered features (N, len(DETECTOR_FEATURES)) float64 of cutouts (N, S, S).

    Pixel values in any linear unit (NaN = blank); all fluxes are in units of
    the per-cutout robust noise. "Central disc" = radius S/4 around the centre,
    where the dataset places its candidates. Vectorised over cutouts.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected cutouts (N, S, S), got shape {images.shape}")
    out = [
        _features_chunk(np.asarray(images[i : i + chunk], np.float64))
        for i in range(0, len(images), chunk)
    ]
    return np.concatenate(out) if out else np.zeros((0, len(DETECTOR_FEATURES)))


def _features_chunk(x: np.ndarray) -> np.ndarray:
    n, size, _ = x.shape
    flat = x.reshape(n, -1)
    blank = ~np.isfinite(flat)
    median, sigma = _robust_background(flat)
    z = np.where(blank, 0.0, (flat - median[:, None]) / sigma[:, None]).reshape(n, size, size)

    yy, xx = np.mgrid[0:size, 0:size]
    centre = (size - 1) / 2.0
    r = np.hypot(yy - centre, xx - centre)
    disc = r <= size / 4.0
    zd = np.where(disc, z, -np.inf)
    peak_index = zd.reshape(n, -1).argmax(axis=1)
    py, px = np.divmod(peak_index, size)
    peak = z[np.arange(n), py, px]
    # 3x3 box around the peak (edge pixels padded with 0).
    padded = np.pad(z, ((0, 0), (1, 1), (1, 1)))
    box = sum(
        padded[np.arange(n), py + 1 + dy, px + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )
    sharpness = np.where(box > 0, peak / np.maximum(box, 1e-12), 0.0)

    zc = np.where(disc, z, 0.0)
    aperture_flux = zc.sum(axis=(1, 2))
    aperture_snr = aperture_flux / np.sqrt(disc.sum())

    # Second moments of the > 2 sigma light in the disc, about its centroid.
    w = np.where(disc & (z > 2.0), z, 0.0)
    wsum = w.sum(axis=(1, 2))
    safe = np.maximum(wsum, 1e-12)
    cy = (w * yy).sum(axis=(1, 2)) / safe
    cx = (w * xx).sum(axis=(1, 2)) / safe
    dy = yy[None] - cy[:, None, None]
    dx = xx[None] - cx[:, None, None]
    iyy = (w * dy**2).sum(axis=(1, 2)) / safe
    ixx = (w * dx**2).sum(axis=(1, 2)) / safe
    ixy = (w * dx * dy).sum(axis=(1, 2)) / safe
    trace = ixx + iyy
    diff = np.sqrt((ixx - iyy) ** 2 + 4 * ixy**2)
    ellipticity = np.where(trace > 0, diff / np.maximum(trace, 1e-12), 0.0)
    minor_sigma = np.sqrt(np.clip((trace - diff) / 2.0, 0, None))
    has_light = wsum > 0

    # Median along each row and column: a hot column lifts a whole line, a star a few pixels.
    line_excess = np.maximum(
        np.abs(np.median(z, axis=1)).max(axis=1), np.abs(np.median(z, axis=2)).max(axis=1)
    )

    features = np.stack(
        [
            peak,
            np.hypot(py - centre, px - centre),
            aperture_flux,
            aperture_snr,
            (zc > 3).sum(axis=(1, 2)),
            (zc > 5).sum(axis=(1, 2)),
            np.where(has_light, np.sqrt(trace / 2.0), 0.0),
            ellipticity,
            np.where(has_light, FWHM_PER_SIGMA * minor_sigma, 0.0),
            sharpness,
            line_excess,
            z.reshape(n, -1).max(axis=1),
            blank.mean(axis=1),
            np.log10(sigma),
            (z > 2).mean(axis=(1, 2)),
        ],
        axis=1,
    )
    return features.astype(np.float64)


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
        raise ValueError(f"{path}: not a model bundle written by asteroid_ml.baselines")
    return bundle


def train_detector_baseline(
    config: Mapping[str, Any], dataset_dir: str | Path, model_path: str | Path, threads: int = 1
) -> dict[str, Any]:
    """Fit ``detector_rf`` on the train split of ``dataset_dir``; write ``model_path``."""
    from asteroid_ml.models.datamodules import load_split_images, split_labels

    images = load_split_images(dataset_dir, "train")
    labels = split_labels(dataset_dir, "train", len(images))
    features = image_features(images)
    model = _forest(config, "detector_rf", threads)
    model.fit(features, labels)
    train_acc = float(model.score(features, labels))
    log.info(
        "detector_rf: %d cutouts, %d features, train accuracy %.4f",
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
    from asteroid_ml.models.datamodules import element_features, load_elements

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


# --- command line -------------------------------------------------------------------


def _cli_baseline(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config

    config = load_config(args.config)
    dataset = Path(args.dataset)
    if args.task == "detector":
        train_detector_baseline(
            config, dataset, Path(args.out) / "detector_rf" / "model.joblib", args.threads
        )
    else:
        train_impactor_baseline(
            config,
            dataset / "elements.parquet",
            Path(args.out) / "impactor_rf" / "model.joblib",
            args.threads,
        )
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "baseline", help="fit a scikit-learn random-forest baseline (detector or impactor)"
    )
    p.add_argument("task", choices=["detector", "impactor"])
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--dataset", default="results/dataset", help="dataset folder")
    p.add_argument("--out", default="results/models", help="models folder")
    p.add_argument("--threads", type=int, default=1, help="parallel jobs of the forest")
    p.set_defaults(func=_cli_baseline)
