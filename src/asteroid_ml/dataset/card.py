"""The dataset card (``dataset/card.json``): counts, provenance and checksums.

The card is byte-identical between runs with the same content: no timestamps, no
paths, and a config hash that leaves out the shard counts (they only decide how
work is split into jobs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.dataset.splits import SPLITS
from asteroid_ml.io import config_hash, sha256_file

#: Negative kinds, in the order in which their fractions are accumulated.
NEGATIVE_KINDS = ("empty", "cosmic_ray", "hot_pixel", "hot_column", "bright_star")


def content_config_hash(config: Mapping[str, Any]) -> str:
    """Config hash of what determines the dataset's content.

    Shard counts only decide how work is split into jobs, so they are left out:
    the card (and its hash) is then identical for 1 or 3 simulation shards.
    """
    content = {k: copy.deepcopy(config.get(k)) for k in
               ("seed", "epoch_jd_tdb", "simulation", "observations", "survey", "dataset")}  # fmt: skip
    for population in (content.get("simulation") or {}).values():
        if isinstance(population, dict):
            population.pop("shards", None)
    if isinstance(content.get("survey"), dict):
        content["survey"].pop("shards", None)
    return config_hash(content)


def build_card(
    manifest: pd.DataFrame,
    elements: pd.DataFrame,
    out: Path,
    content_hash: str,
    version: str,
    config: Mapping[str, Any],
    size: int,
) -> dict[str, Any]:
    """The dataset card: counts per class/kind and split, provenance, file checksums."""
    counts: dict[str, Any] = {}
    for split in SPLITS:
        part = manifest[manifest["split"] == split]
        counts[split] = {
            "n": len(part),
            "label": {str(v): int((part["label"] == v).sum()) for v in (0, 1)},
            "kind": {k: int((part["kind"] == k).sum()) for k in ("asteroid", *NEGATIVE_KINDS)},
            "objects": int(part.loc[part["label"] == 1, "object_id"].nunique()),
        }
    element_counts = {
        split: {str(v): int(((elements["split"] == split) & (elements["label"] == v)).sum())
                for v in (0, 1)}
        for split in SPLITS
    }  # fmt: skip
    positives = manifest[manifest["label"] == 1]
    snr = positives["snr"].to_numpy()
    files = {}
    for name in (*(f"{s}.npy" for s in SPLITS), "manifest.parquet", "elements.parquet"):
        path = out / name
        entry: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if name.endswith(".npy"):
            entry["shape"] = list(np.load(path, mmap_mode="r").shape)
            entry["dtype"] = "float32"
        files[name] = entry
    return {
        "name": "asteroid-ml detection and impactor datasets",
        "code_version": version,
        "config_hash": content_hash,
        "config_hash_note": "SHA-256 of the seed, epoch, simulation, observations, survey and "
        "dataset sections without shard counts (they do not change the content)",
        "seed": int(config["seed"]),
        "cutout_size": size,
        "counts": counts,
        "counts_total": {
            "n": len(manifest),
            "label": {str(v): int((manifest["label"] == v).sum()) for v in (0, 1)},
        },
        "elements_counts": element_counts,
        "positive_snr_quantiles": {
            q: float(np.nanquantile(snr, float(q))) if snr.size else None
            for q in ("0.05", "0.25", "0.5", "0.75", "0.95")
        },
        "positive_fraction_snr_ge_10": float(np.mean(snr >= 10)) if snr.size else None,
        "injection": dict(config["dataset"])
        | {"exposure_s": float(config["observations"]["exposure_s"])},
        "files": files,
    }
