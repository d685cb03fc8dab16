"""The detection stage as the workflow runs it: config -> campaign -> classifiers -> metrics.

``make_candidates`` writes ``candidates.parquet`` (one row per sep candidate), ``stamps.npy``
(their triplets) and ``movers.parquet`` (one row per injected mover); ``evaluate_detection``
writes ``results/eval/{model}/metrics.json`` of the three detection models (the evaluation
stage's ``summary.csv`` puts them beside every other model) and ``scores.parquet``.
``cnn_seed_spread`` (not a workflow rule: ``asteroid-ml detection seeds``) retrains the CNN
with other seeds on the same candidates, to give its operating point's training variance.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.detection.campaign import CampaignSettings, run_campaign
from asteroid_ml.detection.candidates import stamps_for_storage
from asteroid_ml.detection.epochs import ArtefactRates
from asteroid_ml.detection.evaluate import mover_completeness, sequence_metrics, stamp_metrics
from asteroid_ml.detection.sequences import LinkSettings
from asteroid_ml.detection.survey_model import SurveyModel
from asteroid_ml.evaluation.metrics import strict_json
from asteroid_ml.io import atomic_output

log = logging.getLogger(__name__)


def survey_model(config: Mapping[str, Any], pixel_scale_arcsec: float) -> SurveyModel:
    d = config["detection"]
    return SurveyModel(
        pixel_scale_arcsec=pixel_scale_arcsec, fwhm_arcsec=d["fwhm_arcsec"],
        zero_point_mag=d["zero_point_mag"], sky_sigma=d["sky_sigma"], exposure_s=d["exposure_s"],
        cadence_min=d["cadence_min"], n_epochs=d["n_epochs"], snr_threshold=d["snr_threshold"],
        seeing_ratio=tuple(d["seeing_ratio"]), elongation_max=d["elongation_max"],
        template_exposures=d["template_exposures"], saturation_counts=d["saturation_counts"],
        saturation_grow_px=d["saturation_grow_px"], astrometric_sigma_px=d["astrometric_sigma_px"],
        solution_astrometric_sigma_px=d["solution_astrometry_arcsec"] / pixel_scale_arcsec,
        solution_seeing_frac=d["solution_seeing_frac"],
    )  # fmt: skip


def field_references(survey_dir: Path, grid: int, field_px: int) -> tuple[np.ndarray, float]:
    """The sky fields: a grid x grid set of adjacent field_px cutouts centred on the survey's
    ``hips_initial_ra/dec``, at its native pixel; fields with blank pixels are dropped."""
    from asteroid_ml.hips.extract import extract_cutouts
    from asteroid_ml.hips.survey import open_survey

    survey = open_survey(survey_dir)
    ra0 = float(survey.properties["hips_initial_ra"])
    dec0 = float(survey.properties["hips_initial_dec"])
    scale_deg = survey.pixel_scale_deg()
    step = scale_deg * field_px
    offsets = (np.arange(grid) - (grid - 1) / 2) * step
    dec = np.repeat(dec0 + offsets, grid)
    ra = ra0 + np.tile(offsets, grid) / np.cos(np.radians(dec))
    batch = extract_cutouts(survey, ra, dec, field_px)
    keep = np.isfinite(batch.images).all(axis=(1, 2))
    if not keep.any():
        raise ValueError(f"detection.survey: {survey_dir} has no complete {field_px}-px field")
    return batch.images[keep].astype(np.float64), scale_deg * 3600.0


def make_candidates(
    config: Mapping[str, Any], survey_dir: str | Path, ephemerides: list[str], out_dir: str | Path
) -> None:
    d = config["detection"]
    references, scale = field_references(Path(survey_dir), d["grid"], d["field_px"])
    model = survey_model(config, scale)
    population = pd.concat([pd.read_parquet(p) for p in ephemerides], ignore_index=True)
    # One row per object (its first observation), in a fixed order: the draws must not
    # depend on the order the ephemeris shards are listed in.
    population = population.sort_values(["object_id", "obs_index"]).drop_duplicates("object_id")
    population = population.reset_index(drop=True)
    settings = CampaignSettings.from_config(d)
    log.info("detection survey: %d fields of %d px at %.3f\"/px, limit %.2f mag (5 sigma)",
             len(references), d["field_px"], scale, model.limiting_magnitude())  # fmt: skip
    candidates, stamps, movers = run_campaign(
        references,
        population,
        model,
        settings,
        ArtefactRates.from_config(d["artefacts"]),
        int(config["seed"]),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "stamps.npy") as tmp:
        np.save(tmp, stamps_for_storage(stamps), allow_pickle=False)
    with atomic_output(out / "movers.parquet") as tmp:
        movers.to_parquet(tmp, index=False)
    with atomic_output(out / "candidates.parquet") as tmp:
        candidates.assign(limit_mag=model.limiting_magnitude()).to_parquet(tmp, index=False)


def _load_candidates(in_dir: str | Path) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    src = Path(in_dir)
    return (
        pd.read_parquet(src / "candidates.parquet"),
        np.load(src / "stamps.npy").astype(np.float32),
        pd.read_parquet(src / "movers.parquet"),
    )


def _train_cnn(
    d: Mapping[str, Any], candidates: pd.DataFrame, stamps: np.ndarray, work: Path, seed: int,
    checkpoint: Path | None = None,
):  # fmt: skip
    """The triplet CNN with the ``detection`` config's settings (trained on the train fields,
    the whole learning-rate schedule), saved to ``checkpoint`` when given."""
    from asteroid_ml.detection.models import train_triplet_cnn

    return train_triplet_cnn(
        stamps, candidates["real"].to_numpy(), candidates["split"].to_numpy(), work, seed, d,
        checkpoint=checkpoint,
    )  # fmt: skip


def evaluate_detection(
    config: Mapping[str, Any], in_dir: str | Path, metrics_paths: Mapping[str, str | Path],
    scores_path: str | Path, threads: int = 1, models_dir: str | Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train the forest and the CNN on the train fields; write each detection model's
    ``metrics.json`` (``metrics_paths``: model name -> path; test fields only) and every
    candidate's scores; save both classifiers with their cards under ``models_dir``
    (:mod:`asteroid_ml.detection.saved`) when given."""
    from asteroid_ml.detection.models import (
        score_features,
        score_triplets,
        train_feature_forest,
    )

    d = config["detection"]
    candidates, stamps, movers = _load_candidates(in_dir)
    seed = int(config["seed"])
    forest = train_feature_forest(candidates, seed, d, threads)
    scores = {"detector_rf": score_features(forest, candidates)}
    saved = _saved_paths(models_dir)
    cnn = _train_cnn(d, candidates, stamps, Path(scores_path).parent / "work", seed,
                     saved.get("detector_cnn"))  # fmt: skip
    scores["detector_cnn"] = score_triplets(cnn, stamps)
    link = LinkSettings(
        d["min_detections"], d["link_tolerance_px"], d["min_motion_px"], d["link_gate_px"]
    )
    survey = {
        "limit_mag": float(candidates["limit_mag"].iloc[0]),
        # the finest; coarser ones are binnings of it (detection.binnings)
        "pixel_scale_arcsec": float(candidates["pixel_scale_arcsec"].min()),
        "pixel_scales_arcsec": sorted(set(candidates["pixel_scale_arcsec"].round(4).tolist())),
        "n_candidates": len(candidates),
        "real_fraction": float(candidates["real"].mean()),
    }
    metrics: dict[str, Any] = {}
    for name, s in scores.items():
        m = stamp_metrics(candidates, s, d["target_recall"], d["field_bootstrap"], seed, name)
        m["completeness"] = mover_completeness(
            movers, candidates, s, m["threshold_at_target_recall"], d["n_epochs"]
        )
        m["m50_mag"] = m["completeness"]["after_model"]["m50_mag"]
        metrics[name] = m
    metrics["detector_sequence"] = sequence_metrics(
        candidates, scores["detector_cnn"], metrics["detector_cnn"]["threshold_at_target_recall"],
        d["target_recall"], link, d["field_bootstrap"], seed,
    )  # fmt: skip
    metrics["detector_sequence"]["m50_mag"] = metrics["detector_cnn"]["m50_mag"]
    if saved:
        _save_classifiers(config, forest, saved, metrics, survey, candidates, in_dir)
    for name, path in metrics_paths.items():
        record = {"model": name, "task": "detection", "survey": survey, **metrics[name]}
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(strict_json(record), indent=1))
    with atomic_output(scores_path) as tmp:
        pd.DataFrame({"candidate_id": candidates["candidate_id"], **scores}).to_parquet(
            tmp, index=False
        )
    return metrics


def _saved_paths(models_dir: str | Path | None) -> dict[str, Path]:
    """Where the classifiers are saved: ``models_dir/{name}/{file}`` (registry file names)."""
    from asteroid_ml.registry import MODELS, saved_detection_models

    if models_dir is None:
        return {}
    return {n: Path(models_dir) / n / MODELS[n].filename for n in saved_detection_models()}


def _save_classifiers(
    config: Mapping[str, Any], forest, saved: Mapping[str, Path], metrics: Mapping[str, Any],
    survey: Mapping[str, Any], candidates: pd.DataFrame, in_dir: str | Path,
) -> None:  # fmt: skip
    """The forest's file and both cards (the CNN's checkpoint is written by its training)."""
    from asteroid_ml.detection.saved import (
        CNN_INPUT,
        FOREST_INPUT,
        model_card,
        save_card,
        save_forest,
    )
    from asteroid_ml.io import sha256_file
    from asteroid_ml.registry import MODELS

    d = config["detection"]
    src = Path(in_dir)
    training = {
        "candidates": "results/detection/candidates.parquet (simulated epochs of real sky)",
        "candidates_sha256": sha256_file(src / "candidates.parquet"),
        "stamps_sha256": sha256_file(src / "stamps.npy"),
        "n_train": int((candidates["split"] == "train").sum()),
        "n_val": int((candidates["split"] == "val").sum()),
        "real_fraction_train": float(candidates.loc[candidates["split"] == "train", "real"].mean()),
    }
    survey_model = {
        **survey, "survey": d["survey"], "fwhm_arcsec": d["fwhm_arcsec"],
        "snr_threshold": d["snr_threshold"], "zero_point_mag": d["zero_point_mag"],
    }  # fmt: skip
    save_forest(forest, saved["detector_rf"])  # the CNN's checkpoint: written by its training
    inputs = {"cnn": CNN_INPUT, "forest": FOREST_INPUT}
    for name, path in saved.items():
        model_input = inputs[MODELS[name].saved_as]
        card = model_card(name, config, metrics[name], survey_model, training, model_input)
        save_card(card, path.parent)


#: The stamp metrics that :func:`cnn_seed_spread` reports per training.
SEED_SPREAD_COLUMNS = (
    "roc_auc", "pr_auc", "threshold_at_target_recall", "recall_at_threshold",
    "fdr_at_target_recall", "candidate_reduction_at_target_recall",
    "candidate_reduction_with_fakes",
)  # fmt: skip


def cnn_seed_spread(
    config: Mapping[str, Any], in_dir: str | Path, n_seeds: int, out_csv: str | Path,
    work: str | Path,
) -> pd.DataFrame:  # fmt: skip
    """Train the triplet CNN ``n_seeds`` times on the same candidates (seeds ``seed``,
    ``seed + 1``, ...; the first is the workflow's own training) and write one row of
    :data:`SEED_SPREAD_COLUMNS` per training, operating points from the val fields as in
    :func:`evaluate_detection`. The spread is the training variance of every number there."""
    from asteroid_ml.detection.models import score_triplets

    d = config["detection"]
    candidates, stamps, _ = _load_candidates(in_dir)
    rows = []
    for k in range(n_seeds):
        seed = int(config["seed"]) + k
        cnn = _train_cnn(d, candidates, stamps, Path(work), seed)
        m = stamp_metrics(candidates, score_triplets(cnn, stamps), d["target_recall"],
                          d["field_bootstrap"], seed, "detector_cnn")  # fmt: skip
        rows.append({"seed": seed, **{c: m[c] for c in SEED_SPREAD_COLUMNS}})
        log.info("detector_cnn seed %d: FDR %.3f, reduction %.2f, PR-AUC %.4f", seed,
                 m["fdr_at_target_recall"], m["candidate_reduction_at_target_recall"], m["pr_auc"])  # fmt: skip
    table = pd.DataFrame(rows)
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table
