"""The impactor classifier applied to the real NEO catalog (rule ``hoi_real_catalog``).

Which fraction of NASA's potentially hazardous asteroids does it flag (Hefele et al.
2020 quote 90.99 %), and how many non-PHAs does it flag as well. The threshold comes
from simulations only (see :func:`hoi_real_catalog`); the catalog never chooses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.evaluation.metrics import strict_json, wilson_interval
from asteroid_ml.evaluation.scoring import score_elements
from asteroid_ml.io import write_json, write_parquet

log = logging.getLogger(__name__)

#: Hefele et al. (2020): fraction of NASA PHAs their HOI network flagged.
HOI_PUBLISHED_PHA_FRACTION = 0.9099


def read_neo_catalog(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Read the JPL SBDB export (``neos-2020.csv``) into elements.parquet-style columns.

    Returns the table (``des``, ``full_name``, ``pha`` bool, ``H_mag``, ``a_au``,
    ``e``, ``i_deg``, ``om_deg``, ``w_deg``, ``ma_deg``, ``q_au``, ``moid_au``) and
    the number of rows dropped for missing or non-elliptic elements.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NEO catalog not found: {path}")
    raw = pd.read_csv(path, dtype={"pdes": str, "full_name": str, "pha": str}, low_memory=False)
    needed = ("full_name", "pdes", "pha", "H", "a", "e", "i", "om", "w", "ma", "q", "moid")
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    flags = raw["pha"].fillna("N").str.strip().str.upper()
    if not flags.isin(["Y", "N"]).all():
        raise ValueError(f"{path}: column 'pha' must hold 'Y' or 'N'")
    table = pd.DataFrame(
        {
            "des": raw["pdes"].astype(str).str.strip(),
            "full_name": raw["full_name"].astype(str).str.strip(),
            "pha": flags.eq("Y"),
            "H_mag": pd.to_numeric(raw["H"], errors="coerce"),
            "a_au": pd.to_numeric(raw["a"], errors="coerce"),
            "e": pd.to_numeric(raw["e"], errors="coerce"),
            "i_deg": pd.to_numeric(raw["i"], errors="coerce"),
            "om_deg": pd.to_numeric(raw["om"], errors="coerce"),
            "w_deg": pd.to_numeric(raw["w"], errors="coerce"),
            "ma_deg": pd.to_numeric(raw["ma"], errors="coerce"),
            "q_au": pd.to_numeric(raw["q"], errors="coerce"),
            "moid_au": pd.to_numeric(raw["moid"], errors="coerce"),
        }
    )
    ok = table[["a_au", "e", "i_deg", "om_deg", "w_deg", "q_au"]].notna().all(axis=1)
    ok &= (table["e"] < 1) & (table["a_au"] > 0)
    dropped = int((~ok).sum())
    if dropped:
        log.warning("%s: dropped %d row(s) with missing or hyperbolic elements", path, dropped)
    return table[ok].reset_index(drop=True), dropped


def _catalog_threshold(cfg: Mapping[str, Any], model_metrics_path: str | Path) -> tuple[float, str]:
    """The threshold of ``evaluation.hoi_threshold`` and a sentence saying where it comes from."""
    model_name = cfg["hoi_model"]
    metrics = json.loads(Path(model_metrics_path).read_text())
    setting = cfg["hoi_threshold"]
    if setting == "operating":
        threshold = (metrics.get("operating_threshold") or {}).get("threshold")
        source = (
            f"operating threshold of {model_name}: keeps "
            f"{cfg['operating_recall']['impactor']} of the validation-split impactors"
        )
    elif setting == "target_recall":
        threshold = metrics["threshold_at_target_recall"]
        source = (
            f"threshold keeping {cfg['target_recall']} of the validation-split impactors "
            f"({model_name})"
        )
    else:
        threshold, source = float(setting), "evaluation.hoi_threshold"
    if threshold is None:
        raise ValueError(
            f"{model_metrics_path}: no {setting} threshold (no impactor in the split?)"
        )
    return float(threshold), source


def flag_fractions(table: pd.DataFrame, scores: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    """Counts and fractions of flagged PHAs, non-PHAs and objects by MOID (NaN where none)."""

    def fraction(mask: np.ndarray, values: np.ndarray = flagged) -> float:
        return float(values[mask].mean()) if mask.any() else float("nan")

    pha = table["pha"].to_numpy()
    close = (table["moid_au"] <= 0.05).to_numpy()
    return {
        "n_pha": int(pha.sum()),
        "n_non_pha": int((~pha).sum()),
        "n_flagged": int(flagged.sum()),
        "pha_flagged_fraction": fraction(pha),
        "pha_flagged_fraction_ci95": list(wilson_interval(int(flagged[pha].sum()), int(pha.sum()))),
        "non_pha_false_positive_rate": fraction(~pha),
        "moid_le_0.05_flagged_fraction": fraction(close),
        "moid_gt_0.05_flagged_fraction": fraction(~close),
        "pha_flagged_fraction_at_0.5": fraction(pha, scores >= 0.5),
    }


def top_non_phas(table: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """The ``n`` highest-scoring objects that are not PHAs today."""
    non_pha = table[~table["pha"].to_numpy()].sort_values("score", ascending=False)
    return [
        {
            "des": r.des,
            "full_name": r.full_name,
            "score": float(r.score),
            "moid_au": float(r.moid_au),
            "H_mag": float(r.H_mag),
            "a_au": float(r.a_au),
            "e": float(r.e),
            "i_deg": float(r.i_deg),
        }
        for r in non_pha.head(n).itertuples()
    ]


def hoi_real_catalog(
    config: Mapping[str, Any],
    model_path: str | Path,
    model_metrics_path: str | Path,
    catalog_path: str | Path,
    out_parquet: str | Path,
    out_json: str | Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Apply the impactor classifier to the real NEOs and compare with the PHA flags.

    The threshold is ``evaluation.hoi_threshold``: ``operating`` = the model's
    operating threshold (chosen on the validation split, see :func:`evaluate_model`),
    ``target_recall`` = the threshold that keeps ``target_recall`` of the simulated
    impactors of the test split (both read from the model's metrics.json), or a
    number. Simulations alone choose it; the catalog never does. The summary also
    holds the held-out (test-split) recall of simulated impactors at that threshold,
    so that both HOI figures come from one operating point (read from the
    ``predictions.parquet`` that :func:`evaluate_model` writes beside metrics.json).
    """
    cfg = config["evaluation"]
    model_name = cfg["hoi_model"]
    catalog, dropped = read_neo_catalog(catalog_path)
    scores = score_elements(model_name, Path(model_path), catalog, threads)
    threshold, source = _catalog_threshold(cfg, model_metrics_path)
    predictions = pd.read_parquet(Path(model_metrics_path).with_name("predictions.parquet"))
    positive = predictions["label"].to_numpy() == 1
    recalled = int((predictions["score"].to_numpy()[positive] >= threshold).sum())
    flagged = scores >= threshold
    table = catalog[["des", "full_name", "pha", "H_mag", "a_au", "e", "i_deg", "moid_au"]].copy()
    table["score"] = scores
    table["flagged"] = flagged
    summary = {
        "model": model_name,
        "threshold": float(threshold),
        "threshold_source": source,
        "n_objects": len(table),
        "n_dropped": dropped,
        **flag_fractions(table, scores, flagged),
        "published_hoi_pha_fraction": HOI_PUBLISHED_PHA_FRACTION,
        "simulated_test_impactors": int(positive.sum()),
        "simulated_test_recall": recalled / positive.sum() if positive.any() else float("nan"),
        "simulated_test_recall_ci95": list(wilson_interval(recalled, int(positive.sum()))),
        "top_non_pha": top_non_phas(table, cfg["hoi_top_n"]),
    }
    write_parquet(
        table.sort_values("score", ascending=False).reset_index(drop=True),
        out_parquet,
        metadata={
            "model": model_name,
            "threshold": float(threshold),
            "catalog": Path(catalog_path).name,
        },
    )
    write_json(strict_json(summary), out_json)
    log.info(
        "HOI on %d real NEOs: %.2f %% of %d PHAs flagged, %.2f %% of non-PHAs (threshold %.4g)",
        len(table),
        100 * summary["pha_flagged_fraction"],
        summary["n_pha"],
        100 * summary["non_pha_false_positive_rate"],
        threshold,
    )
    return summary
