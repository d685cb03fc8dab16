"""Plan of the sky cutouts to extract: ``results/cutouts/targets.parquet``.

One *positive* target per (object, observation) of the ephemerides and
``round(negatives_per_positive x positives)`` *negative* targets. A positive
keeps the object's own ICRS position when the survey covers it
(``sky_source='ephemeris'``); otherwise (the shipped DSS2 sample covers only
~1,400 deg^2) the cutout is taken at a random position inside the coverage
(``'resampled'``) -- the asteroid is still injected with its own rate,
position angle and magnitude, only the sky behind it changes. Negatives are
random covered positions.

Random positions are uniform over the *area* of the covered tiles: a tile is
drawn uniformly (HEALPix tiles have equal areas), then a HEALPix cell of order
29 (~0.4 mas) uniformly inside it. The stream of a positive is keyed by
(seed, SHA-256 of its object id, observation index), that of a negative by its
index among negatives, so the plan does not depend on how the simulation was
sharded. Target ids are assigned after sorting positives by
(population, object_id, obs_index).

Cutout shards group targets by HiPS tile: targets sorted by (tile, target_id)
are cut into ``survey.shards`` contiguous runs of equal size, so every
extraction job has the same amount of work and reads only a few tiles.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.io import write_parquet
from asteroid_ml.seeds import rng_for, stable_int
from asteroid_ml.tables import TARGET_COLUMNS, read_ephemerides

log = logging.getLogger(__name__)

#: HEALPix order used to draw positions uniformly inside a tile.
FINE_ORDER = 29

#: Ephemeris columns this stage reads.
EPHEMERIS_COLUMNS = ("object_id", "population", "obs_index", "ra_deg", "dec_deg")


def _to_icrs(lon_deg: np.ndarray, lat_deg: np.ndarray, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert survey-frame coordinates to ICRS RA/Dec (degrees)."""
    if frame == "equatorial":
        return lon_deg, lat_deg
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    astropy_frame = {"galactic": "galactic", "ecliptic": "barycentricmeanecliptic"}.get(frame)
    if astropy_frame is None:
        raise ValueError(f"survey frame {frame!r} not supported (equatorial, galactic, ecliptic)")
    icrs = SkyCoord(lon_deg * u.deg, lat_deg * u.deg, frame=astropy_frame).icrs
    return icrs.ra.deg, icrs.dec.deg


def random_covered_positions(
    tiles: np.ndarray, order: int, frame: str, rngs: Sequence[np.random.Generator]
) -> tuple[np.ndarray, np.ndarray]:
    """One position per generator, uniform over the area of ``tiles`` (ICRS degrees)."""
    from cdshealpix.nested import healpix_to_lonlat

    if len(rngs) == 0:
        return np.empty(0), np.empty(0)
    shift = 2 * (FINE_ORDER - order)
    fine = np.empty(len(rngs), dtype=np.uint64)
    for i, rng in enumerate(rngs):
        tile = int(tiles[rng.integers(tiles.size)])
        fine[i] = (tile << shift) + int(rng.integers(0, 1 << shift))
    lon, lat = healpix_to_lonlat(fine, FINE_ORDER)
    return _to_icrs(
        np.asarray(lon.deg, dtype=np.float64), np.asarray(lat.deg, dtype=np.float64), frame
    )


def balanced_shards(tile: np.ndarray, target_id: np.ndarray, n_shards: int) -> np.ndarray:
    """Shard of each target: (tile, target_id)-sorted runs of equal size."""
    n = tile.size
    order = np.lexsort((target_id, tile))
    shard = np.empty(n, dtype=np.int64)
    shard[order] = (np.arange(n, dtype=np.int64) * n_shards) // max(n, 1)
    return shard


def plan_targets_table(
    config: Mapping[str, Any], ephemerides: pd.DataFrame, survey: Any
) -> pd.DataFrame:
    """The target table for sorted ``ephemerides`` and an opened HiPS ``survey``."""
    seed = int(config["seed"])
    dataset_cfg = config.get("dataset", {})
    ratio = float(dataset_cfg.get("negatives_per_positive", 1.0))
    n_shards = int(config["survey"].get("shards", 1))

    tiles = np.asarray(survey.available_tiles(), dtype=np.int64)
    if tiles.size == 0:
        raise ValueError(f"survey {config['survey']['location']}: no tiles available")
    order, frame = int(survey.order), str(survey.frame)

    n_pos = len(ephemerides)
    n_neg = int(round(ratio * n_pos))
    ra = ephemerides["ra_deg"].to_numpy(dtype=np.float64).copy()
    dec = ephemerides["dec_deg"].to_numpy(dtype=np.float64).copy()
    covered = np.isin(np.asarray(survey.tiles_for(ra, dec), dtype=np.int64), tiles)

    outside = np.flatnonzero(~covered)
    rngs = [
        rng_for(
            seed,
            "dataset.targets.resample",
            stable_int(ephemerides["object_id"].iat[i]),
            int(ephemerides["obs_index"].iat[i]),
        )
        for i in outside
    ]
    ra[outside], dec[outside] = random_covered_positions(tiles, order, frame, rngs)
    neg_rngs = [rng_for(seed, "dataset.targets.negative", j) for j in range(n_neg)]
    neg_ra, neg_dec = random_covered_positions(tiles, order, frame, neg_rngs)
    log.info(
        "targets: %d positives (%d inside the survey, %d resampled), %d negatives",
        n_pos, int(covered.sum()), outside.size, n_neg,
    )  # fmt: skip

    table = pd.DataFrame(
        {
            "target_id": np.arange(n_pos + n_neg, dtype=np.int64),
            "kind": ["positive"] * n_pos + ["negative"] * n_neg,
            "object_id": list(ephemerides["object_id"]) + [""] * n_neg,
            "population": list(ephemerides["population"]) + [""] * n_neg,
            "obs_index": np.concatenate(
                [ephemerides["obs_index"].to_numpy(np.int64), np.full(n_neg, -1, np.int64)]
            ),
            "ra_deg": np.concatenate([ra, neg_ra]),
            "dec_deg": np.concatenate([dec, neg_dec]),
            "sky_source": np.where(covered, "ephemeris", "resampled").tolist()
            + ["resampled"] * n_neg,
        }
    )
    table["tile"] = np.asarray(
        survey.tiles_for(table["ra_deg"].to_numpy(), table["dec_deg"].to_numpy()), dtype=np.int64
    )
    table["cutout_shard"] = balanced_shards(
        table["tile"].to_numpy(), table["target_id"].to_numpy(), n_shards
    )
    return table[list(TARGET_COLUMNS)]


def plan_cutout_targets(
    config: Mapping[str, Any],
    ephemeris_paths: Sequence[str | os.PathLike[str]],
    output_path: str | os.PathLike[str],
    survey_location: str,
) -> None:
    """Write the cutout plan (``results/cutouts/targets.parquet``) for the ephemerides.

    ``survey_location``: HiPS survey folder or URL (as resolved by the workflow).
    Columns: :data:`asteroid_ml.tables.TARGET_COLUMNS` (docs/cutouts.md).
    """
    from asteroid_ml.hips import open_survey

    ephemerides = read_ephemerides(ephemeris_paths, EPHEMERIS_COLUMNS)
    if ephemerides.empty:
        raise ValueError(
            f"ephemeris shards hold no observations: {', '.join(map(str, ephemeris_paths))}"
        )
    survey = open_survey(survey_location)
    table = plan_targets_table(config, ephemerides, survey)
    counts = table.groupby("cutout_shard").size()
    log.info("cutout shards: %s targets", ", ".join(str(int(c)) for c in counts))
    write_parquet(
        table,
        output_path,
        metadata={
            "stage": "cutout_targets",
            "survey_order": int(survey.order),
            "units": {"ra_deg": "deg (ICRS)", "dec_deg": "deg (ICRS)"},
        },
    )
