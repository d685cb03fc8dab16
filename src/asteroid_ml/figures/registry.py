"""Figure name -> loader: each loader reads workflow outputs and calls one plotting function.

The rule ``figure_<name>`` writes ``results/figures/<name>.{png,pdf}`` through
:func:`make_figure`; the inputs each loader reads are in its docstring.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asteroid_ml.figures.dataset import plot_example_cutouts, plot_sky_map
from asteroid_ml.figures.detection import plot_detection_completeness, plot_impactor_visibility
from asteroid_ml.figures.evaluation import (
    plot_completeness,
    plot_confusion_matrices,
    plot_hazard,
    plot_hoi_real_catalog,
    plot_roc_pr,
    plot_score_histograms,
)
from asteroid_ml.figures.simulation import (
    plot_clone_calibration,
    plot_close_approach_validation,
    plot_orbital_elements,
    real_neo_elements,
)
from asteroid_ml.figures.style import (
    require_columns,
    save_figure,
)
from asteroid_ml.figures.training import plot_training_curves

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (keeps `asteroid-ml` fast)
    from matplotlib.figure import Figure

from asteroid_ml.tables import read_table

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- loaders (files -> figure)
def _read_table(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A figure input (Parquet or CSV), only ``columns`` of a Parquet file if given."""
    return read_table(path, columns, "figure input")


def _read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"figure input not found: {path}")
    with open(path) as fh:
        return json.load(fh)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


def _model_from_path(path: str) -> str:
    """``results/eval/{model}/metrics.json`` -> ``model``."""
    return Path(path).parent.name


def load_orbital_elements(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``sim`` (all sim shards), ``neos`` (JPL CSV)."""
    columns = ["population", "a_au", "e", "i_deg"]  # a million rows: read only what is drawn
    sim = pd.concat([_read_table(p, columns) for p in _as_list(inputs["sim"])], ignore_index=True)
    real = real_neo_elements(_read_table(inputs["neos"]))
    return plot_orbital_elements(
        sim[sim["population"] == "impactor"], sim[sim["population"] == "background"], real
    )


def load_sky_map(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``targets``; the survey comes from ``survey`` (location) or ``config['survey']``."""
    from asteroid_ml.hips import open_survey

    location = inputs.get("survey") or config["survey"]["location"]
    survey = open_survey(str(location), cache_dir=config.get("survey", {}).get("cache_dir"))
    targets = _read_table(inputs["targets"])
    return plot_sky_map(targets, survey.available_tiles(), survey.order, survey.frame)


def load_example_cutouts(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``images`` (``dataset/{split}.npy``), ``manifest``; the split is the file's stem."""
    split = Path(str(inputs["images"])).stem
    images = np.load(str(inputs["images"]), mmap_mode="r")
    manifest = _read_table(inputs["manifest"])
    require_columns(manifest, ["split", "index_in_split"], "dataset manifest")
    rows = manifest[manifest["split"] == split]
    if len(rows) != images.shape[0]:
        raise ValueError(
            f"{inputs['images']}: {images.shape[0]} images but {len(rows)} manifest rows of split {split!r}"
        )
    return plot_example_cutouts(
        images, rows, n_per_class=int(config.get("figures", {}).get("n_examples", 6))
    )


def load_training_curves(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``models/{model}/metrics.csv``, one per Lightning model)."""
    return plot_training_curves(
        {Path(p).parent.name: _read_table(p) for p in _as_list(inputs["metrics"])}
    )


def _load_metrics(inputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {_model_from_path(p): _read_json(p) for p in _as_list(inputs["metrics"])}


def load_roc_pr(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``eval/{model}/metrics.json`` for all models)."""
    return plot_roc_pr(_load_metrics(inputs))


def load_confusion_matrices(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``eval/{model}/metrics.json``)."""
    return plot_confusion_matrices(_load_metrics(inputs))


def _load_predictions(inputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    return {_model_from_path(p): _read_table(p) for p in _as_list(inputs["predictions"])}


def load_score_histograms(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``predictions`` and ``metrics`` of the same models."""
    return plot_score_histograms(_load_predictions(inputs), _load_metrics(inputs))


def load_completeness(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``predictions`` and ``metrics`` of the detector models."""
    metrics = _load_metrics(inputs)
    thresholds = {}
    for model, values in metrics.items():
        threshold = values.get("threshold_at_target_recall")
        if threshold is None:  # no positive in the test split: fall back to the 0.5 of the report
            log.warning("%s: threshold_at_target_recall is null; completeness at 0.5", model)
            threshold = 0.5
        thresholds[model] = float(threshold)
    return plot_completeness(_load_predictions(inputs), thresholds)


def load_hoi_real_catalog(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``catalog`` (parquet) and ``summary`` (its JSON, for the threshold)."""
    summary = _read_json(inputs["summary"])
    if "threshold" not in summary:
        raise ValueError(f"{inputs['summary']}: missing field 'threshold'")
    return plot_hoi_real_catalog(_read_table(inputs["catalog"]), float(summary["threshold"]))


def load_close_approach_validation(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``comparison`` (``validation/cad_comparison.parquet``)."""
    return plot_close_approach_validation(_read_table(inputs["comparison"]))


def load_clone_calibration(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``table`` (``validation/cad_uncertainty.csv``)."""
    return plot_clone_calibration(_read_table(inputs["table"]))


def load_hazard(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``summary`` (real_catalog_summary.csv), ``scores`` (real_catalog_scores.parquet),
    ``forward`` (the catalog's forward-run shards)."""
    forward = pd.concat([_read_table(p) for p in _as_list(inputs["forward"])], ignore_index=True)
    return plot_hazard(
        _read_table(inputs["summary"]),
        _read_table(inputs["scores"]),
        forward,
        float(config["hazard"]["moid_au"]),
    )


def load_detection_completeness(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``metrics`` (``eval/detector_{cnn,rf}/metrics.json``)."""
    return plot_detection_completeness(_load_metrics(inputs))


def load_impactor_visibility(inputs: Mapping[str, Any], config: Mapping[str, Any]) -> Figure:
    """inputs: ``ephemerides`` and ``sim`` shards (V at the epoch; impact epoch and H),
    ``metrics`` (``eval/detector_cnn/metrics.json``: the survey's m50)."""
    eph = pd.concat(
        [
            _read_table(p, ["object_id", "obs_index", "V_mag"])
            for p in _as_list(inputs["ephemerides"])
        ]
    )
    eph = eph[eph["obs_index"] == 0].drop(columns="obs_index")
    sim = pd.concat([_read_table(p, ["object_id", "population", "H_mag", "impact_jd_tdb"])
                     for p in _as_list(inputs["sim"])])  # fmt: skip
    metrics = _read_json(inputs["metrics"])
    survey = metrics.get("survey", {})
    label = f'a {survey.get("pixel_scale_arcsec", float("nan")):.1f}"/px survey'
    return plot_impactor_visibility(sim.merge(eph, on="object_id"), float(metrics["m50_mag"]), label,
                                    float(config["epoch_jd_tdb"]))  # fmt: skip


#: Figure name -> loader. The rule ``figure_<name>`` writes ``results/figures/<name>.{png,pdf}``.
FIGURES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Figure]] = {
    "orbital_elements": load_orbital_elements,
    "sky_map": load_sky_map,
    "example_cutouts": load_example_cutouts,
    "training_curves": load_training_curves,
    "roc_pr": load_roc_pr,
    "confusion_matrices": load_confusion_matrices,
    "score_histograms": load_score_histograms,
    "completeness": load_completeness,
    "hoi_real_catalog": load_hoi_real_catalog,
    "close_approach_validation": load_close_approach_validation,
    "clone_calibration": load_clone_calibration,
    "hazard": load_hazard,
    "detection_completeness": load_detection_completeness,
    "impactor_visibility": load_impactor_visibility,
}


def make_figure(
    name: str,
    inputs: Mapping[str, Any],
    config: Mapping[str, Any],
    png_path: str | os.PathLike[str],
    pdf_path: str | os.PathLike[str],
) -> None:
    """Draw figure ``name`` from the files in ``inputs`` and save it (dpi from ``config['figures']``)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r} (known: {', '.join(FIGURES)})")
    log.info("figure %s from %s", name, {k: v for k, v in inputs.items()})
    fig = FIGURES[name](inputs, config)
    save_figure(fig, png_path, pdf_path, dpi=int(config.get("figures", {}).get("dpi", 200)))
