"""Impact hazard that physics can check: every impactor model beside the MOID baselines.

Two physics baselines are scored by the same metric code as the models
(:mod:`.scoring`; scores in :mod:`.physics`): ``impactor_moid_now`` (the Earth MOID at the epoch) and
``impactor_moid_future`` (the smallest Earth MOID of the forward run over the impact
window, :mod:`asteroid_ml.simulation.forward`). Their score is
``1 / (1 + MOID / hazard.moid_au)``: it decreases with the MOID, so every ranking
metric is the MOID's own, and it is 0.5 exactly at the PHA distance.

On the real catalog (rule ``real_catalog_summary``) every impactor model and baseline
is scored against two labels, the present PHA flag (``pha``) and the physics label of
the forward run (``future_approach``), at its operating threshold chosen on the
simulated validation split (never on the catalog). ``future_approachers.csv`` lists the
real NEOs that are not PHAs and whose MOID is above the limit today but that the
forward run brings within it, ranked by the models' scores, and checks the top ones
with the precise propagator (REBOUND IAS15, planets on the ephemeris) up to the end
of the ephemeris or ``hazard.verify_years``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.evaluation.metrics import wilson_interval
from asteroid_ml.evaluation.physics import read_forward
from asteroid_ml.io import atomic_output
from asteroid_ml.registry import MODELS, model_names

log = logging.getLogger(__name__)

#: Labels of the real-catalog summary.
CATALOG_LABELS = ("pha", "future_approach")
SUMMARY_COLUMNS = [
    "model",
    "label",
    "n",
    "n_positive",
    "roc_auc",
    "recall",
    "recall_ci95_low",
    "recall_ci95_high",
    "flagged_fraction",
    "threshold",
]


def _catalog_scores(
    config: Mapping[str, Any],
    catalog: pd.DataFrame,
    forward_paths: Sequence[str | Path],
    series_paths: Sequence[str | Path],
    model_files: Mapping[str, str | Path],
    threads: int,
) -> pd.DataFrame:
    """One column of scores per impactor model and baseline, one row per catalog object."""
    from asteroid_ml.evaluation.scoring import impactor_scorer

    scores = pd.DataFrame({"des": catalog["des"].to_numpy()})
    for name in model_names("impactor"):
        score = impactor_scorer(
            config,
            MODELS[name],
            model_files.get(name, ""),
            threads,
            forward_paths,
            series_paths,
            "des",
        )
        scores[name] = score(catalog)
    return scores


def summary_rows(
    scores: pd.DataFrame, labels: Mapping[str, np.ndarray], thresholds: Mapping[str, float]
) -> pd.DataFrame:
    """ROC-AUC, recall (Wilson 95 %) and flagged fraction of every model for every label."""
    from sklearn.metrics import roc_auc_score

    rows = []
    for name, threshold in thresholds.items():
        s = scores[name].to_numpy(dtype=float)
        flagged = s >= threshold
        for label, y in labels.items():
            y = np.asarray(y, dtype=int)
            both = 0 < y.sum() < len(y)
            hits, positives = int(flagged[y == 1].sum()), int(y.sum())
            low, high = wilson_interval(hits, positives)
            rows.append(
                {
                    "model": name,
                    "label": label,
                    "n": len(y),
                    "n_positive": positives,
                    "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
                    "recall": hits / positives if positives else float("nan"),
                    "recall_ci95_low": low,
                    "recall_ci95_high": high,
                    "flagged_fraction": float(flagged.mean()) if len(y) else float("nan"),
                    "threshold": threshold,
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def operating_thresholds(metrics_files: Mapping[str, str | Path]) -> dict[str, float]:
    """Each model's operating threshold (chosen on the simulated validation split)."""
    out = {}
    for name, path in metrics_files.items():
        op = json.loads(Path(path).read_text()).get("operating_threshold") or {}
        if op.get("threshold") is None:
            raise ValueError(
                f"{path}: no operating threshold (no impactor in the validation split?)"
            )
        out[name] = float(op["threshold"])
    return out


def future_approachers(
    catalog: pd.DataFrame, forward: pd.DataFrame, scores: pd.DataFrame, limit_au: float
) -> pd.DataFrame:
    """Real NEOs that are not PHAs, have MOID above the limit today, and reach it inside the
    window in the forward run; ranked by the MLP's score, with every model's score."""
    table = catalog[["des", "full_name", "H_mag", "a_au", "e", "i_deg"]].merge(
        forward, on="des", how="inner", validate="one_to_one"
    )
    table = table.merge(scores, on="des", validate="one_to_one")
    keep = (
        ~catalog.set_index("des").loc[table["des"], "pha"].to_numpy()
        & (table["moid_now_au"] > limit_au)
        & (table["future_approach"] == 1)
    )
    rank_by = model_names("impactor", "lightning")[0]
    return table[keep].sort_values([rank_by, "des"], ascending=[False, True]).reset_index(drop=True)


def verify_approaches(
    config: Mapping[str, Any], catalog_path: str | Path, candidates: pd.DataFrame
) -> pd.DataFrame:
    """First approach within ``hazard.moid_au`` of the top ``hazard.verify_top_n`` candidates,
    with the precise propagator, from the epoch to the ephemeris end (or ``verify_years``)."""

    from asteroid_ml.simulation.close_approach import (
        ELEMENT_KEYS,
        PropagationSettings,
        calendar_tdb,
        find_close_approaches,
        load_catalog,
    )
    from asteroid_ml.simulation.solar_system import EPHEMERIS_END_JD, YEAR_D

    hz = config["hazard"]
    top = candidates.head(int(hz["verify_top_n"]))
    out = top[["des"]].copy()
    epoch = float(config["epoch_jd_tdb"])
    end = EPHEMERIS_END_JD - 1.0
    if hz["verify_years"] is not None:
        end = min(end, epoch + float(hz["verify_years"]) * YEAR_D)
    out["verified_until_jd_tdb"] = end
    out["first_approach_jd_tdb"] = np.nan
    out["first_approach_au"] = np.nan
    if len(top):
        catalog = load_catalog(catalog_path)
        rows = catalog[catalog["des"].isin(top["des"])][["des", *ELEMENT_KEYS, "epoch"]]
        settings = PropagationSettings(
            sample_days=float(hz["verify_sample_days"]), reset_days=float(hz["verify_reset_days"])
        )
        found = find_close_approaches(rows, epoch, end, float(hz["moid_au"]), settings=settings)
        first = found.sort_values("jd_tdb").drop_duplicates("des").set_index("des")
        hit = out["des"].isin(first.index)
        out.loc[hit, "first_approach_jd_tdb"] = first.loc[out.loc[hit, "des"], "jd_tdb"].to_numpy()
        out.loc[hit, "first_approach_au"] = first.loc[out.loc[hit, "des"], "dist_au"].to_numpy()
    dates = calendar_tdb(out["first_approach_jd_tdb"].fillna(epoch).to_numpy())
    out["first_approach"] = [
        d if np.isfinite(t) else "none before the verification ends"
        for d, t in zip(dates, out["first_approach_jd_tdb"], strict=True)
    ]
    return out


def real_catalog_summary(
    config: Mapping[str, Any],
    catalog_path: str | Path,
    forward_paths: Sequence[str | Path],
    series_paths: Sequence[str | Path],
    model_files: Mapping[str, str | Path],
    metrics_files: Mapping[str, str | Path],
    out_summary: str | Path,
    out_scores: str | Path,
    out_approachers: str | Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Write ``real_catalog_summary.csv``, the per-object scores and ``future_approachers.csv``."""
    from asteroid_ml.evaluation.real_catalog import read_neo_catalog
    from asteroid_ml.io import write_parquet

    limit = float(config["hazard"]["moid_au"])
    catalog, _ = read_neo_catalog(catalog_path)
    forward = read_forward(forward_paths)
    catalog = catalog[catalog["des"].isin(forward["des"])].reset_index(drop=True)
    scores = _catalog_scores(config, catalog, forward_paths, series_paths, model_files, threads)
    labels = {
        "pha": catalog["pha"].to_numpy(dtype=int),
        "future_approach": forward.set_index("des")
        .loc[catalog["des"], "future_approach"]
        .to_numpy(),
    }
    summary = summary_rows(scores, labels, operating_thresholds(metrics_files))
    with atomic_output(out_summary) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    write_parquet(
        scores.assign(pha=labels["pha"], future_approach=labels["future_approach"]),
        out_scores,
        metadata={"stage": "real_catalog_summary", "moid_au": limit},
    )
    candidates = future_approachers(catalog, forward, scores, limit)
    verified = verify_approaches(config, catalog_path, candidates)
    table = candidates.merge(verified, on="des", how="left")
    with atomic_output(out_approachers) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8g")
    log.info(
        "real catalog: %d objects, %d future approachers (not PHA, MOID > %.2g au now), %d verified",
        len(catalog),
        len(candidates),
        limit,
        len(verified),
    )
    return summary
