"""Benchmark: 64x64 HiPS cutouts per second from warm local tiles, ours vs reproject.

    .venv/bin/python benchmarks/bench_cutouts.py [--n 100000] [--n-reference 40]

Survey: the shipped DSS2 red tiles (resources/hips/DSS2Red, order 3, 512-px int16).
Targets: uniformly random positions inside the 26 tiles. "Warm" = every tile read
and decoded once before timing (the extractor keeps decoded tiles in memory).

Reference route (same run): reproject's HiPS reader ``hips_as_dask_array`` (the
survey as one HPX array) + ``reproject_interp(order="nearest-neighbor")`` onto each
cutout's TAN WCS (reproject 0.21 has no reproject_from_hips). The reference cutouts
are also compared pixel for pixel with ours.

Ours is timed over ``--n`` cutouts in batches of ``--batch`` (as a workflow shard
would run), headers included; 1,000,000 cutouts is extrapolated linearly from that
(the work is per cutout, batches are independent, memory per batch is fixed).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SURVEY = REPO / "resources" / "hips" / "DSS2Red"


def random_targets(survey, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from cdshealpix.nested import healpix_to_lonlat

    rng = np.random.default_rng(seed)
    tiles = rng.choice(survey.available_tiles(), n).astype(np.uint64)
    # A random cell at depth order + 8 inside each tile, at a random offset in it.
    cells = (tiles << np.uint64(16)) + rng.integers(0, 1 << 16, n).astype(np.uint64)
    lon, lat = healpix_to_lonlat(cells, survey.order + 8)
    return lon.deg, lat.deg


def reproject_route(location, headers, size, order):
    from astropy.io import fits
    from astropy.wcs import WCS
    from reproject import reproject_interp
    from reproject.hips import hips_as_dask_array

    array, wcs = hips_as_dask_array(str(location), level=order)
    out = []
    for header in headers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image, _ = reproject_interp(
                (array, wcs),
                WCS(fits.Header.fromstring(header)),
                shape_out=(size, size),
                order="nearest-neighbor",
            )
        out.append(image.astype(np.float32))
    return np.stack(out)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cutouts timed for ours")
    parser.add_argument("--batch", type=int, default=10_000, help="cutouts per call")
    parser.add_argument("--n-reference", type=int, default=40, help="cutouts for reproject")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="threads for our extractor")
    args = parser.parse_args()

    from asteroid_ml.hips import extract_cutouts, open_survey
    from asteroid_ml.hips.extract import _fast_cells
    from asteroid_ml.hips.geometry import local_to_icrs_rotations, tan_pixel_directions

    print(f"cores available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()}")
    survey = open_survey(SURVEY)
    size = args.size

    # Cold tile I/O: read + decode every tile once (this also warms the memory cache).
    started = time.perf_counter()
    for tile in survey.available_tiles():
        survey.read_tile(int(tile))
    io_s = time.perf_counter() - started
    n_tiles = len(survey.available_tiles())
    print(
        f"tile I/O (cold, read + decode): {n_tiles} tiles in {io_s:.3f} s "
        f"({io_s / n_tiles * 1e3:.1f} ms/tile)"
    )

    ra, dec = random_targets(survey, args.n)
    extract_cutouts(survey, ra[:200], dec[:200], size)  # warm caches (LUTs, node grids)

    # --- ours ---------------------------------------------------------------------
    started = time.perf_counter()
    cpu_started = time.process_time()
    blank = 0.0
    for start in range(0, args.n, args.batch):
        batch = extract_cutouts(
            survey,
            ra[start : start + args.batch],
            dec[start : start + args.batch],
            size,
            workers=args.workers,
        )
        blank += float(batch.blank_fraction.sum())
    ours_s = time.perf_counter() - started
    ours_cpu = time.process_time() - cpu_started
    ours_rate = args.n / ours_s
    print(
        f"ours ({args.workers} worker threads): {args.n} cutouts {size}x{size} in "
        f"{ours_s:.2f} s wall = {ours_rate:,.0f} cutouts/s; CPU time {ours_cpu:.2f} s = "
        f"{args.n / ours_cpu:,.0f} cutouts per CPU-second (mean blank fraction "
        f"{blank / args.n:.4f})"
    )

    # Where the time goes, on one batch: pixel -> cell index vs the rest (gather, tiles, headers).
    m = min(args.batch, args.n)
    rotations = local_to_icrs_rotations(ra[:m], dec[:m])
    directions = tan_pixel_directions(size, survey.native_pixel_scale_deg)
    depth = survey.order + survey.tile_depth
    started = time.perf_counter()
    for start in range(0, m, 256):
        _fast_cells(
            rotations[start : start + 256],
            size,
            survey.native_pixel_scale_deg,
            directions,
            depth,
            survey.tile_depth,
            0,
        )
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    extract_cutouts(survey, ra[:m], dec[:m], size)
    total_s = time.perf_counter() - started
    exact_started = time.perf_counter()
    extract_cutouts(survey, ra[:m], dec[:m], size, exact=True)
    exact_s = time.perf_counter() - exact_started
    print(
        f"breakdown ({m} cutouts): index computation {index_s:.2f} s "
        f"({100 * index_s / total_s:.0f} %), gather + tiles + headers "
        f"{total_s - index_s:.2f} s; same batch hashing every pixel (exact=True): "
        f"{m / exact_s:,.0f} cutouts/s"
    )

    # --- reproject route --------------------------------------------------------------
    nref = args.n_reference
    reference_batch = extract_cutouts(survey, ra[:nref], dec[:nref], size)
    started = time.perf_counter()
    cpu_started = time.process_time()
    reference = reproject_route(SURVEY, reference_batch.headers, size, survey.order)
    ref_s = time.perf_counter() - started
    ref_cpu = time.process_time() - cpu_started
    ref_rate = nref / ref_s
    identical = np.array_equal(reference, reference_batch.images, equal_nan=True)
    print(
        f"reproject route: {nref} cutouts in {ref_s:.2f} s = {ref_rate:,.1f} cutouts/s; "
        f"pixels identical to ours: {identical}"
    )

    print(f"reproject CPU time {ref_cpu:.2f} s = {nref / ref_cpu:,.1f} cutouts per CPU-second")
    print(
        f"ratio ours / reproject: {ours_rate / ref_rate:,.0f}x wall, "
        f"{(args.n / ours_cpu) / (nref / ref_cpu):,.0f}x per CPU-second (target >= 50x)"
    )
    print(f"throughput target >= 10,000 cutouts/s: {'met' if ours_rate >= 1e4 else 'NOT met'}")
    print(f"1,000,000 cutouts extrapolated: {1e6 / ours_rate:.0f} s (target < 180 s)")
    print(
        f"peak memory (max RSS): {peak_rss_mb():,.0f} MB "
        f"(one batch of {args.batch} cutouts = {args.batch * size * size * 4 / 2**20:.0f} MB "
        f"of float32 images)"
    )


if __name__ == "__main__":
    main()
