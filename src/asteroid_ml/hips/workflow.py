"""Cutout shards for the workflow (rule ``cutouts``): a config slice in, a shard out."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.hips.extract import CutoutBatch, extract_cutouts
from asteroid_ml.hips.survey import HipsSurvey, open_survey
from asteroid_ml.io import config_hash
from asteroid_ml.tables import CUTOUT_MANIFEST_COLUMNS

log = logging.getLogger(__name__)


def open_survey_from_config(config: Mapping[str, Any], location: str | None = None) -> HipsSurvey:
    """Open the survey of ``config['survey']`` (or ``location``) with its cache/HTTP settings."""
    section = config["survey"]
    return open_survey(
        location if location is not None else section["location"],
        cache_dir=section["cache_dir"],
        cache_max_mb=float(section["cache_max_mb"]),
        timeout_s=float(section["http_timeout_s"]),
        retries=int(section["http_retries"]),
        s3_endpoint_url=section["s3_endpoint_url"],
        memory_tiles=int(section["memory_tiles"]),
    )


#: Largest cutout array one ``asteroid-ml cutouts`` call writes (bytes), and largest side (px).
MAX_CUTOUT_BYTES = 8 << 30
MAX_CUTOUT_SIZE = 4096


def check_cutout_request(n_targets: int, size: int, pixel_scale_arcsec: float | None) -> None:
    """Refuse, with the option named, a request that would not fit or makes no sense."""
    if pixel_scale_arcsec is not None and not pixel_scale_arcsec > 0:
        raise ValueError(
            f"--pixel-scale: must be a positive number of arcsec, got {pixel_scale_arcsec:g}"
        )
    size_bytes = n_targets * size * size * 4
    if size > MAX_CUTOUT_SIZE or size_bytes > MAX_CUTOUT_BYTES:
        raise ValueError(
            f"--size {size}: {n_targets} cutouts of {size} x {size} px would need "
            f"{size_bytes / 2**30:.1f} GiB (at most {MAX_CUTOUT_SIZE} px and "
            f"{MAX_CUTOUT_BYTES >> 30} GiB)"
        )


def read_positions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Targets from Parquet or CSV; must have ``ra_deg``/``dec_deg`` (or ``ra``/``dec``) in degrees."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"targets file not found: {path}")
    table = pd.read_csv(path) if path.suffix.lower() in (".csv", ".txt") else pd.read_parquet(path)
    renames = {"ra": "ra_deg", "dec": "dec_deg"}
    table = table.rename(columns={k: v for k, v in renames.items() if v not in table.columns})
    for column in ("ra_deg", "dec_deg"):
        if column not in table.columns:
            raise ValueError(f"{path}: missing column {column!r} (or {column[:-4]!r}), in degrees")
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(f"{path}: column {column!r} has a non-numeric value at row {bad}")
        table[column] = values
    if table.empty:
        raise ValueError(f"{path}: no target rows")
    for column, low, high, closed in (
        ("ra_deg", 0.0, 360.0, False),
        ("dec_deg", -90.0, 90.0, True),
    ):
        values = table[column].to_numpy()
        outside = (values < low) | ((values > high) if closed else (values >= high))
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            bounds = f"[{low:g}, {high:g}]" if closed else f"[{low:g}, {high:g})"
            raise ValueError(
                f"{path}: column {column!r} has values outside {bounds} deg "
                f"(row {row}: {values[row]:g})"
            )
    if "target_id" not in table.columns:
        table["target_id"] = np.arange(len(table), dtype=np.int64)
    return table


def manifest_frame(target_ids: np.ndarray, batch: CutoutBatch) -> pd.DataFrame:
    """Manifest rows (one per cutout, same order as ``batch.images``)."""
    return pd.DataFrame(
        {
            "target_id": np.asarray(target_ids, dtype=np.int64),
            "ra_deg": batch.ra_deg.astype(np.float64),
            "dec_deg": batch.dec_deg.astype(np.float64),
            "order": np.full(len(batch), batch.order, dtype=np.int64),
            "tiles": [",".join(map(str, t)) for t in batch.tiles],
            "missing_tiles": [",".join(map(str, t)) for t in batch.missing_tiles],
            "blank_fraction": batch.blank_fraction.astype(np.float64),
            "wcs_header": pd.Series(batch.headers, dtype=object),
        },
        columns=list(CUTOUT_MANIFEST_COLUMNS),
    )


def _extraction_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    section = config["survey"]
    scale_arcsec = section["pixel_scale_arcsec"]
    return {
        "size": int(section["cutout_size"]),
        "pixel_scale_deg": None if scale_arcsec is None else float(scale_arcsec) / 3600.0,
        "interpolation": section["interpolation"],
        "order": section["order"],
        "workers": int(section["workers"]),
    }


def write_cutout_outputs(
    images: np.ndarray,
    manifest: pd.DataFrame,
    output_npy: str | os.PathLike[str],
    output_manifest: str | os.PathLike[str],
    metadata: Mapping[str, Any],
) -> None:
    """Write the cutouts and their manifest: both, or neither (a failed manifest removes the
    cutouts just written, and the folder they made)."""
    from asteroid_ml.io import missing_folders, remove_empty, save_npy, write_parquet

    made = missing_folders(output_npy)
    try:
        save_npy(images.astype(np.float32, copy=False), output_npy)
        write_parquet(manifest, output_manifest, metadata=dict(metadata))
    except BaseException:
        Path(output_npy).unlink(missing_ok=True)
        remove_empty(made)
        raise


def extract_shard(
    config: Mapping[str, Any],
    targets_path: str | os.PathLike[str],
    shard: int | None,
    output_npy: str | os.PathLike[str],
    output_manifest: str | os.PathLike[str],
    survey_location: str,
) -> None:
    """Extract the cutouts of shard ``shard`` of ``results/cutouts/targets.parquet``.

    Rows with ``cutout_shard == shard`` (every row when ``shard`` is None: a user's own
    table of ``ra,dec``, as ``asteroid-ml cutouts`` passes it) are extracted in
    ``target_id`` order (internally grouped by tile so that each tile is read once) and
    written as a float32 ``(N, S, S)`` ``.npy`` (NaN = blank) and a Parquet manifest whose
    row ``i`` describes array index ``i``. Settings: ``config['survey']``. A survey none of
    whose tiles covers any target is refused before anything is written.
    """
    started = time.perf_counter()
    targets = read_positions(targets_path)
    if shard is None:
        rows = targets.sort_values("target_id")
    else:
        shard = int(shard)
        if "cutout_shard" not in targets.columns:
            raise ValueError(f"{targets_path}: missing column 'cutout_shard'")
        rows = targets[targets["cutout_shard"].astype(int) == shard].sort_values("target_id")
    settings = _extraction_settings(config)
    survey = open_survey_from_config(config, survey_location)
    log.info(
        "shard %s: %d cutouts of %d px from %s (order %s, %s)",
        shard,
        len(rows),
        settings["size"],
        survey.location,
        settings["order"] if settings["order"] is not None else survey.order,
        settings["interpolation"],
    )
    batch = extract_cutouts(
        survey, rows["ra_deg"].to_numpy(), rows["dec_deg"].to_numpy(), **settings
    )
    if len(batch) and bool(np.isnan(batch.images).all()):
        raise ValueError(
            f"{survey_location}: no tile covers any of the {len(batch)} targets (every "
            "cutout would be blank): check the survey folder and the targets' RA/Dec"
        )
    manifest = manifest_frame(rows["target_id"].to_numpy(), batch)
    n_missing = sum(1 for t in batch.missing_tiles if t)
    if n_missing:
        log.warning("shard %s: %d cutouts touch missing tiles (blank pixels)", shard, n_missing)
    write_cutout_outputs(
        batch.images,
        manifest,
        output_npy,
        output_manifest,
        {
            "stage": "cutouts",
            "shard": shard,
            # as configured: a shipped survey's folder relative to the repository, so that
            # the shard does not depend on where the repository was cloned
            "survey": config["survey"]["location"],
            "hips_order": survey.order,
            "hips_frame": survey.frame,
            "order": batch.order,
            "pixel_scale_deg": batch.pixel_scale_deg,
            "size": settings["size"],
            "interpolation": settings["interpolation"],
            "units": {"ra_deg": "deg", "dec_deg": "deg", "images": "survey pixel units"},
            "config_hash": config_hash(config, ["survey"]),
            "tiles_read": survey.tiles_read,
        },
    )
    log.info(
        "shard %s: wrote %s (%d cutouts, %d tiles read, %.2f s)",
        shard,
        output_npy,
        len(rows),
        survey.tiles_read,
        time.perf_counter() - started,
    )
