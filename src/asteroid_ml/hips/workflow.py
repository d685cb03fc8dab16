"""Cutout shards for the workflow (rule ``cutouts``) and the ``asteroid-ml cutouts`` CLI."""

from __future__ import annotations

import argparse
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

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = (
    "target_id",
    "ra_deg",
    "dec_deg",
    "order",
    "tiles",
    "missing_tiles",
    "blank_fraction",
    "wcs_header",
)


def open_survey_from_config(config: Mapping[str, Any], location: str | None = None) -> HipsSurvey:
    """Open the survey of ``config['survey']`` (or ``location``) with its cache/HTTP settings."""
    section = config.get("survey", {})
    return open_survey(
        location if location is not None else section["location"],
        cache_dir=section.get("cache_dir"),
        cache_max_mb=float(section.get("cache_max_mb", 2048)),
        timeout_s=float(section.get("http_timeout_s", 10.0)),
        retries=int(section.get("http_retries", 3)),
        s3_endpoint_url=section.get("s3_endpoint_url"),
        memory_tiles=int(section.get("memory_tiles", 64)),
    )


def read_targets(path: str | os.PathLike[str]) -> pd.DataFrame:
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
    if np.any(np.abs(table["dec_deg"].to_numpy()) > 90):
        raise ValueError(f"{path}: column 'dec_deg' has values outside [-90, 90]")
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
        columns=list(MANIFEST_COLUMNS),
    )


def _extraction_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    section = config.get("survey", {})
    scale_arcsec = section.get("pixel_scale_arcsec")
    return {
        "size": int(section.get("cutout_size", 64)),
        "pixel_scale_deg": None if scale_arcsec is None else float(scale_arcsec) / 3600.0,
        "interpolation": section.get("interpolation", "nearest"),
        "order": section.get("order"),
        "workers": int(section.get("workers", 1)),
    }


def _write_outputs(
    images: np.ndarray,
    manifest: pd.DataFrame,
    output_npy: str | os.PathLike[str],
    output_manifest: str | os.PathLike[str],
    metadata: Mapping[str, Any],
) -> None:
    from asteroid_ml.io import save_npy, write_parquet

    save_npy(images.astype(np.float32, copy=False), output_npy)
    write_parquet(manifest, output_manifest, metadata=dict(metadata))


def extract_shard(
    config: Mapping[str, Any],
    targets_path: str | os.PathLike[str],
    shard: int,
    output_npy: str | os.PathLike[str],
    output_manifest: str | os.PathLike[str],
    survey_location: str,
) -> None:
    """Extract the cutouts of shard ``shard`` of ``results/cutouts/targets.parquet``.

    Rows with ``cutout_shard == shard`` are extracted in ``target_id`` order
    (internally grouped by tile so that each tile is read once) and written as a
    float32 ``(N, S, S)`` ``.npy`` (NaN = blank) and a Parquet manifest whose row
    ``i`` describes array index ``i``.
    """
    from asteroid_ml.config import config_hash

    started = time.perf_counter()
    shard = int(shard)
    targets = read_targets(targets_path)
    if "cutout_shard" not in targets.columns:
        raise ValueError(f"{targets_path}: missing column 'cutout_shard'")
    rows = targets[targets["cutout_shard"].astype(int) == shard].sort_values("target_id")
    settings = _extraction_settings(config)
    survey = open_survey_from_config(config, survey_location)
    log.info(
        "shard %d: %d cutouts of %d px from %s (order %s, %s)",
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
    manifest = manifest_frame(rows["target_id"].to_numpy(), batch)
    n_missing = sum(1 for t in batch.missing_tiles if t)
    if n_missing:
        log.warning("shard %d: %d cutouts touch missing tiles (blank pixels)", shard, n_missing)
    _write_outputs(
        batch.images,
        manifest,
        output_npy,
        output_manifest,
        {
            "stage": "cutouts",
            "shard": shard,
            "survey": survey.location,
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
        "shard %d: wrote %s (%d cutouts, %d tiles read, %.2f s)",
        shard,
        output_npy,
        len(rows),
        survey.tiles_read,
        time.perf_counter() - started,
    )


def _cli_cutouts(args: argparse.Namespace) -> int:
    """``asteroid-ml cutouts``: extract cutouts around every row of a targets table."""
    targets = read_targets(args.targets)
    survey = open_survey(
        args.survey,
        cache_dir=args.cache_dir,
        timeout_s=args.timeout,
        retries=args.retries,
    )
    batch = extract_cutouts(
        survey,
        targets["ra_deg"].to_numpy(),
        targets["dec_deg"].to_numpy(),
        args.size,
        pixel_scale_deg=None if args.pixel_scale is None else args.pixel_scale / 3600.0,
        interpolation=args.interpolation,
        order=args.order,
        workers=args.workers,
    )
    output = Path(args.output)
    _write_outputs(
        batch.images,
        manifest_frame(targets["target_id"].to_numpy(), batch),
        output / "cutouts.npy",
        output / "manifest.parquet",
        {
            "stage": "cutouts",
            "survey": survey.location,
            "order": batch.order,
            "pixel_scale_deg": batch.pixel_scale_deg,
            "size": args.size,
            "interpolation": args.interpolation,
        },
    )
    print(
        f"{len(batch)} cutouts of {args.size}x{args.size} px "
        f"({batch.pixel_scale_deg * 3600:.3f} arcsec/px, order {batch.order}) -> "
        f"{output / 'cutouts.npy'}, {output / 'manifest.parquet'}"
    )
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``asteroid-ml cutouts``."""
    p = subparsers.add_parser(
        "cutouts",
        help="cut square TAN images out of a HiPS survey around RA/Dec positions",
        description=(
            "Extract SIZE x SIZE cutouts (TAN, north up, east left) from a HiPS survey "
            "(local folder, http(s):// or s3:// URL) around each row of a CSV/Parquet table "
            "with columns ra,dec (or ra_deg,dec_deg) in degrees. Writes OUTPUT/cutouts.npy "
            "(float32, NaN = blank) and OUTPUT/manifest.parquet."
        ),
    )
    p.add_argument("--survey", required=True, help="HiPS folder or http(s)/s3 URL")
    p.add_argument("--targets", required=True, help="CSV or Parquet with ra,dec in degrees")
    p.add_argument("--size", type=int, default=64, help="cutout side in pixels (default 64)")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument(
        "--pixel-scale",
        type=float,
        default=None,
        help="pixel side in arcsec (default: the survey's native scale)",
    )
    p.add_argument("--interpolation", choices=["nearest", "bilinear"], default="nearest")
    p.add_argument("--order", type=int, default=None, help="tile order (default hips_order)")
    p.add_argument("--cache-dir", default=None, help="tile cache for remote surveys")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP/S3 timeout in seconds")
    p.add_argument("--retries", type=int, default=3, help="retries on 5xx/connection errors")
    p.add_argument("--workers", type=int, default=1, help="threads extracting in parallel")
    p.set_defaults(func=_cli_cutouts)
