"""Our Earth close approaches of 2020 against JPL's Close-Approach Data (CAD).

Rule ``validate_close_approaches``: every CAD approach within ``max_dist_au`` of a
catalog object whose elements have the epoch is matched to our approach of the same
object nearest in time (:func:`validate_against_cad`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.simulation.close_approach import (
    ELEMENT_KEYS,
    PropagationSettings,
    find_close_approaches,
    load_catalog,
)

log = logging.getLogger(__name__)


def load_cad(path: str | os.PathLike[str]) -> pd.DataFrame:
    """JPL CAD API JSON -> DataFrame with typed columns."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"close-approach file not found: {path}")
    raw = json.loads(path.read_text())
    if "fields" not in raw or "data" not in raw:
        raise ValueError(f"{path}: not a CAD API answer (needs 'fields' and 'data')")
    cad = pd.DataFrame(raw["data"], columns=raw["fields"])
    for col in ("jd", "dist", "dist_min", "dist_max", "v_rel", "v_inf"):
        cad[col] = pd.to_numeric(cad[col])
    cad["des"] = cad["des"].astype(str).str.strip()
    return cad


def match_approaches(ref: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """Each JPL approach (rows of the CAD table) beside our approach of the same object
    nearest in time, if one lies within 3 days (else NaN)."""
    rows = []
    for _, r in ref.iterrows():
        mine = ours[ours["des"] == r["des"]]
        dt = (mine["jd_tdb"] - r["jd"]).abs()
        if len(mine) and dt.min() < 3.0:
            m = mine.loc[dt.idxmin()]
            our = (m["jd_tdb"], m["dist_au"], m["v_rel_kms"])
        else:
            our = (np.nan, np.nan, np.nan)
        rows.append(
            {
                "des": r["des"],
                "jpl_jd_tdb": r["jd"],
                "jpl_dist_au": r["dist"],
                "our_jd_tdb": our[0],
                "our_dist_au": our[1],
                "rel_dist_err": abs(our[1] - r["dist"]) / r["dist"],
                "dt_min": (our[0] - r["jd"]) * 1440.0,
                "v_rel_kms": our[2],
                "jpl_v_rel_kms": r["v_rel"],
            }
        )
    return pd.DataFrame(rows)


def comparison_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Distance and timing errors of a :func:`match_approaches` table (unmatched = infinite)."""
    err = table["rel_dist_err"].fillna(np.inf).to_numpy()
    dt_abs = table["dt_min"].abs().fillna(np.inf).to_numpy()
    return {
        "n": len(table),
        "n_unmatched": int(table["our_jd_tdb"].isna().sum()),
        "median_rel_dist_err": float(np.median(err)),
        "p95_rel_dist_err": float(np.percentile(err, 95)),
        "max_rel_dist_err": float(np.max(err)),
        "fraction_within_1min": float(np.mean(dt_abs <= 1.0)),
        "median_abs_dt_min": float(np.median(dt_abs)),
        "median_rel_v_err": float(
            np.nanmedian(np.abs(table["v_rel_kms"] / table["jpl_v_rel_kms"] - 1))
        ),
    }


def validate_against_cad(
    catalog_csv: str | os.PathLike[str],
    cad_json: str | os.PathLike[str],
    output_parquet: str | os.PathLike[str],
    output_json: str | os.PathLike[str],
    epoch_jd_tdb: float = 2459000.5,
    max_dist_au: float = 0.05,
    settings: PropagationSettings | None = None,
) -> dict[str, Any]:
    """Compare our close approaches with JPL's for the objects with elements at ``epoch_jd_tdb``.

    Every CAD approach within ``max_dist_au`` of an object of the catalog whose
    elements have that epoch is matched to our approach of the same object nearest
    in time (within 3 days). Writes the comparison table and a summary (median and
    95th percentile of the relative distance error, fraction within 1 minute, n) and
    returns the summary.
    """
    from asteroid_ml.io import write_json, write_parquet

    settings = settings or PropagationSettings()
    cat = load_catalog(catalog_csv)
    cad = load_cad(cad_json)
    cat = cat[np.isclose(cat["epoch"], epoch_jd_tdb, rtol=0.0, atol=1e-6)].drop_duplicates("des")
    ref = cad[(cad["dist"] <= max_dist_au) & cad["des"].isin(cat["des"])].reset_index(drop=True)
    objects = cat[cat["des"].isin(ref["des"])]
    start = float(ref["jd"].min()) - 2.0
    end = float(ref["jd"].max()) + 2.0
    log.info(
        "CAD validation: %d approaches of %d objects, JD %.1f..%.1f, mode %s",
        len(ref),
        len(objects),
        start,
        end,
        settings.mode,
    )
    ours = find_close_approaches(
        objects[["des", *ELEMENT_KEYS, "epoch"]],
        start,
        end,
        max_dist_au=max_dist_au * 1.2 + 0.005,
        settings=settings,
    )
    table = match_approaches(ref, ours)
    summary = {
        **comparison_summary(table),
        "n_objects": len(objects),
        "epoch_jd_tdb": epoch_jd_tdb,
        "max_dist_au": max_dist_au,
        "mode": settings.mode,
        "reset_days": settings.reset_days,
        "gr": settings.gr,
        "integrator": "REBOUND IAS15",
    }
    write_parquet(
        table,
        output_parquet,
        metadata={
            "summary": summary,
            "units": {
                "jpl_jd_tdb": "JD TDB",
                "our_jd_tdb": "JD TDB",
                "jpl_dist_au": "au",
                "our_dist_au": "au",
                "dt_min": "minutes (ours - JPL)",
                "v_rel_kms": "km/s",
                "jpl_v_rel_kms": "km/s",
            },
        },
    )
    write_json(summary, output_json)
    log.info(
        "CAD validation: median rel err %.2e, p95 %.2e, within 1 min %.4f (n=%d)",
        summary["median_rel_dist_err"],
        summary["p95_rel_dist_err"],
        summary["fraction_within_1min"],
        summary["n"],
    )
    return summary
