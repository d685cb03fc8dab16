"""Dataset assembly: inject simulated asteroids and artefacts into real cutouts.

Inputs: the cutout plan (``targets.parquet``), the extracted cutout shards
(``shard-K.npy`` + ``shard-K.parquet``), the ephemerides (rate, position angle,
V magnitude of each positive) and the simulation shards (orbital elements).
Outputs, in ``output_dir`` (contract in ``docs/dataset.md`` and :mod:`asteroid_ml.tables`):

- ``{train,val,test}.npy``: float32 ``(N, S, S)``, memory-mappable;
- ``manifest.parquet``: one row per sample, sorted by (split, index_in_split);
- ``elements.parquet``: the tabular impactor-vs-background dataset;
- ``card.json``: counts, config hash, code version, SHA-256 of every file.

Reproducibility: every random number of a sample comes from
``rng_for(seed, "dataset.inject", sample_id)``, sample ids come from the
(sorted) plan, and every other number of a sample is computed from that sample
alone with exact or scalar operations. The outputs therefore depend neither on
the simulation shard count nor on ``--cores`` / ``workers``; the arrays do not
depend on the cutout shard count either (only the provenance columns
``cutout_shard``/``cutout_index`` of the manifest do).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.dataset.card import NEGATIVE_KINDS, build_card, content_config_hash
from asteroid_ml.dataset.injection import (
    InjectionSettings,
    asteroid_trails,
    inject_sample,
)
from asteroid_ml.dataset.sky import sky_statistics
from asteroid_ml.dataset.splits import SPLITS, negative_splits, object_splits, order_keys
from asteroid_ml.hips.wcs import batch_geometry
from asteroid_ml.io import atomic_output, write_json, write_parquet
from asteroid_ml.seeds import rng_for, unit_hash
from asteroid_ml.tables import (
    DATASET_MANIFEST_COLUMNS,
    DATASET_MANIFEST_UNITS,
    ELEMENTS_COLUMNS,
    ORBIT_COLUMNS,
    read_cutout_targets,
    read_ephemerides,
    read_table,
)

log = logging.getLogger(__name__)

#: Cutouts processed together (vectorised sky statistics and WCS); bounds the memory used.
CHUNK = 1024
#: Largest plausible |pixel value| of a cutout (survey data units; DSS2 tiles are int16):
#: anything beyond is a corrupted shard, caught while the block is read anyway.
MAX_PIXEL_VALUE = 1e15

#: Columns of the ephemerides and simulation shards that this stage reads.
EPHEMERIS_COLUMNS = ("object_id", "obs_index", "rate_arcsec_min", "pa_deg", "V_mag")
SIM_ELEMENT_COLUMNS = ("object_id", "population", *ORBIT_COLUMNS, "H_mag")


def negative_kinds(target_ids: np.ndarray, seed: int, mix: Mapping[str, float]) -> np.ndarray:
    """Kind of each negative from a hash of its target id and the configured mix."""
    edges = np.cumsum([float(mix[k]) for k in NEGATIVE_KINDS])
    edges[-1] = np.inf
    u = np.array([unit_hash(f"{seed}:kind:{int(t)}") for t in target_ids])
    return np.asarray(NEGATIVE_KINDS, dtype=object)[np.searchsorted(edges, u, side="right")]


def read_elements(
    paths: Sequence[str | os.PathLike[str]], seed: int, fractions: Mapping[str, float]
) -> pd.DataFrame:
    """The tabular impactor dataset: one row per simulated object, split by object hash."""
    frames = [read_table(p, SIM_ELEMENT_COLUMNS, "simulation shard") for p in paths]
    if not frames:
        raise ValueError("no simulation shards given")
    table = pd.concat(frames, ignore_index=True)
    table["object_id"] = table["object_id"].astype(str)
    table["population"] = table["population"].astype(str)
    if table["object_id"].duplicated().any():
        dup = table.loc[table["object_id"].duplicated(), "object_id"].iloc[0]
        raise ValueError(f"simulation shards: object_id {dup!r} appears more than once")
    table = table.sort_values(["population", "object_id"], kind="stable").reset_index(drop=True)
    table["split"] = object_splits(table["object_id"], seed, fractions)
    table["label"] = (table["population"] == "impactor").astype(np.int64)
    table["q_au"] = table["a_au"] * (1.0 - table["e"])
    return table[ELEMENTS_COLUMNS]


def build_samples(
    targets: pd.DataFrame, ephemerides: pd.DataFrame, seed: int, settings: Mapping[str, Any]
) -> pd.DataFrame:
    """Per-sample metadata (before injection): kind, label, split, order, ephemeris values."""
    samples = targets.rename(columns={"target_id": "sample_id"}).copy()
    positive = (samples["kind"] == "positive").to_numpy()
    eph = ephemerides.set_index(["object_id", "obs_index"])
    keys = pd.MultiIndex.from_arrays(
        [samples.loc[positive, "object_id"], samples.loc[positive, "obs_index"]]
    )
    missing = ~keys.isin(eph.index)
    if missing.any():
        oid, obs = keys[np.flatnonzero(missing)[0]]
        raise ValueError(
            f"cutout targets: positive ({oid}, obs {obs}) not found in the ephemerides"
        )
    matched = eph.loc[keys]
    for column in ("rate_arcsec_min", "pa_deg", "V_mag"):
        values = np.full(len(samples), np.nan)
        values[positive] = matched[column].to_numpy(dtype=np.float64)
        if not np.isfinite(values[positive]).all():
            bad = keys[np.flatnonzero(~np.isfinite(values[positive]))[0]]
            raise ValueError(f"ephemerides: {column} is not finite for ({bad[0]}, obs {bad[1]})")
        samples[column] = values

    kinds = np.empty(len(samples), dtype=object)
    kinds[positive] = "asteroid"
    kinds[~positive] = negative_kinds(samples.loc[~positive, "sample_id"].to_numpy(), seed,
                                      settings["negative_mix"])  # fmt: skip
    samples["kind"] = kinds
    samples["label"] = positive.astype(np.int64)
    split = np.empty(len(samples), dtype=object)
    fractions = settings["split_fractions"]
    split[positive] = object_splits(samples.loc[positive, "object_id"], seed, fractions)
    split[~positive] = negative_splits(samples.loc[~positive, "sample_id"], seed, fractions)
    samples["split"] = split
    samples["order_key"] = order_keys(samples["sample_id"], seed)
    samples["split_rank"] = samples["split"].map({s: i for i, s in enumerate(SPLITS)})
    samples = samples.sort_values(["split_rank", "order_key"], kind="stable").reset_index(drop=True)
    samples["index_in_split"] = samples.groupby("split_rank").cumcount().astype(np.int64)
    return samples.drop(columns=["order_key", "split_rank"])


def check_cutout_shards(
    targets: pd.DataFrame,
    cutout_npys: Sequence[str | os.PathLike[str]],
    cutout_manifests: Sequence[str | os.PathLike[str]],
    size: int,
) -> None:
    """Check every cutout shard before any work (files, shapes, dtype, target ids).

    Shard ``k`` is ``cutout_npys[k]`` / ``cutout_manifests[k]`` and must hold the
    targets with ``cutout_shard == k`` in ``target_id`` order, as float32 ``(n_k, S, S)``.
    """
    import pyarrow.parquet as pq

    if len(cutout_npys) != len(cutout_manifests):
        raise ValueError(
            f"{len(cutout_npys)} cutout arrays but {len(cutout_manifests)} cutout manifests"
        )
    n_shards = int(targets["cutout_shard"].max()) + 1 if len(targets) else 0
    if len(cutout_npys) < n_shards:
        raise FileNotFoundError(
            f"cutout targets use {n_shards} cutout shards but only {len(cutout_npys)} were given"
        )
    for k, (npy, manifest_path) in enumerate(zip(cutout_npys, cutout_manifests, strict=True)):
        if not os.path.exists(npy):
            raise FileNotFoundError(f"cutout shard {k} missing: {npy}")
        try:
            array = np.load(npy, mmap_mode="r")
        except ValueError as exc:
            raise ValueError(f"{npy}: not a readable .npy array ({exc})") from exc
        expected_ids = targets.loc[targets["cutout_shard"] == k, "target_id"].to_numpy()
        expected_shape = (expected_ids.size, size, size)
        if array.shape != expected_shape:
            raise ValueError(
                f"{npy}: cutout shard {k} has shape {array.shape}, expected {expected_shape} "
                f"({expected_ids.size} targets of {size}x{size} pixels)"
            )
        if array.dtype != np.float32:
            raise ValueError(f"{npy}: cutout shard {k} has dtype {array.dtype}, expected float32")
        manifest = read_table(manifest_path, ("target_id",), f"cutout shard {k} manifest")
        if "wcs_header" not in pq.read_schema(manifest_path).names:
            raise ValueError(f"{manifest_path}: cutout shard {k} manifest lacks column wcs_header")
        if not np.array_equal(manifest["target_id"].to_numpy(), expected_ids):
            raise ValueError(
                f"{manifest_path}: target_id column does not list the targets of cutout shard {k} "
                "in target_id order (stale cutouts for another plan?)"
            )


NUMBER_FIELDS = ("mag", "snr", "trail_length_px", "trail_angle_deg", "blank_fraction")


@dataclass(frozen=True)
class _Block:
    """Up to :data:`CHUNK` consecutive cutouts of one shard, with what their injection needs."""

    npy: str
    lo: int  # first row in the cutout shard
    ids: np.ndarray  # sample ids (= target ids) of the rows
    headers: np.ndarray  # their FITS WCS header text
    kinds: np.ndarray
    splits: np.ndarray
    index: np.ndarray  # row in the split array
    ra: np.ndarray
    dec: np.ndarray
    vmag: np.ndarray
    rate: np.ndarray
    pa: np.ndarray
    seed: int
    physics: InjectionSettings
    outputs: dict[str, str]  # split -> (temporary) .npy path, already sized


def _inject_block(block: _Block) -> dict[str, np.ndarray]:
    """Inject one block and write its images into the split arrays (any process).

    Every number of a sample is computed from that sample alone (exact or scalar
    operations, its own random stream), so how samples are grouped into shards,
    blocks or worker processes cannot change a bit of the output.
    """
    cutouts = np.load(block.npy, mmap_mode="r")[block.lo : block.lo + block.ids.size]
    with np.errstate(invalid="ignore"):
        implausible = np.abs(cutouts) > MAX_PIXEL_VALUE
    if implausible.any():
        row = block.lo + int(np.flatnonzero(implausible.any(axis=(1, 2)))[0])
        raise ValueError(
            f"{block.npy}: cutout row {row} holds pixel values beyond {MAX_PIXEL_VALUE:g} "
            "(a corrupted shard?); delete the file and rerun rule cutouts"
        )
    filled, blank_fraction, sigma = sky_statistics(cutouts)
    geometries = batch_geometry(block.headers, block.ra, block.dec)
    local = np.arange(block.ids.size)
    trails = asteroid_trails(local, geometries, block.kinds, block.rate, block.pa, block.physics)
    arrays = {s: np.load(block.outputs[s], mmap_mode="r+") for s in set(block.splits.tolist())}
    numbers = {name: np.full(block.ids.size, np.nan) for name in NUMBER_FIELDS}
    for j, t in enumerate(block.ids.tolist()):
        kind = block.kinds[j]
        rng = None if kind == "empty" else rng_for(block.seed, "dataset.inject", t)
        result = inject_sample(
            None, geometries[j], kind, block.physics, rng,
            v_mag=block.vmag[j], rate_arcsec_min=block.rate[j], pa_deg=block.pa[j],
            sky=(filled[j], float(blank_fraction[j]), float(sigma[j])), trail=trails.get(j),
        )  # fmt: skip
        arrays[block.splits[j]][block.index[j]] = result.image
        for name in NUMBER_FIELDS:
            numbers[name][j] = getattr(result, name)
    # No msync (flush) here: the pages are shared through the page cache with every
    # other process and with the final rename; forcing them to disk per block is slow.
    arrays.clear()
    return numbers


# --- the stage --------------------------------------------------------------------------


def assemble_dataset(
    config: Mapping[str, Any],
    targets_path: str | os.PathLike[str],
    cutout_npys: Sequence[str | os.PathLike[str]],
    cutout_manifests: Sequence[str | os.PathLike[str]],
    ephemeris_paths: Sequence[str | os.PathLike[str]],
    sim_paths: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    workers: int = 1,
) -> dict[str, Any]:
    """Write ``{train,val,test}.npy``, ``manifest.parquet``, ``elements.parquet``, ``card.json``.

    Plan the samples (:func:`plan_samples`), inject them block by block into the
    split arrays (:func:`inject_all`), write the tables and the card. ``workers``
    processes inject blocks of cutouts in parallel (the rule passes its ``threads``);
    the outputs are byte-identical for any number of workers.

    Returns the card (also written to ``card.json``), including the measured
    injection throughput under ``timing`` (not written: it would break the
    byte-identity of the card between runs).
    """
    import scipy.special  # noqa: F401  (imported here so that the timings below exclude it)

    from asteroid_ml import __version__

    start = time.perf_counter()
    size = int(config["survey"]["cutout_size"])
    out = Path(output_dir)
    targets, samples, elements = plan_samples(
        config, targets_path, cutout_npys, cutout_manifests, ephemeris_paths, sim_paths
    )
    t0 = time.perf_counter()
    numbers = inject_all(config, samples, cutout_npys, cutout_manifests, out, workers)
    t_inject = time.perf_counter() - t0

    sample_ids = samples["sample_id"].to_numpy(np.int64)
    for name, values in numbers.items():
        samples[name] = values[sample_ids]
    manifest_table = samples[list(DATASET_MANIFEST_COLUMNS)].reset_index(drop=True)
    content_hash = content_config_hash(config)
    metadata = {
        "stage": "assemble_dataset",
        "config_hash": content_hash,
        "units": DATASET_MANIFEST_UNITS,
    }
    write_parquet(manifest_table, out / "manifest.parquet", metadata=metadata)
    write_parquet(
        elements, out / "elements.parquet",
        metadata={"stage": "assemble_dataset", "config_hash": content_hash,
                  "label": "1 = known impactor, 0 = background near-Earth asteroid"},
    )  # fmt: skip

    card = build_card(manifest_table, elements, out, content_hash, __version__, config, size)
    write_json(card, out / "card.json")
    elapsed = time.perf_counter() - start
    rate = len(targets) / t_inject if t_inject > 0 else math.inf
    split_sizes = {s: int((samples["split"] == s).sum()) for s in SPLITS}
    log.info(
        "dataset: %d samples (%s) in %.1f s; injection %.0f samples/s",
        len(manifest_table), ", ".join(f"{s} {split_sizes[s]}" for s in SPLITS), elapsed, rate,
    )  # fmt: skip
    return {**card, "timing": {"total_s": elapsed, "inject_s": t_inject, "samples_per_s": rate}}


def plan_samples(
    config: Mapping[str, Any],
    targets_path: str | os.PathLike[str],
    cutout_npys: Sequence[str | os.PathLike[str]],
    cutout_manifests: Sequence[str | os.PathLike[str]],
    ephemeris_paths: Sequence[str | os.PathLike[str]],
    sim_paths: Sequence[str | os.PathLike[str]],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read and check every input; return the targets, the samples (kind, label, split,
    row in the split array and in the cutout shard) and the elements table."""
    seed = int(config["seed"])
    settings = config["dataset"]
    targets = read_cutout_targets(targets_path)
    ephemerides = read_ephemerides(ephemeris_paths, ("population", *EPHEMERIS_COLUMNS))
    elements = read_elements(sim_paths, seed, settings["split_fractions"])
    samples = build_samples(targets, ephemerides, seed, settings)
    check_cutout_shards(
        targets, cutout_npys, cutout_manifests, int(config["survey"]["cutout_size"])
    )
    # Where each target sits in its cutout shard.
    samples["cutout_shard"] = samples["cutout_shard"].astype(np.int64)
    cutout_index = np.empty(len(targets), dtype=np.int64)
    for k in range(len(cutout_npys)):
        ids = targets.loc[targets["cutout_shard"] == k, "target_id"].to_numpy()
        cutout_index[ids] = np.arange(ids.size)
    samples["cutout_index"] = cutout_index[samples["sample_id"].to_numpy()]
    return targets, samples, elements


def inject_all(
    config: Mapping[str, Any],
    samples: pd.DataFrame,
    cutout_npys: Sequence[str | os.PathLike[str]],
    cutout_manifests: Sequence[str | os.PathLike[str]],
    out: Path,
    workers: int,
) -> dict[str, np.ndarray]:
    """Inject every sample into ``out/{split}.npy`` (renamed into place when all are done);
    return the per-sample numbers (:data:`NUMBER_FIELDS`) indexed by sample id."""
    seed = int(config["seed"])
    physics = InjectionSettings.from_config(config)
    size = int(config["survey"]["cutout_size"])
    # Column arrays indexed by sample id (= target id, 0..N-1): no pandas in the hot loop.
    by_id = samples.sort_values("sample_id")
    columns = {
        "kinds": by_id["kind"].to_numpy(dtype=object),
        "splits": by_id["split"].to_numpy(dtype=object),
        "index": by_id["index_in_split"].to_numpy(dtype=np.int64),
        "ra": by_id["ra_deg"].to_numpy(np.float64),
        "dec": by_id["dec_deg"].to_numpy(np.float64),
        "vmag": by_id["V_mag"].to_numpy(np.float64),
        "rate": by_id["rate_arcsec_min"].to_numpy(np.float64),
        "pa": by_id["pa_deg"].to_numpy(np.float64),
    }
    # Per-sample numbers, indexed by sample id (memory: a few floats per sample).
    numbers = {name: np.full(len(samples), np.nan) for name in NUMBER_FIELDS}
    with contextlib.ExitStack() as stack:
        outputs = {}
        for split in SPLITS:
            outputs[split] = str(stack.enter_context(atomic_output(out / f"{split}.npy")))
            shape = (int((samples["split"] == split).sum()), size, size)
            np.lib.format.open_memmap(outputs[split], mode="w+", dtype=np.float32, shape=shape)
        pool = None
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            from asteroid_ml.workflow_support import ignore_ctrl_c

            pool = stack.enter_context(
                ProcessPoolExecutor(max_workers=workers, initializer=ignore_ctrl_c)
            )
        n_done = 0
        # One shard at a time (its WCS headers in memory), its blocks in parallel.
        for k, (npy, manifest_path) in enumerate(zip(cutout_npys, cutout_manifests, strict=True)):
            manifest = read_table(manifest_path, ("target_id", "wcs_header"), f"cutout shard {k}")
            ids = manifest["target_id"].to_numpy(np.int64)
            headers = manifest["wcs_header"].to_numpy(dtype=object)
            blocks = [
                _Block(
                    npy=str(npy), lo=lo, ids=ids[lo : lo + CHUNK],
                    headers=headers[lo : lo + CHUNK], seed=seed, physics=physics, outputs=outputs,
                    **{key: values[ids[lo : lo + CHUNK]] for key, values in columns.items()},
                )
                for lo in range(0, ids.size, CHUNK)
            ]  # fmt: skip
            parallel = pool is not None and len(blocks) > 1
            done = pool.map(_inject_block, blocks) if parallel else map(_inject_block, blocks)
            for block, block_numbers in zip(blocks, done, strict=True):
                for name in NUMBER_FIELDS:
                    numbers[name][block.ids] = block_numbers[name]
            n_done += ids.size
            log.info("cutout shard %d: %d samples injected (%d/%d)", k, ids.size, n_done,
                     len(samples))  # fmt: skip
    return numbers
