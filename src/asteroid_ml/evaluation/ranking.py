"""Hazard ranking: which objects whose Earth MOID is above the limit today drop below it
within H years (rule ``hazard_ranking``).

The physics label of the forward runs (``future_approach``) counts the MOID at the epoch,
so most of its positives are objects whose MOID is already small: a formula answers that.
The question physics answers only with a forward integration is the one asked here: among
objects with MOID > ``hazard.moid_au`` at the start, does the MOID first reach the limit
within H years (``hazard.ranking.horizons_years``)? A cheap answer ranks which of millions
of catalogued objects get the expensive forward run.

Examples. Each forward track (:func:`asteroid_ml.simulation.forward.forward_run_with_track`)
holds the elements and the MOID every ``hazard.sample_years``; every sample k of a
simulated object is a start, with the MOID history over the previous
``hazard.ranking.trend_years`` (from the track itself, or at the epoch from the backward
element series) and the label from the samples after it. Horizons are rounded to whole
samples (100 yr = 5 samples of 20.008 yr). Rows of one object are correlated: every
interval is a bootstrap over objects.

Models, scored by the same code (:func:`asteroid_ml.evaluation.metrics.rank_auc`):
``ranking_gbt`` (scikit-learn's histogram gradient boosting on the elements, the MOID and
their history: needs a backward run over the trend span), ``ranking_gbt_elements`` (the
same on the elements at the start alone: no integration), both fitted on simulated
objects only, and two physics baselines, ``moid_now`` (the MOID at the start) and
``moid_trend`` (the smaller of the MOID now and its linear extrapolation over the
horizon). The rankers are fitted on the simulated train and val objects; each operating
threshold keeps ``hazard.ranking.target_recall`` of their positives in out-of-fold
scores (folds grouped by object), and each baseline's threshold keeps the same fraction
of the same rows. The simulated test split and the real catalog never choose anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.evaluation.metrics import cluster_bootstrap_rows, rank_auc, threshold_at_recall
from asteroid_ml.evaluation.physics import read_forward
from asteroid_ml.seeds import rng_for
from asteroid_ml.simulation.solar_system import YEAR_D

log = logging.getLogger(__name__)


#: Columns of ``results/eval/hazard_ranking.csv``.
RANKING_COLUMNS = [
    "model", "population", "horizon_years", "n", "n_positive", "roc_auc", "roc_auc_ci95_low",
    "roc_auc_ci95_high", "delta_auc_vs_moid_now", "delta_ci95_low", "delta_ci95_high",
    "recall_at_threshold", "flagged_fraction", "threshold",
]  # fmt: skip

#: The learned model and the two physics baselines, in the order of the table.
LEARNED = "ranking_gbt"
#: The same ranker on the elements at the start alone: no integration at all.
LEARNED_ELEMENTS = "ranking_gbt_elements"
BASELINES = ("moid_trend", "moid_now")
RANKING_MODELS = (LEARNED, LEARNED_ELEMENTS, *BASELINES)

#: Populations of the table: every start of the simulated test objects, the real NEOs with
#: MOID above the limit at the epoch, and (counts only) the real NEOs at or below it today.
POPULATIONS = ("simulated_test", "real_neo", "real_neo_moid_now_at_or_below_limit")

#: Features of a start (units in :func:`start_features`).
FEATURES = (
    "a_au", "e", "i_deg", "q_au", "Q_au", "sin_w", "cos_w", "moid_au",
    "moid_slope_au_per_century", "moid_past_min_au", "moid_past_max_au",
    "node_asc_au", "node_desc_au", "node_gap_au", "node_gap_slope_au_per_century",
    "w_rate_deg_per_century",
)  # fmt: skip


#: Features of the elements-only ranker: what the elements at the start give without any
#: integration (no history).
ELEMENT_FEATURES = (
    "a_au", "e", "i_deg", "q_au", "Q_au", "sin_w", "cos_w", "moid_au",
    "node_asc_au", "node_desc_au", "node_gap_au",
)  # fmt: skip

#: The features of each learned ranker.
LEARNED_FEATURES = {LEARNED: FEATURES, LEARNED_ELEMENTS: ELEMENT_FEATURES}


def _node_distances(elements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heliocentric distances (au) at the ascending and descending nodes."""
    a, e, w = elements[..., 0], elements[..., 1], np.radians(elements[..., 4])
    p = a * (1 - e**2)
    return p / (1 + e * np.cos(w)), p / (1 - e * np.cos(w))


def _slope(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of ``values`` against ``t``."""
    tc = t - t.mean()
    return (values - values.mean(axis=1, keepdims=True)) @ tc / (tc @ tc)


def start_features(history: np.ndarray, lag_years: np.ndarray) -> pd.DataFrame:
    """Features of starts from their elements ``(N, L+1, 6)`` at ``lag_years`` before the
    start (0 first; a au, e, i, Ω, ω deg, Earth MOID au:
    :data:`asteroid_ml.simulation.forward.TRACK_COLUMNS`).

    Slopes are least-squares fits against time over the history (per century; positive:
    growing). ``node_gap_au`` is the smaller distance of a node from 1 au, where the Earth
    crosses the ecliptic, so a shrinking gap announces a falling MOID;
    ``w_rate_deg_per_century`` is the precession of ω that drives it.
    """
    now = history[:, 0]
    a, e, i, w, moid = now[:, 0], now[:, 1], now[:, 2], now[:, 4], now[:, 5]
    t = -np.asarray(lag_years, dtype=float) / 100.0  # centuries, negative into the past
    past_moid = history[:, :, 5]
    asc, desc = _node_distances(history)
    gap = np.minimum(np.abs(asc - 1.0), np.abs(desc - 1.0))
    w_unwrapped = np.degrees(np.unwrap(np.radians(history[:, :, 4]), axis=1))
    w_rad = np.radians(w)
    return pd.DataFrame(
        {
            "a_au": a, "e": e, "i_deg": i, "q_au": a * (1 - e), "Q_au": a * (1 + e),
            "sin_w": np.sin(w_rad), "cos_w": np.cos(w_rad), "moid_au": moid,
            "moid_slope_au_per_century": _slope(past_moid, t),
            "moid_past_min_au": past_moid.min(axis=1), "moid_past_max_au": past_moid.max(axis=1),
            "node_asc_au": asc[:, 0], "node_desc_au": desc[:, 0], "node_gap_au": gap[:, 0],
            "node_gap_slope_au_per_century": _slope(gap, t),
            "w_rate_deg_per_century": _slope(w_unwrapped, t),
        }
    )  # fmt: skip


def series_history(series: np.ndarray, series_days: np.ndarray, lag_days: np.ndarray) -> np.ndarray:
    """Elements and MOID ``(N, L+1, 6)`` at ``lag_days`` before the epoch, linearly
    interpolated in the backward element series ``(N, K, 6)`` sampled at ``series_days``
    (0 first, increasing); angles are unwrapped first."""
    if lag_days[-1] > series_days[-1] + 1e-6:
        raise ValueError(
            f"the history needs {lag_days[-1] / YEAR_D:.0f} yr before the epoch; the "
            f"element series covers {series_days[-1] / YEAR_D:.0f} yr (hazard.series_years)"
        )
    values = series.copy()
    for k in (3, 4):
        values[:, :, k] = np.degrees(np.unwrap(np.radians(values[:, :, k]), axis=1))
    right = np.clip(np.searchsorted(series_days, lag_days), 1, len(series_days) - 1)
    left = right - 1
    weight = (lag_days - series_days[left]) / (series_days[right] - series_days[left])
    out = values[:, left] * (1 - weight[None, :, None]) + values[:, right] * weight[None, :, None]
    for k in (3, 4):
        out[:, :, k] %= 360.0
    return out


def starts(
    track: np.ndarray,
    sample_days: float,
    epoch_history: np.ndarray,
    lags: int,
    horizons_samples: Mapping[int, int],
    limit_au: float,
    epoch_only: bool = False,
) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Every start of every object, its features and its label per horizon.

    ``track``: ``(N, S, 6)`` forward tracks (sample 0 at the epoch, then every
    ``sample_days``); ``epoch_history``: elements and MOID ``(N, lags+1, 6)`` before the
    epoch (from the backward series); a start k >= ``lags`` takes its history from the track. Returns the
    features (with ``object`` = row of the track and ``start`` = k) and, per horizon in
    years, labels 1/0, or -1 where the start has no label (MOID at or below the limit
    already, the horizon beyond the track, or a sample missing).
    """
    n, n_samples, _ = track.shape
    lag_years = np.arange(lags + 1) * sample_days / YEAR_D
    ks = [0] if epoch_only else [0, *range(lags, n_samples)]
    frames, labels = [], {h: [] for h in horizons_samples}
    moid = track[:, :, 5]
    for k in ks:
        past = epoch_history if k == 0 else track[:, k - lags : k + 1][:, ::-1]
        table = start_features(past, lag_years)
        table.insert(0, "start", k)
        table.insert(0, "object", np.arange(n))
        frames.append(table)
        usable = np.isfinite(table[list(FEATURES)].to_numpy()).all(axis=1)
        usable &= moid[:, k] > limit_au
        for horizon, steps in horizons_samples.items():
            label = np.full(n, -1)
            if k + steps < n_samples:
                future = moid[:, k + 1 : k + steps + 1]
                hit = (future <= limit_au).any(axis=1)
                known = hit | np.isfinite(future).all(axis=1)
                label = np.where(usable & known, hit.astype(int), -1)
            labels[horizon].append(label)
    return (
        pd.concat(frames, ignore_index=True),
        {h: np.concatenate(v) for h, v in labels.items()},
    )


def baseline_scores(features: pd.DataFrame, horizon_years: float) -> dict[str, np.ndarray]:
    """Scores (higher = more likely to approach) of the physics baselines."""
    moid = features["moid_au"].to_numpy()
    ahead = moid + features["moid_slope_au_per_century"].to_numpy() * horizon_years / 100.0
    return {"moid_trend": -np.minimum(moid, ahead), "moid_now": -moid}


def ranking_scores(
    models: Mapping[str, Any], features: pd.DataFrame, horizon_years: float
) -> dict[str, np.ndarray]:
    """Scores of the learned rankers (``models``: name -> fitted model; may be empty) and of
    the physics baselines, by model name, in :data:`RANKING_MODELS` order."""
    scores = {
        name: model.predict_proba(features[list(LEARNED_FEATURES[name])].to_numpy())[:, 1]
        for name, model in models.items()
    }
    return {**scores, **baseline_scores(features, horizon_years)}


def out_of_fold_scores(
    name: str, features: pd.DataFrame, labels: np.ndarray, groups: np.ndarray,
    settings: Mapping[str, Any], seed: int,
) -> np.ndarray:  # fmt: skip
    """Scores of each start by ranker ``name`` fitted without its object:
    ``hazard.ranking.folds`` folds grouped by object (scikit-learn's GroupKFold). The
    operating threshold is chosen on these validation scores of every simulated train and
    val object, rather than on the val split alone (~150 objects: its threshold wandered)."""
    from sklearn.model_selection import GroupKFold

    scores = np.full(len(labels), np.nan)
    columns = list(LEARNED_FEATURES[name])
    for fit, held in GroupKFold(int(settings["folds"])).split(features, labels, groups):
        model = fit_ranker(name, features.iloc[fit], labels[fit], settings["model"], seed)
        scores[held] = model.predict_proba(features.iloc[held][columns].to_numpy())[:, 1]
    return scores


def fit_ranker(
    name: str, features: pd.DataFrame, labels: np.ndarray, settings: Mapping[str, Any], seed: int
) -> Any:
    """Histogram gradient boosting on the features of ranker ``name``
    (:data:`LEARNED_FEATURES`) of labelled starts."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=int(settings["max_iter"]),
        learning_rate=float(settings["learning_rate"]),
        max_leaf_nodes=int(settings["max_leaf_nodes"]),
        l2_regularization=float(settings["l2_regularization"]),
        early_stopping=False,
        random_state=seed,
    )
    return model.fit(features[list(LEARNED_FEATURES[name])].to_numpy(), labels)


def score_rows(
    population: str, horizon: int, labels: np.ndarray, scores: Mapping[str, np.ndarray],
    groups: np.ndarray, thresholds: Mapping[str, float], n_boot: int, seed: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per model: AUC with its object-bootstrap interval, the paired difference to
    ``moid_now`` from the same resamples, and the operating point at the val threshold."""
    names = list(scores)
    boot = {m: [] for m in names}
    rng = rng_for(seed, f"hazard_ranking_bootstrap_{population}", horizon)
    both = 0 < labels.sum() < len(labels)
    for rows in cluster_bootstrap_rows(groups, n_boot if both else 0, rng):
        for m in names:
            boot[m].append(rank_auc(labels[rows], scores[m][rows]))
    reference = np.asarray(boot["moid_now"])
    out = []
    for m in names:
        samples = np.asarray(boot[m])
        delta = samples - reference
        flagged = scores[m] >= thresholds[m]
        if not both:  # one class only: no AUC, no recall
            out.append({"model": m, "population": population, "horizon_years": horizon,
                        "n": len(labels), "n_positive": int(labels.sum()),
                        "flagged_fraction": float(flagged.mean()) if len(labels) else np.nan,
                        "threshold": float(thresholds[m])})  # fmt: skip
            continue
        out.append(
            {
                "model": m, "population": population, "horizon_years": horizon,
                "n": len(labels), "n_positive": int(labels.sum()),
                "roc_auc": rank_auc(labels, scores[m]),
                "roc_auc_ci95_low": float(np.nanpercentile(samples, 2.5)),
                "roc_auc_ci95_high": float(np.nanpercentile(samples, 97.5)),
                "delta_auc_vs_moid_now": rank_auc(labels, scores[m]) - rank_auc(labels, scores["moid_now"]),
                "delta_ci95_low": float(np.nanpercentile(delta, 2.5)),
                "delta_ci95_high": float(np.nanpercentile(delta, 97.5)),
                "recall_at_threshold": float(flagged[labels == 1].mean()),
                "flagged_fraction": float(flagged.mean()),
                "threshold": float(thresholds[m]),
            }
        )  # fmt: skip
    return out


def horizon_samples(config: Mapping[str, Any], sample_days: float) -> dict[int, int]:
    """Samples of the forward track within each horizon (rounded to whole samples)."""
    return {
        int(h): max(1, round(h * YEAR_D / sample_days))
        for h in config["hazard"]["ranking"]["horizons_years"]
    }


def _load(paths: Sequence[str | Path]) -> np.ndarray:
    return np.concatenate([np.load(p) for p in paths])


def hazard_ranking(
    config: Mapping[str, Any],
    simulated: Mapping[str, Sequence[str | Path]],
    catalog: Mapping[str, Sequence[str | Path]],
    elements_path: str | Path,
    out_csv: str | Path,
    out_model: str | Path,
) -> pd.DataFrame:
    """Train the ranker on the simulated train split and write the ranking table.

    ``simulated``/``catalog``: ``{"forward": parquet shards, "series": npy, "track": npy}``
    in shard order (the simulated ones of every population, as the forward rules write
    them); ``elements_path``: the dataset's ``elements.parquet`` (the split of each object).
    """
    import joblib

    from asteroid_ml.io import atomic_output
    from asteroid_ml.simulation.forward import sample_times, series_times
    from asteroid_ml.simulation.moid import earth_orbit_drift_au

    settings = config["hazard"]["ranking"]
    limit = float(config["hazard"]["moid_au"])
    sample_days = float(sample_times(config)[0])
    lags = max(1, round(float(settings["trend_years"]) * YEAR_D / sample_days))
    lag_days = np.arange(lags + 1) * sample_days
    steps = horizon_samples(config, sample_days)
    seed = int(config["seed"])

    def population(files: Mapping[str, Sequence[str | Path]], epoch_only: bool):
        track = _load(files["track"])
        history = series_history(_load(files["series"]), series_times(config), lag_days)
        return track, starts(track, sample_days, history, lags, steps, limit, epoch_only)

    sim_forward = read_forward(simulated["forward"])
    _, (sim_x, sim_y) = population(simulated, epoch_only=False)
    split_of = pd.read_parquet(elements_path, columns=["object_id", "split"])
    split_of = dict(zip(split_of["object_id"].astype(str), split_of["split"], strict=True))
    ids = sim_forward["object_id"].astype(str).to_numpy()
    split = np.array([split_of.get(i, "") for i in ids])[sim_x["object"].to_numpy()]
    groups = ids[sim_x["object"].to_numpy()]

    cat_forward = read_forward(catalog["forward"])
    cat_track, (cat_x, cat_y) = population(catalog, epoch_only=True)
    cat_ids = cat_forward["des"].astype(str).to_numpy()

    rows, models = [], {}
    for horizon in steps:
        y = sim_y[horizon]
        fit_rows = np.isin(split, ("train", "val")) & (y >= 0)
        test = (split == "test") & (y >= 0)
        n_objects = len(np.unique(groups[fit_rows]))
        fitted, choice = {}, {}
        if len(np.unique(y[fit_rows])) < 2 or n_objects < int(settings["folds"]):
            log.warning(
                "horizon %d yr: %d train+val starts of %d objects, %d positive: too few to "
                "fit a ranker; only the baselines are scored", horizon, int(fit_rows.sum()),
                n_objects, int(y[fit_rows].sum()),
            )  # fmt: skip
        else:
            for name in LEARNED_FEATURES:
                fit_x, fit_y, fit_g = sim_x[fit_rows], y[fit_rows], groups[fit_rows]
                choice[name] = out_of_fold_scores(name, fit_x, fit_y, fit_g, settings, seed)
                fitted[name] = fit_ranker(name, fit_x, fit_y, settings["model"], seed)
        models[horizon] = fitted
        log.info(
            "horizon %d yr: %d starts (%d positive) of %d train+val objects", horizon,
            int(fit_rows.sum()), int(y[fit_rows].sum()), n_objects,
        )  # fmt: skip
        choice.update(baseline_scores(sim_x[fit_rows], horizon))
        thresholds = {
            m: threshold_at_recall(y[fit_rows], s, float(settings["target_recall"]))
            for m, s in choice.items()
        }
        boot = int(settings["bootstrap"])
        test_x = sim_x[test].reset_index(drop=True)
        rows += score_rows("simulated_test", horizon, y[test], ranking_scores(fitted, test_x, horizon),
                           groups[test], thresholds, boot, seed)  # fmt: skip
        real = cat_y[horizon] >= 0
        rows += score_rows("real_neo", horizon, cat_y[horizon][real],
                           ranking_scores(fitted, cat_x[real].reset_index(drop=True), horizon),
                           cat_ids[cat_x["object"].to_numpy()][real], thresholds, boot, seed)  # fmt: skip
        drift = float(earth_orbit_drift_au(horizon))
        future = np.nanmin(cat_track[:, 1 : steps[horizon] + 1, 5], axis=1)[real]
        log.info(
            "horizon %d yr: %d of %d real labels have their smallest MOID within %.4f au of "
            "the limit, the most the fixed J2000 Earth ellipse can be off (labels it could flip)",
            horizon, int(np.sum(np.abs(future - limit) <= drift)), int(real.sum()), drift,
        )  # fmt: skip
        below = cat_track[:, 0, 5] <= limit
        rows.append(
            {"model": "moid_now", "population": POPULATIONS[2], "horizon_years": horizon,
             "n": int(below.sum()), "n_positive": int(below.sum())}
        )  # fmt: skip
    table = pd.DataFrame(rows).reindex(columns=RANKING_COLUMNS)
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_output(out_model, suffix=".joblib") as tmp:
        joblib.dump({"features": {k: list(v) for k, v in LEARNED_FEATURES.items()},
                     "models": models, "settings": dict(settings), "sample_days": sample_days,
                     "lags": lags, "history": "elements and MOID at lags 0, 1, ... samples "
                     "before the start (ranking.start_features)"}, tmp)  # fmt: skip
    return table
