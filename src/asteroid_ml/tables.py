"""The tables that pass between stages: their columns, units and checked readers.

One place for each inter-stage table (``docs/`` stage pages point here):

=====================================  ==============================  =========================
file                                   written by                      columns
=====================================  ==============================  =========================
``sim/{population}/shard-K.parquet``   rule ``simulate``               :data:`SIM_COLUMNS`
``ephemerides/{pop}/shard-K.parquet``  rule ``ephemerides``            :data:`EPHEMERIS_COLUMNS`
``cutouts/targets.parquet``            rule ``cutout_targets``         :data:`TARGET_COLUMNS`
``cutouts/shard-K.parquet``            rule ``cutouts``                :data:`CUTOUT_MANIFEST_COLUMNS`
``dataset/manifest.parquet``           rule ``assemble_dataset``       :data:`DATASET_MANIFEST_COLUMNS`
``dataset/elements.parquet``           rule ``assemble_dataset``       :data:`ELEMENTS_COLUMNS`
=====================================  ==============================  =========================

Units are in the column names (``_deg``, ``_au``, ``_kms``, ``_jd_tdb``, ``_mag``,
``_arcsec_min``); the Parquet metadata of each file repeats them in words.
Every reader here names the file and the missing column when a table is not what
the next stage needs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Heliocentric ecliptic-J2000 state at the epoch (au, au/day).
SIM_STATE_COLUMNS = ["x_au", "y_au", "z_au", "vx_au_d", "vy_au_d", "vz_au_d"]
#: One row per simulated object.
SIM_COLUMNS = [
    "object_id",
    "object_index",
    "population",
    "epoch_jd_tdb",
    "a_au",
    "e",
    "i_deg",
    "om_deg",
    "w_deg",
    "ma_deg",
    *SIM_STATE_COLUMNS,
    "H_mag",
    "impact_jd_tdb",
    "impact_speed_kms",
]
SIM_UNITS = {
    "epoch_jd_tdb": "Julian date, TDB",
    "a_au": "au",
    "i_deg": "deg",
    "om_deg": "deg",
    "w_deg": "deg",
    "ma_deg": "deg",
    "x_au": "au, heliocentric ecliptic J2000",
    "vx_au_d": "au/day, heliocentric ecliptic J2000",
    "H_mag": "mag (absolute, H-G system)",
    "impact_jd_tdb": "Julian date, TDB",
    "impact_speed_kms": "km/s, relative to Earth's centre at the surface",
}
#: Osculating elements (heliocentric ecliptic J2000) that the dataset keeps per object.
ORBIT_COLUMNS = ["a_au", "e", "i_deg", "om_deg", "w_deg", "ma_deg"]

#: One row per (object, observation).
EPHEMERIS_COLUMNS = [
    "object_id",
    "population",
    "obs_index",
    "obs_jd_tdb",
    "ra_deg",
    "dec_deg",
    "rate_arcsec_min",
    "pa_deg",
    "r_au",
    "delta_au",
    "phase_deg",
    "V_mag",
    "H_mag",
]

#: One row per planned cutout.
TARGET_COLUMNS = (
    "target_id", "kind", "object_id", "population", "obs_index",
    "ra_deg", "dec_deg", "sky_source", "tile", "cutout_shard",
)  # fmt: skip

#: One row per extracted cutout, in the row order of the shard's ``.npy``.
CUTOUT_MANIFEST_COLUMNS = (
    "target_id",
    "ra_deg",
    "dec_deg",
    "order",
    "tiles",
    "missing_tiles",
    "blank_fraction",
    "wcs_header",
)

#: One row per dataset sample, sorted by (split, index_in_split).
DATASET_MANIFEST_COLUMNS = (
    "sample_id", "split", "index_in_split", "label", "kind", "object_id", "population",
    "ra_deg", "dec_deg", "mag", "snr", "rate_arcsec_min", "pa_deg", "trail_length_px",
    "trail_angle_deg", "cutout_shard", "cutout_index", "blank_fraction", "sky_source",
)  # fmt: skip
DATASET_MANIFEST_UNITS = {
    "ra_deg": "deg (ICRS), centre of the cutout",
    "dec_deg": "deg (ICRS), centre of the cutout",
    "mag": "V magnitude injected (ephemeris V_mag + depth_offset_mag; bright stars: their V)",
    "snr": "matched-filter SNR of the injected signal: sqrt(sum s_i^2 / (sky_sigma^2 + s_i/gain)); "
    "artefacts without the Poisson term; NaN for empty negatives",
    "rate_arcsec_min": "arcsec/min",
    "pa_deg": "deg, position angle of the motion from north through east",
    "trail_length_px": "pixels (rate x exposure / pixel scale; cosmic rays: track length)",
    "trail_angle_deg": "deg in [0, 180), orientation in the image from +x (column) towards +y (row)",
    "blank_fraction": "fraction of the cutout that was blank (NaN) and filled with its median",
}

#: One row per simulated object: the tabular impactor dataset.
ELEMENTS_COLUMNS = [
    "object_id", "split", "label", "population", *ORBIT_COLUMNS, "q_au", "H_mag",
]  # fmt: skip


def read_table(
    path: str | os.PathLike[str], columns: Sequence[str] | None, what: str
) -> pd.DataFrame:
    """Read ``columns`` (None: all) of a Parquet file, or a whole CSV file (``.csv``);
    clear errors naming the file and the column."""
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    if str(path).endswith(".csv"):
        try:
            table = pd.read_csv(path, low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: {what} is not a readable CSV file ({exc})") from exc
        missing = [c for c in columns or () if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: {what} lacks column(s) {', '.join(missing)}")
        return table
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow.ArrowInvalid and friends: truncated or not Parquet
        raise ValueError(
            f"{path}: {what} is not a readable Parquet file ({exc}); delete it and rerun the rule "
            "that writes it"
        ) from exc
    if columns is None:
        return pd.read_parquet(path)
    present = set(schema.names)
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(f"{path}: {what} lacks column(s) {', '.join(missing)}")
    return pd.read_parquet(path, columns=list(columns))


def read_ephemerides(
    paths: Sequence[str | os.PathLike[str]], columns: Sequence[str]
) -> pd.DataFrame:
    """All ephemeris shards, concatenated and sorted by (population, object_id, obs_index)."""
    frames = [read_table(p, columns, "ephemeris shard") for p in paths]
    if not frames:
        raise ValueError("no ephemeris shards given")
    table = pd.concat(frames, ignore_index=True)
    table["object_id"] = table["object_id"].astype(str)
    table["population"] = table["population"].astype(str)
    table["obs_index"] = table["obs_index"].astype(np.int64)
    duplicated = table.duplicated(["object_id", "obs_index"])
    if duplicated.any():
        row = table[duplicated].iloc[0]
        raise ValueError(
            f"ephemeris shards: (object_id, obs_index) = ({row.object_id}, {row.obs_index}) "
            "appears more than once"
        )
    return table.sort_values(["population", "object_id", "obs_index"], kind="stable").reset_index(
        drop=True
    )


def read_cutout_targets(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The cutout plan (``targets.parquet``), sorted by ``target_id`` (0..N-1 checked)."""
    targets = read_table(path, TARGET_COLUMNS, "cutout targets")
    ids = targets["target_id"].to_numpy()
    if not np.array_equal(np.sort(ids), np.arange(ids.size)):
        raise ValueError(f"{path}: target_id must be 0..N-1 without gaps or repeats")
    return targets.sort_values("target_id").reset_index(drop=True)
