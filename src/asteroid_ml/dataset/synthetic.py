"""Small synthetic inputs for the dataset stage (tests, benchmarks, examples).

They follow the contracts (:mod:`asteroid_ml.tables`) of the simulation, ephemeris and cutout
stages so the dataset stage can be exercised without running AMUSE:

- :func:`fake_population`: simulation rows and ephemeris rows;
- :func:`write_population_shards`: split them into ``n_shards`` files per population;
- :func:`write_cutout_shards`: extract the planned cutouts with the HiPS stage's
  rule function (:func:`asteroid_ml.hips.extract_shard`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.io import write_parquet
from asteroid_ml.seeds import rng_for


def fake_population(
    n_impactor: int,
    n_background: int,
    n_obs: int = 2,
    seed: int = 0,
    ra_range_deg: tuple[float, float] = (0.0, 360.0),
    dec_range_deg: tuple[float, float] = (-90.0, 90.0),
    v_mag_range: tuple[float, float] = (23.0, 29.0),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulation rows (one per object) and ephemeris rows (``n_obs`` per object).

    Elements are loosely NEO-like; rates are log-uniform between 0.3 and 300
    arcsec/min, position angles uniform, V uniform in ``v_mag_range`` (the simulated
    NEOs have V ~ 22-31; the dataset stage brightens them by ``depth_offset_mag``).
    """
    rows, eph = [], []
    for population, n in (("impactor", n_impactor), ("background", n_background)):
        for i in range(n):
            rng = rng_for(seed, f"synthetic.{population}", i)
            oid = f"{population[:3]}-{i:06d}"
            a = rng.uniform(0.8, 3.0)
            e = rng.uniform(0.0, 0.7)
            rows.append({
                "object_id": oid, "population": population, "epoch_jd_tdb": 2459000.5,
                "a_au": a, "e": e, "i_deg": rng.uniform(0, 30), "om_deg": rng.uniform(0, 360),
                "w_deg": rng.uniform(0, 360), "ma_deg": rng.uniform(0, 360),
                "H_mag": rng.uniform(18, 28),
            })  # fmt: skip
            ra0 = rng.uniform(*ra_range_deg)
            u = rng.uniform(
                np.sin(np.radians(dec_range_deg[0])), np.sin(np.radians(dec_range_deg[1]))
            )
            dec0 = float(np.degrees(np.arcsin(u)))
            for k in range(n_obs):
                eph.append({
                    "object_id": oid, "population": population, "obs_index": k,
                    "obs_jd_tdb": 2459000.5 + k / 24.0, "ra_deg": (ra0 + 0.01 * k) % 360.0,
                    "dec_deg": dec0, "rate_arcsec_min": 10 ** rng.uniform(-0.5, 2.5),
                    "pa_deg": rng.uniform(0, 360), "r_au": 1.2, "delta_au": 0.3,
                    "phase_deg": 40.0, "V_mag": rng.uniform(*v_mag_range),
                    "H_mag": rows[-1]["H_mag"],
                })  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(eph)


def write_population_shards(
    table: pd.DataFrame, directory: str | os.PathLike[str], n_shards: Mapping[str, int]
) -> list[str]:
    """Write ``directory/{population}/shard-{k:04d}.parquet`` (objects dealt round-robin)."""
    paths = []
    for population, n in n_shards.items():
        part = table[table["population"] == population]
        ids = sorted(part["object_id"].unique())
        shard_of = {oid: j % n for j, oid in enumerate(ids)}
        for k in range(n):
            rows = part[part["object_id"].map(shard_of) == k].reset_index(drop=True)
            path = Path(directory) / population / f"shard-{k:04d}.parquet"
            write_parquet(rows, path)
            paths.append(str(path))
    return paths


def write_cutout_shards(
    config: Mapping[str, Any],
    targets_path: str | os.PathLike[str],
    survey_location: str,
    directory: str | os.PathLike[str],
) -> tuple[list[str], list[str]]:
    """Run the HiPS stage's rule function on every cutout shard of a plan.

    Writes ``directory/shard-{k:04d}.npy`` + ``.parquet`` with
    :func:`asteroid_ml.hips.extract_shard` (what rule ``cutouts`` runs).
    """
    from asteroid_ml.hips import extract_shard

    n_shards = (
        int(pd.read_parquet(targets_path, columns=["cutout_shard"])["cutout_shard"].max()) + 1
    )
    npys, manifests = [], []
    for k in range(n_shards):
        npy = Path(directory) / f"shard-{k:04d}.npy"
        extract_shard(config, targets_path, k, npy, npy.with_suffix(".parquet"), survey_location)
        npys.append(str(npy))
        manifests.append(str(npy.with_suffix(".parquet")))
    return npys, manifests
