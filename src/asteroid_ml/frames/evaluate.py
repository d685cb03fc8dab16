"""The candidate classifiers measured on real frames: real bogus, injected fakes.

For each frame set: ``find-movers`` with the saved simulation-trained CNN (its reported
sequences are real movers, e.g. (2713) Luxembourg, and are left out of the bogus); the
unmasked candidates of the frames as taken are the *bogus*; fakes injected into each frame
(:mod:`asteroid_ml.frames.fakes`, ``realisations`` independent sets) and found by sep are
the *reals*. Candidates are split by sky region of the registration grid
(:data:`REGIONS_PER_SIDE` squared cells, a seeded draw of train / val / test cells): a star
leaves its residual at the same place in every frame, so splitting by frame would put one
source's bogus in train and test.

Rows of ``real_frames_summary.csv`` (:data:`SUMMARY_COLUMNS`), on the test cells:

* (a) ``trained_on = simulation``: the saved CNN as it is. ``recall_at_threshold`` at its
  card's threshold (chosen on the simulated val fields);
* (b) ``trained_on = real frames``: the same CNN method and settings trained on the train
  cells' fakes and bogus, ``recall_at_threshold`` at the threshold keeping
  ``target_recall`` of the val cells' fakes.

For both, ``fdr_at_target_recall`` is at the threshold that keeps ``target_recall`` of the
val cells' fakes (like for like), with a 95 % interval by bootstrap over test cells;
``completeness_1mag_above_limit`` is the share of test fakes within 0.25 mag of one
magnitude brighter than their frame's 5-sigma limit that sep finds and that pass that
threshold; ``false_sequences`` counts sequences of test-cell bogus passing it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from asteroid_ml.detection.candidates import MATCH_RADIUS_FWHM, gaussian_kernel
from asteroid_ml.detection.evaluate import bogus_mix
from asteroid_ml.detection.sequences import link
from asteroid_ml.evaluation.metrics import operating_point, threshold_at_recall, wilson_interval
from asteroid_ml.frames.candidates import mask_reasons, night_candidates
from asteroid_ml.frames.checks import resolve
from asteroid_ml.frames.fakes import (
    FakeSettings,
    draw_movers,
    empirical_psf,
    inject,
    limit_flux,
    matched_response,
    positions,
)
from asteroid_ml.frames.movers import (
    FindResult,
    FindSettings,
    detector_fixed,
    link_night,
    on_stars,
    run_find_movers,
    write_find_movers,
)
from asteroid_ml.frames.night import FrameSetInputs
from asteroid_ml.io import atomic_output, config_hash
from asteroid_ml.seeds import rng_for, stable_int

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "frames", "model", "trained_on", "n_candidates", "n_fakes", "recall_at_threshold",
    "fdr_at_target_recall", "completeness_1mag_above_limit", "false_sequences",
    "threshold", "threshold_from", "fdr_ci95_low", "fdr_ci95_high", "real_fraction",
    "false_positive_rate_at_target_recall",
    "completeness_n", "completeness_ci95_low", "completeness_ci95_high", "n_frames", "n_bogus",
)  # fmt: skip
REGIONS_PER_SIDE = 6
SPLIT_CELLS = {"train": 24, "val": 6, "test": 6}
#: A candidate this close (FWHM) to a known mover's track is the real mover's; a known
#: mover is detected in at least this share of the frames.
KNOWN_MOVER_RADIUS_FWHM = 2.0
KNOWN_MOVER_FRACTION = 0.5
BOOTSTRAP = 1000


def regions(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The sky cell (0 .. REGIONS_PER_SIDE^2 - 1) of grid positions."""
    ny, nx = shape
    cx = np.clip((np.asarray(x) / nx * REGIONS_PER_SIDE).astype(int), 0, REGIONS_PER_SIDE - 1)
    cy = np.clip((np.asarray(y) / ny * REGIONS_PER_SIDE).astype(int), 0, REGIONS_PER_SIDE - 1)
    return cy * REGIONS_PER_SIDE + cx


def split_of_cells(seed: int, name: str) -> np.ndarray:
    """train / val / test of every cell (a seeded permutation, per frame set)."""
    order = rng_for(seed, "real_frames_split", stable_int(name)).permutation(REGIONS_PER_SIDE**2)
    split = np.empty(REGIONS_PER_SIDE**2, dtype=object)
    start = 0
    for part, n in SPLIT_CELLS.items():
        split[order[start : start + n]] = part
        start += n
    return split


def known_mover_mask(result: FindResult, settings: FindSettings) -> np.ndarray:
    """Candidates on the track of a real mover of the frames (e.g. the night's target
    asteroid), whatever a classifier scores them: straight-line, constant-rate sequences of
    unmasked candidates in at least half of the frames (:data:`KNOWN_MOVER_FRACTION`),
    seeded by pairs of detections in the night's first and last quarters, that move on the
    detector and are not a star's residual (find-movers' rules). These are left out of the
    bogus."""
    cand = result.candidates
    night = result.night
    near = np.zeros(len(cand), bool)
    n = len(night.frames)
    quarter = max(1, n // 4)
    pairs = [(a, b) for a in range(quarter) for b in range(n - quarter, n) if a < b]
    need = max(settings.link.min_detections, int(np.ceil(KNOWN_MOVER_FRACTION * n)))
    link_settings = replace(settings.link, min_detections=need)
    usable = cand[cand["masked"] == ""]
    sequences = link(usable[["epoch", "t_min", "x_ref", "y_ref", "index"]], link_settings, pairs)
    if sequences.empty:
        return near
    sequences = sequences[
        ~detector_fixed(cand, sequences) & ~on_stars(cand, sequences, night.fwhm_px)
    ]
    radius = KNOWN_MOVER_RADIUS_FWHM * night.fwhm_px
    table = cand.set_index("index")
    t = cand["t_min"].to_numpy()
    for members in sequences["members"]:
        rows = table.loc[list(members)]
        fx = np.polyfit(rows["t_min"], rows["x_ref"], 1)
        fy = np.polyfit(rows["t_min"], rows["y_ref"], 1)
        near |= (
            np.hypot(
                cand["x_ref"] - np.polyval(fx, t), cand["y_ref"] - np.polyval(fy, t)
            ).to_numpy()
            <= radius
        )
    log.info(
        "%d known movers of the frames: %d candidates left out of the bogus",
        len(sequences),
        near.sum(),
    )
    return near


def match_fakes(candidates: pd.DataFrame, fakes: pd.DataFrame, radius: float) -> np.ndarray:
    """For each fake, the index (row) of the nearest candidate of its frame within
    ``radius`` px, else -1; one candidate per fake."""
    found = np.full(len(fakes), -1)
    for k, mine in fakes.groupby("epoch"):
        cand = candidates[candidates["epoch"] == k]
        if cand.empty:
            continue
        tree = cKDTree(cand[["x_ref", "y_ref"]].to_numpy())
        distance, idx = tree.query(mine[["x", "y"]].to_numpy())
        taken: set[int] = set()
        for row, d, i in zip(mine.index, distance, idx, strict=True):
            if d <= radius and i not in taken:
                taken.add(int(i))
                found[fakes.index.get_loc(row)] = int(cand.index[i])
    return found


def fake_limits(
    fakes: pd.DataFrame, noise: pd.DataFrame, psfs: list[np.ndarray], snr: float
) -> np.ndarray:
    """The detection limit (counts) of each fake: its frame's matched filter and noise, its
    own trail (:func:`~asteroid_ml.frames.fakes.limit_flux`); each frame's kernel and PSF
    response computed once."""
    kernels = [gaussian_kernel(sigma) for sigma in noise["kernel_sigma_px"]]
    responses = [matched_response(p, k) for p, k in zip(psfs, kernels, strict=True)]
    return np.array([
        limit_flux(psfs[f.epoch], kernels[f.epoch], noise["noise"].iloc[f.epoch],
                   noise["noise_ratio"].iloc[f.epoch], snr, (f.trail_x, f.trail_y),
                   responses[f.epoch])
        for f in fakes.itertuples()
    ])  # fmt: skip


def inject_realisations(
    result: FindResult, rates: np.ndarray, limit_mag: float, settings: FakeSettings,
    realisations: int, seed: int, name: str,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:  # fmt: skip
    """Candidates matched to fakes (reals) with their stamps, and every fake (found or not),
    over ``realisations`` independent sets."""
    night = result.night
    psfs = [empirical_psf(night.registered[k], night.saturated, t.fwhm_px)
            for k, t in enumerate(result.templates)]  # fmt: skip
    snr = result.settings.snr_threshold
    reals, stamps, all_fakes = [], [], []
    radius = MATCH_RADIUS_FWHM * night.fwhm_px
    for r in range(realisations):
        rng = rng_for(seed, "real_frames_fakes", stable_int(name), r)
        movers = draw_movers(night, limit_mag, rates, settings, rng)
        fakes = pd.concat([positions(night, movers, k) for k in range(len(night.frames))],
                          ignore_index=True)  # fmt: skip
        sciences = {
            k: inject(night, k, fakes[fakes["epoch"] == k], psfs[k], rng)
            for k in range(len(night.frames))
        }
        cand, st, _ = night_candidates(night, result.settings, result.templates, sciences)
        limits = fake_limits(fakes, result.noise, psfs, snr)
        fakes["delta_mag"] = -2.5 * np.log10(fakes["flux"] / limits)
        fakes["found"] = match_fakes(cand, fakes, radius)
        fakes["realisation"] = r
        hit = fakes[fakes["found"] >= 0]
        reals.append(
            cand.loc[hit["found"]].assign(realisation=r, delta_mag=hit["delta_mag"].to_numpy())
        )
        stamps.append(st[hit["found"].to_numpy()])
        all_fakes.append(fakes)
        log.info("%s: fakes realisation %d/%d, %d of %d fakes found by sep", name, r + 1,
                 realisations, len(hit), len(fakes))  # fmt: skip
    return (
        pd.concat(reals, ignore_index=True),
        pd.concat(all_fakes, ignore_index=True),
        np.concatenate(stamps),
    )


def _bootstrap_fdr(labels, scores, cells, threshold, seed) -> tuple[float, float]:
    """95 % interval of the FDR by resampling test cells with replacement."""
    rng = rng_for(seed, "real_frames_bootstrap")
    unique = np.unique(cells)
    values = []
    for _ in range(BOOTSTRAP):
        pick = rng.choice(unique, len(unique))
        idx = np.concatenate([np.flatnonzero(cells == c) for c in pick])
        sel = scores[idx] >= threshold
        tp, fp = int(np.sum(sel & (labels[idx] == 1))), int(np.sum(sel & (labels[idx] == 0)))
        values.append(fp / (tp + fp) if tp + fp else 0.0)
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def score_row(
    name: str, model: str, trained_on: str, table: pd.DataFrame, scores: np.ndarray,
    fakes: pd.DataFrame, operating: float, operating_from: str, target_recall: float,
    result: FindResult, settings: FindSettings, seed: int,
) -> dict[str, Any]:  # fmt: skip
    """One summary row from every candidate's score (``table``: split, real, cell)."""
    labels = table["real"].to_numpy()
    val, test = (table["split"] == "val").to_numpy(), (table["split"] == "test").to_numpy()
    at_recall = threshold_at_recall(labels[val], scores[val], target_recall)
    point = operating_point(labels[test], scores[test], at_recall)
    operating_point_test = operating_point(labels[test], scores[test], operating)
    low, high = _bootstrap_fdr(
        labels[test], scores[test], table["cell"].to_numpy()[test], at_recall, seed
    )
    near = fakes[
        (fakes["split"] == "test") & (fakes["delta_mag"].sub(-1.0).abs() <= 0.25) & fakes["usable"]
    ]
    by_candidate = pd.Series(scores, index=table["key"].to_numpy())
    found = [(k in by_candidate.index) and by_candidate[k] >= at_recall for k in near["key"]]
    completeness = float(np.mean(found)) if len(found) else float("nan")
    ci = wilson_interval(int(np.sum(found)), len(found))
    bogus = table[(table["real"] == 0) & (table["split"] == "test")]
    sequences, _ = link_night(
        result.night, bogus, scores[bogus.index.to_numpy()], at_recall, settings
    )
    return {
        "frames": name, "model": model, "trained_on": trained_on,
        "n_candidates": int(test.sum()), "n_fakes": int(labels[test].sum()),
        "recall_at_threshold": operating_point_test["recall"],
        "fdr_at_target_recall": point["fdr"], "completeness_1mag_above_limit": completeness,
        "false_sequences": len(sequences), "threshold": operating, "threshold_from": operating_from,
        "fdr_ci95_low": low, "fdr_ci95_high": high, "real_fraction": float(labels[test].mean()),
        "false_positive_rate_at_target_recall": point["false_positive_rate"],
        "completeness_n": len(found), "completeness_ci95_low": ci[0], "completeness_ci95_high": ci[1],
        "n_frames": len(result.night.frames), "n_bogus": int((labels[test] == 0).sum()),
    }  # fmt: skip


def evaluate_frame_set(
    name: str, entry: Mapping[str, Any], config: Mapping[str, Any], detector, rates: np.ndarray,
    repo_root: Path, out: Path,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows (a) and (b) of one frame set; find-movers' outputs, the fakes and the CNN
    trained on the frames are written to ``out``."""
    from asteroid_ml.detection.models import score_triplets, train_triplet_cnn

    section = config["frames"]
    settings = FindSettings.from_config(section)
    seed = int(config["seed"])
    globs = {
        k: resolve(entry[k], repo_root) if entry.get(k) else None
        for k in ("frames", "bias", "dark", "flat")
    }
    inputs = FrameSetInputs(globs["frames"], globs["bias"], globs["dark"], globs["flat"],
                            entry.get("pixel_scale_arcsec"), entry.get("saturation_adu"))  # fmt: skip
    result = run_find_movers(inputs, settings, detector)
    write_find_movers(result, out)
    night = result.night
    shape = night.registered.shape[1:]
    cells_split = split_of_cells(seed, name)
    fake_settings = FakeSettings(section["fakes"]["movers"], section["fakes"]["mag_below_limit"],
                                 section["fakes"]["mag_above_limit"])  # fmt: skip
    # Instrumental magnitudes; the fakes centre on the registration frame's 5-sigma limit.
    reg = night.reference_index
    psf = empirical_psf(night.registered[reg], night.saturated, result.templates[reg].fwhm_px)
    limit = limit_flux(psf, gaussian_kernel(result.noise.iloc[reg]["kernel_sigma_px"]),
                       result.noise.iloc[reg]["noise"], result.noise.iloc[reg]["noise_ratio"],
                       settings.snr_threshold)  # fmt: skip
    limit_mag = -2.5 * np.log10(limit)
    reals, fakes, real_stamps = inject_realisations(
        result, rates, limit_mag, fake_settings, section["fakes"]["realisations"], seed, name
    )
    cand = result.candidates
    keep = (cand["masked"] == "").to_numpy() & ~known_mover_mask(result, settings)
    bogus = cand[keep]
    real_keep = (reals["masked"] == "").to_numpy()
    reals = reals[real_keep]
    real_stamps = real_stamps[real_keep]
    table = pd.concat([
        bogus.assign(real=0, key=[f"b{i}" for i in bogus["index"]]),
        reals.assign(real=1, key=[f"r{r}-{i}" for r, i in zip(reals["realisation"], reals["index"], strict=True)]),
    ], ignore_index=True)  # fmt: skip
    stamps = np.concatenate([result.stamps[bogus["index"].to_numpy()], real_stamps])
    table["cell"] = regions(table["x_ref"], table["y_ref"], shape)
    table["split"] = cells_split[table["cell"]]
    fakes["cell"] = regions(fakes["x"], fakes["y"], shape)
    fakes["split"] = cells_split[fakes["cell"]]
    fakes["key"] = [f"r{r}-{i}" for r, i in zip(fakes["realisation"], fakes["found"], strict=True)]
    valid = np.isfinite(night.registered).all(axis=0)
    on_grid = (
        (fakes["x"] >= 0) & (fakes["x"] < shape[1]) & (fakes["y"] >= 0) & (fakes["y"] < shape[0])
    )
    fakes["usable"] = on_grid.to_numpy() & (
        mask_reasons(night, valid, fakes["x"].to_numpy(), fakes["y"].to_numpy()) == ""
    )
    with atomic_output(out / "fakes.parquet") as tmp:
        fakes.to_parquet(tmp, index=False)
    target = float(config["detection"]["target_recall"])
    scores_a = detector.score(stamps, table)
    rows = [score_row(name, "detector_cnn", "simulation", table, scores_a, fakes, detector.threshold,
                      "simulated val fields (the saved card)", target, result, settings, seed)]  # fmt: skip
    split = table["split"].to_numpy()
    checkpoint = out / "detector_cnn_real" / "best.ckpt"
    # the simulation-trained CNN's settings, with the frames' own schedule length
    cnn_settings = {**config["detection"], "cnn_max_epochs": section["fakes"]["cnn_max_epochs"]}
    cnn = train_triplet_cnn(stamps, table["real"].to_numpy(), split, out / "train", seed,
                            cnn_settings, checkpoint=checkpoint)  # fmt: skip
    scores_b = score_triplets(cnn, stamps)
    val = split == "val"
    threshold_b = threshold_at_recall(table["real"].to_numpy()[val], scores_b[val], target)
    row_b = score_row(name, "detector_cnn", "real frames", table, scores_b, fakes, threshold_b,
                      "val cells of these frames", target, result, settings, seed)  # fmt: skip
    rows.append(row_b)
    write_bogus_mix(table, {"simulation": scores_a, "real frames": scores_b}, target,
                    out / "bogus_mix.csv")  # fmt: skip
    save_real_card(checkpoint.parent, name, config, threshold_b, row_b, table, detector.card)
    return rows


def write_bogus_mix(
    table: pd.DataFrame, scores: Mapping[str, np.ndarray], target_recall: float, path: Path
) -> pd.DataFrame:
    """The test cells' real bogus by observable class (:func:`bogus_mix`), and how many of
    each pass each CNN (``scores``: trained on -> every candidate's score) at the threshold
    that keeps ``target_recall`` of the val cells' fakes."""
    labels = table["real"].to_numpy()
    val, test = (table["split"] == "val").to_numpy(), (table["split"] == "test").to_numpy()
    parts = []
    for trained_on, s in scores.items():
        threshold = threshold_at_recall(labels[val], s[val], target_recall)
        parts.append(bogus_mix(table[test], s[test], threshold).assign(trained_on=trained_on))
    mix = pd.concat(parts, ignore_index=True)
    with atomic_output(path) as tmp:
        mix.to_csv(tmp, index=False)
    return mix


def save_real_card(
    directory: Path, name: str, config: Mapping[str, Any], threshold: float,
    row: Mapping[str, Any], table: pd.DataFrame, sim_card: Mapping[str, Any],
) -> None:  # fmt: skip
    """The card of the CNN trained on a frame set's own fakes and bogus (row b), so that
    ``find-movers --model`` can load it."""
    from asteroid_ml.detection.saved import CNN_INPUT, save_card

    train = table["split"] == "train"
    save_card({
        "model": "detector_cnn", "config_hash": config_hash(config, ["seed", "detection", "frames"]),
        "training_data": {"frames": name, "n_train": int(train.sum()),
                          "n_val": int((table["split"] == "val").sum()),
                          "real_fraction_train": float(table.loc[train, "real"].mean()),
                          "reals": "fakes injected into the frames", "bogus": "the frames' own candidates"},
        "survey_model": {"limit_mag": sim_card["survey_model"]["limit_mag"], "frames": name},
        "operating_point": {"threshold": threshold, "target_recall": config["detection"]["target_recall"],
                            "chosen_on": "val cells of these frames"},
        "test_metrics": {k: row[k] for k in ("recall_at_threshold", "fdr_at_target_recall",
                                             "completeness_1mag_above_limit")},
        "input": CNN_INPUT,
        "note": "trained on real frames with injected fakes (docs/frames.md)",
    }, directory)  # fmt: skip


def population_rates(ephemerides: list[str]) -> np.ndarray:
    """Sky rates (arcsec/min) of the simulated population, one per object."""
    table = pd.concat([pd.read_parquet(p, columns=["object_id", "obs_index", "rate_arcsec_min"])
                       for p in ephemerides], ignore_index=True)  # fmt: skip
    table = table.sort_values(["object_id", "obs_index"]).drop_duplicates("object_id")
    return table["rate_arcsec_min"].to_numpy(float)


def frame_set_summary(
    config: Mapping[str, Any], name: str, model_path: str | Path, ephemerides: list[str],
    out_dir: str | Path,
) -> pd.DataFrame:  # fmt: skip
    """Rows (a) and (b) of frame set ``name`` of ``config['frames']['sets']`` in
    ``out_dir/summary.csv`` (:data:`SUMMARY_COLUMNS`), beside find-movers' outputs on it,
    its fakes and the CNN trained on it (``detector_cnn_real/``)."""
    from asteroid_ml.detection.saved import load_detector
    from asteroid_ml.io import atomic_output
    from asteroid_ml.paths import REPO_ROOT

    out = Path(out_dir)
    detector = load_detector(model_path)
    rates = population_rates(ephemerides)
    entry = config["frames"]["sets"][name]
    rows = evaluate_frame_set(name, entry, config, detector, rates, REPO_ROOT, out)
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    with atomic_output(out / "summary.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table


def combine_summaries(paths: list[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """The frame sets' rows in one table (``results/eval/real_frames_summary.csv``)."""
    from asteroid_ml.io import atomic_output

    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    table = table.reindex(columns=list(SUMMARY_COLUMNS))
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table
