"""Vectorised extraction of square TAN cutouts from a HiPS survey.

For a batch of N cutouts of S x S pixels the work per chunk of cutouts is a
few whole-array operations (see :mod:`asteroid_ml.hips.geometry`): rotate the
fixed TAN pixel directions to every cutout centre and into the survey frame,
hash all of them with cdshealpix at depth ``order + log2(tile_width)``, split
the indices into (tile, pixel-in-tile), read each needed tile once, gather.
Cutouts are processed sorted by the tile of their centre so that consecutive
chunks reuse the same few decoded tiles.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from asteroid_ml.hips import kernels
from asteroid_ml.hips.geometry import (
    deinterleave,
    healpix_hash,
    icrs_to_frame_matrix,
    interleave,
    local_to_icrs_rotations,
    tan_pixel_directions,
    tile_pixel_lut,
)
from asteroid_ml.hips.survey import HipsSurvey
from asteroid_ml.hips.wcs import tan_header

log = logging.getLogger(__name__)

INTERPOLATIONS = ("nearest", "bilinear")
#: Output pixels hashed per chunk (bounds the temporary arrays to ~100 MB).
CHUNK_PIXELS = 1 << 20
#: Largest tile-index span handled with a dense lookup table instead of np.unique.
_DENSE_SPAN = 1 << 22


@dataclass
class CutoutBatch:
    """N cutouts and what is known about each.

    Attributes
    ----------
    images : float32 ``(N, size, size)``
        Pixel values, NaN where blank (blank pixel in a tile, or missing tile).
        ``images[i, 0, 0]`` is the south-west-most pixel; rows go north, columns
        go west (east to the left, standard FITS sky orientation, CDELT1 < 0).
    headers : list of str
        FITS WCS header (TAN, ICRS) of each cutout as 80-character cards.
    tiles : list of list of int
        Nested indices (at ``order``) of the tiles each cutout read from.
    missing_tiles : list of list of int
        Subset of ``tiles`` that the survey does not have (blank pixels).
    blank_fraction : float ``(N,)``
        Fraction of NaN pixels per cutout.
    order : int
        Tile order read.
    pixel_scale_deg : float
        Pixel side (deg).
    """

    images: np.ndarray
    headers: list[str]
    tiles: list[list[int]]
    missing_tiles: list[list[int]]
    blank_fraction: np.ndarray
    order: int
    pixel_scale_deg: float
    ra_deg: np.ndarray = field(repr=False)
    dec_deg: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return self.images.shape[0]


def _dense_positions(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique tile ids and the position of each element among them (a fast np.unique)."""
    lo, hi = int(tiles.min()), int(tiles.max())
    if hi - lo < _DENSE_SPAN:
        shifted = tiles.astype(np.intp)
        shifted -= lo
        present = np.zeros(hi - lo + 1, dtype=bool)
        present[shifted] = True
        unique = np.flatnonzero(present).astype(np.int64) + lo
        rank = np.cumsum(present, dtype=np.intp) - 1
        return unique, rank[shifted]
    unique, inverse = np.unique(tiles, return_inverse=True)
    return unique.astype(np.int64), inverse


class _TileStack:
    """Decoded tiles stacked as rows of a ``(capacity, W * W)`` array, with a NaN row per
    missing tile, reused across the chunks of one extraction.

    :meth:`rows` returns the row of each requested tile, loading the new ones. When
    the capacity is exhausted a fresh array is started (chunks still being gathered in
    other threads keep the old one alive through their reference).
    """

    def __init__(self, survey: HipsSurvey, order: int, capacity: int):
        self.survey = survey
        self.order = order
        self.capacity = max(int(capacity), 1)
        self.tile_width = survey.tile_width
        self.tile_depth = survey.tile_depth
        self.tile_pixels = survey.tile_width**2
        self._lock = threading.Lock()
        self._reset(self.capacity)

    def _reset(self, capacity: int) -> None:
        self.stack = np.empty((capacity, self.tile_pixels), dtype=np.float32)
        self.missing = np.zeros(capacity, dtype=bool)
        self.row_of: dict[int, int] = {}
        self.missing_tiles: set[int] = set()

    def is_missing(self, tile: int) -> bool:
        """Whether ``tile`` was requested and the survey does not have it."""
        return tile in self.missing_tiles

    def rows(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of ``tiles`` and the ``(capacity, W * W)`` stack and missing flags they index."""
        with self._lock:
            new = [int(t) for t in tiles if int(t) not in self.row_of]
            if len(self.row_of) + len(new) > len(self.missing):
                self._reset(max(self.capacity, len(tiles)))
                new = [int(t) for t in tiles]
            for index in new:
                row = len(self.row_of)
                tile = self.survey.read_tile(index, self.order)
                if tile is None:
                    self.stack[row] = np.nan
                    self.missing[row] = True
                    self.missing_tiles.add(index)
                else:
                    self.stack[row] = tile.ravel()
                self.row_of[index] = row
            rows = np.fromiter(
                (self.row_of[int(t)] for t in tiles), dtype=np.intp, count=len(tiles)
            )
            return rows, self.stack, self.missing


def _frame_lonlat(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, P) unit vectors -> lon in [0, 2 pi), lat, radians, each (n, P)."""
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    lon = np.arctan2(y, x)
    lon[lon < 0] += 2 * np.pi
    lat = np.arcsin(np.clip(z, -1.0, 1.0))
    return lon, lat


#: Spacing (output pixels) of the exactly hashed node grid of the fast path.
NODE_STEP = 8
#: Cutouts whose interpolation error estimate exceeds this (in cells) are hashed exactly.
MAX_INTERPOLATION_ERROR = 0.02


@functools.lru_cache(maxsize=16)
def _node_grid(size: int, pixel_scale_deg: float):
    """Node and mid-cell directions of the fast path, and the linear interpolation matrix.

    Returns ``(node_dirs (3, G*G), mid_dirs (3, (G-1)**2), left (size,), frac (size,))``
    where the ``G`` nodes per axis sit at ``linspace(0, size - 1, G)`` (spacing <=
    NODE_STEP pixels) and output row/column ``p`` lies between nodes ``left[p]`` and
    ``left[p] + 1`` with weight ``frac[p]`` on the latter.
    """
    nodes = int(np.ceil((size - 1) / NODE_STEP)) + 1
    positions = np.linspace(0.0, size - 1.0, nodes)
    mids = 0.5 * (positions[:-1] + positions[1:])
    scale = np.deg2rad(pixel_scale_deg)
    centre = (size - 1) / 2.0

    def directions(rows_1d: np.ndarray) -> np.ndarray:
        rows, cols = np.meshgrid(rows_1d, rows_1d, indexing="ij")
        xi = -(cols - centre) * scale
        eta = (rows - centre) * scale
        norm = 1.0 / np.sqrt(1.0 + xi * xi + eta * eta)
        return np.stack([norm, xi * norm, eta * norm]).reshape(3, -1)

    spacing = positions[1] - positions[0]
    pixel = np.arange(size, dtype=np.float64)
    left = np.minimum((pixel / spacing).astype(np.intp), nodes - 2)
    frac = pixel / spacing - left
    return directions(positions), directions(mids), left.astype(np.int64), frac


def _rotate(rotations: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``rotations (n, 3, 3)`` applied to ``directions (3, P)`` -> ``(n, 3, P)``.

    Written as explicit products and sums (not matmul/BLAS) so that the same
    pixel gets bit-identical coordinates here and in
    :func:`asteroid_ml.hips.kernels.doubtful_directions`.
    """
    r = rotations[:, :, :, None]
    return r[:, :, 0] * directions[0] + r[:, :, 1] * directions[1] + r[:, :, 2] * directions[2]


def _face_coordinates(vectors: np.ndarray, depth: int, threads: int):
    """Exact HEALPix position of ``(n, 3, P)`` unit vectors at ``depth``.

    Returns ``face`` (int64) and the continuous face coordinates ``u, v`` (float64,
    in cells of ``depth``; ``floor(u), floor(v)`` are the cell's x, y), each ``(n, P)``.
    """
    lon, lat = _frame_lonlat(vectors)
    ipix, dx, dy = healpix_hash(lon, lat, depth, offsets=True, threads=threads)
    shape = lon.shape
    face = (ipix >> np.uint64(2 * depth)).astype(np.int64)
    x, y = deinterleave(ipix & np.uint64((1 << (2 * depth)) - 1))
    return face.reshape(shape), (x + dx).reshape(shape), (y + dy).reshape(shape)


def _split_ipix(ipix: np.ndarray, depth: int):
    """Nested indices at ``depth`` -> face (int64), x, y (int64) in the face."""
    face = (ipix >> np.uint64(2 * depth)).astype(np.int64)
    x, y = deinterleave(ipix & np.uint64((1 << (2 * depth)) - 1))
    return face, x.astype(np.int64), y.astype(np.int64)


def _exact_cells(rotations, directions, depth, tile_depth, threads):
    """Tile key, x, y (``(n, P)`` each) of every pixel, hashing each one.

    ``x, y`` are the cell coordinates in the base face at ``depth`` (int64) and the
    key ``(face * side + x >> k) * side + y >> k`` identifies the tile
    (``side = 2**order`` tiles per face side, ``k = tile_depth``).
    """
    ipix = healpix_hash(*_frame_lonlat(_rotate(rotations, directions)), depth, threads=threads)
    shape = (rotations.shape[0], directions.shape[1])
    face, x, y = _split_ipix(ipix, depth)
    side_shift = depth - tile_depth
    keys = (((face << side_shift) + (x >> tile_depth)) << side_shift) + (y >> tile_depth)
    return keys.reshape(shape), x.reshape(shape), y.reshape(shape), ipix.size


#: Bound on the rounding of interpolated local face coordinates, per cell of coordinate
#: span (8 float64 roundings of 2**-53 relative each, generously doubled).
_ROUNDING_SLACK_PER_CELL = 16 * 2.0**-53


def _fast_cells(rotations, size, scale, directions, depth, tile_depth, threads):
    """Tile key, x, y of every pixel, identical to :func:`_exact_cells`, faster.

    Inside one base face the map from cutout pixel to continuous face coordinates
    is smooth, so it is hashed exactly only on a coarse node grid and linearly
    interpolated in between (compiled loop, float64, relative to a per-cutout
    origin). The interpolation error is measured at the centre of every node cell
    (where it peaks for a smooth map); pixels whose interpolated coordinate lies
    within 4x that error (+ rounding slack) of a cell boundary, and whole cutouts
    that straddle two base faces or bend too much, are hashed exactly.
    """
    node_dirs, mid_dirs, left, frac = _node_grid(size, scale)
    n = rotations.shape[0]
    g = int(left[-1]) + 2
    pixels = size * size
    face_n, u_n, v_n = _face_coordinates(_rotate(rotations, node_dirs), depth, threads)
    face_m, u_m, v_m = _face_coordinates(_rotate(rotations, mid_dirs), depth, threads)
    face0 = face_n[:, 0]
    one_face = np.all(face_n == face0[:, None], axis=1) & np.all(face_m == face0[:, None], axis=1)
    u_n = u_n.reshape(n, g, g)
    v_n = v_n.reshape(n, g, g)

    def midpoint_error(nodes, exact_mid):
        interp = 0.25 * (
            nodes[:, :-1, :-1] + nodes[:, 1:, :-1] + nodes[:, :-1, 1:] + nodes[:, 1:, 1:]
        )
        return np.abs(interp.reshape(n, -1) - exact_mid).max(axis=1)

    error = np.maximum(midpoint_error(u_n, u_m), midpoint_error(v_n, v_m))
    # Local origin: 2 cells below the smallest node coordinate, so local values are > 0
    # (float -> int truncation is then floor) and small (rounding stays ~1e-12 cell).
    x_ref = np.floor(u_n.min(axis=(1, 2))) - 2.0
    y_ref = np.floor(v_n.min(axis=(1, 2))) - 2.0
    span = np.maximum(u_n.max(axis=(1, 2)) - x_ref, v_n.max(axis=(1, 2)) - y_ref)
    smooth = one_face & (error < MAX_INTERPOLATION_ERROR) & (span < 4000)
    threshold = 0.5 - 4.0 * error - 1e-6 - _ROUNDING_SLACK_PER_CELL * (span + 1.0)
    threshold[~smooth] = -1.0  # every pixel of a non-smooth cutout is "doubtful"

    keys = np.empty((n, pixels), dtype=np.int64)
    x = np.empty((n, pixels), dtype=np.int32)
    y = np.empty((n, pixels), dtype=np.int32)
    counts = kernels.interpolate_cells(
        u_n - x_ref[:, None, None],
        v_n - y_ref[:, None, None],
        left,
        frac,
        threshold,
        x_ref.astype(np.int64),
        y_ref.astype(np.int64),
        face0,
        depth - tile_depth,
        tile_depth,
        keys,
        x,
        y,
    )
    which, pixel, vectors = kernels.doubtful_directions(rotations, directions, x, counts, smooth)
    if which.size:
        lon, lat = _frame_lonlat(vectors[None])
        ipix = healpix_hash(lon, lat, depth, threads=threads)
        kernels.store_hashed(ipix, which, pixel, depth, tile_depth, keys, x, y)
    return keys, x, y, which.size


def _tile_indices(keys: np.ndarray, order: int) -> np.ndarray:
    """Tile keys ``(face * side + tx) * side + ty`` -> nested tile indices at ``order``."""
    side = 1 << order  # tiles per face side
    face = keys // (side * side)
    tx = (keys // side) % side
    ty = keys % side
    return ((face << (2 * order)) + interleave(tx, ty).astype(np.int64)).astype(np.int64)


def _gather_compiled(stacks, order, keys, x, y, sets, counts, targets, out) -> np.ndarray:
    """Fill rows ``targets`` of ``out`` through the compiled gather; blank count per row."""
    present = sets >= 0
    unique_keys = np.unique(sets[present])
    rows, stack, _ = stacks.rows(_tile_indices(unique_keys, order))
    set_rows = np.zeros(sets.shape, dtype=np.int64)
    set_rows[present] = rows[np.searchsorted(unique_keys, sets[present])]
    return kernels.gather(
        keys, x, y, sets, counts, set_rows, stacks.tile_depth, stack, targets, out
    )


def _tile_lists(stacks, order, sets, counts):
    """Sorted nested tile indices (all, missing) per cutout from the per-cutout key sets."""
    present = sets >= 0
    tiles = np.full(sets.shape, np.iinfo(np.int64).max, dtype=np.int64)
    tiles[present] = _tile_indices(sets[present], order)
    tiles.sort(axis=1)
    used = [row[:count] for row, count in zip(tiles.tolist(), counts.tolist(), strict=True)]
    if not stacks.missing_tiles:
        return used, [[] for _ in used]
    return used, [[t for t in row if stacks.is_missing(t)] for row in used]


def _gather_numpy(stacks, order, keys, x, y):
    """Whole-array gather (any number of tiles per cutout)."""
    unique_keys, position = _dense_positions(keys.ravel())
    unique = _tile_indices(unique_keys, order)
    rows, stack, stack_missing = stacks.rows(unique)
    mask = stacks.tile_width - 1
    # FITS row = W - 1 - (x mod W) = (~x) mod W, column = y mod W.
    in_tile = (((~x) & mask) << stacks.tile_depth) | (y & mask)
    flat = (rows * stacks.tile_pixels)[position]  # start of each pixel's tile
    flat += in_tile.ravel()
    return stack.ravel()[flat], position, unique, stack_missing[rows]


def _touched_tiles(per_cutout: np.ndarray, unique: np.ndarray, missing: np.ndarray):
    """Sorted tiles (all, missing) each cutout touched, from positions in ``unique``.

    Most cutouts touch one tile (min == max of their positions); the others get an
    occupancy table from one bincount.
    """
    m = per_cutout.shape[0]
    t = len(unique)
    low = per_cutout.min(axis=1)
    several = np.flatnonzero(per_cutout.max(axis=1) != low)
    touched = np.zeros((m, t), dtype=bool)
    touched[np.arange(m), low] = True
    if several.size:
        sub = per_cutout[several]
        rows = np.repeat(np.arange(several.size), sub.shape[1])
        counts = np.bincount(rows * t + sub.ravel(), minlength=several.size * t)
        touched[several] = counts.reshape(several.size, t) > 0
    used = [sorted(unique[hit].tolist()) for hit in touched]
    missed = [sorted(unique[hit & missing].tolist()) for hit in touched]
    return used, missed


def _checked_request(
    survey: HipsSurvey,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    size: int,
    pixel_scale_deg: float | None,
    interpolation: str,
    order: int | None,
) -> tuple[int, int, float, np.ndarray, np.ndarray]:
    """The arguments of :func:`extract_cutouts`, checked: (size, order, pixel scale in deg,
    flat float64 RA and Dec in deg)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    size = int(size)
    if size < 1:
        raise ValueError(f"cutout size must be a positive number of pixels, got {size}")
    order = survey._check_order(order)
    scale = float(pixel_scale_deg) if pixel_scale_deg is not None else survey.pixel_scale_deg(order)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"pixel_scale_deg must be positive, got {pixel_scale_deg}")
    ra = np.asarray(ra_deg, dtype=np.float64).ravel()
    dec = np.asarray(dec_deg, dtype=np.float64).ravel()
    if ra.shape != dec.shape:
        raise ValueError(f"ra_deg and dec_deg differ in length: {ra.size} vs {dec.size}")
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))) or np.any(np.abs(dec) > 90):
        raise ValueError("cutout centres must be finite with Dec in [-90, 90] deg")
    return size, order, scale, ra, dec


def extract_cutouts(
    survey: HipsSurvey,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    size: int,
    pixel_scale_deg: float | None = None,
    interpolation: str = "nearest",
    *,
    order: int | None = None,
    threads: int = 0,
    with_headers: bool = True,
    exact: bool = False,
    workers: int = 1,
) -> CutoutBatch:
    """Cut ``size`` x ``size`` TAN images centred on ICRS positions out of ``survey``.

    Parameters
    ----------
    survey
        An open survey (:func:`asteroid_ml.hips.open_survey`).
    ra_deg, dec_deg
        Cutout centres, ICRS, degrees (any shape; flattened).
    size
        Cutout side in pixels.
    pixel_scale_deg
        Output pixel side in degrees; default the survey's native scale at ``order``.
    interpolation
        ``'nearest'`` (the value of the HEALPix cell holding each pixel centre:
        exact, reproduces reproject's nearest-neighbour) or ``'bilinear'``
        (bilinear in the HEALPix face coordinates; at the edge of one of the 12
        base faces the neighbour across the edge is replaced by the edge pixel).
    order
        Tile order to read (``0..survey.order``); default ``survey.order``.
    threads
        Threads for cdshealpix (0 = its default: RAYON_NUM_THREADS or all CPUs).
    with_headers
        Build the FITS header text of every cutout (a few microseconds each).
    workers
        Threads processing chunks of cutouts in parallel (1 = in the calling thread).
    exact
        Hash every output pixel with cdshealpix instead of the (identical, faster)
        node-grid interpolation with exact re-hashing near cell boundaries.

    Why one long function: the per-chunk worker (``process_chunk``) is a closure over
    the output arrays that every thread writes disjoint rows of; splitting it out
    would pass a dozen arrays around on the hot path. Its numbered steps are the
    helpers below (``_fast_cells``, ``_gather_compiled``, ``_bilinear``...).
    """
    size, order, scale, ra, dec = _checked_request(
        survey, ra_deg, dec_deg, size, pixel_scale_deg, interpolation, order
    )
    exact = exact or size < 2  # the node grid needs two nodes per axis
    n = ra.size
    pixels = size * size
    depth = order + survey.tile_depth
    k2 = np.uint64(2 * survey.tile_depth)
    sub_mask = np.uint64((1 << (2 * survey.tile_depth)) - 1)
    lut = tile_pixel_lut(survey.tile_width)
    directions = tan_pixel_directions(size, scale)
    to_frame = icrs_to_frame_matrix(survey.frame)

    images = np.empty((n, size, size), dtype=np.float32)
    tiles_used: list[list[int]] = [[] for _ in range(n)]
    missing_used: list[list[int]] = [[] for _ in range(n)]
    if n == 0:
        return CutoutBatch(images, [], [], [], np.zeros(0), order, scale, ra, dec)

    # Group by the tile of the centre: consecutive chunks then share their tiles.
    processing_order = np.argsort(survey.tiles_for(ra, dec, order), kind="stable")
    per_chunk = max(1, CHUNK_PIXELS // pixels)
    flat_images = images.reshape(n, pixels)

    stacks = _TileStack(survey, order, survey._memory_tiles)
    blank_count = np.zeros(n, dtype=np.int64)

    def record_tiles(idx, tile_sets, missing_sets) -> None:
        for target, used, missing in zip(idx, tile_sets, missing_sets, strict=True):
            tiles_used[target] = used
            missing_used[target] = missing

    def process_chunk(start: int) -> int:
        idx = processing_order[start : start + per_chunk]
        m = idx.size
        rotations = to_frame @ local_to_icrs_rotations(ra[idx], dec[idx])  # (m, 3, 3)
        if interpolation == "nearest":
            keys, x, y, n_exact = (
                _exact_cells(rotations, directions, depth, survey.tile_depth, threads)
                if exact
                else _fast_cells(
                    rotations, size, scale, directions, depth, survey.tile_depth, threads
                )
            )
            sets, counts = kernels.tiles_per_cutout(keys, kernels.MAX_TILES_PER_CUTOUT)
            if counts.max() <= kernels.MAX_TILES_PER_CUTOUT:
                blank_count[idx] = _gather_compiled(
                    stacks, order, keys, x, y, sets, counts, idx, flat_images
                )
                record_tiles(idx, *_tile_lists(stacks, order, sets, counts))
                return n_exact
            values, used_position, unique, missing = _gather_numpy(stacks, order, keys, x, y)
        else:
            lon, lat = _frame_lonlat(_rotate(rotations, directions))  # (m, P) each
            values, used_position, unique, missing = _bilinear(
                stacks, depth, lon, lat, k2, sub_mask, lut, threads
            )
            n_exact = 0
        values = values.reshape(m, pixels)
        flat_images[idx] = values
        blank_count[idx] = np.isnan(values).sum(axis=1)
        record_tiles(idx, *_touched_tiles(used_position.reshape(m, -1), unique, missing))
        if n > per_chunk:
            log.debug("extracted a chunk of %d cutouts (from %d)", m, start)
        return n_exact

    starts = range(0, n, per_chunk)
    if workers > 1 and len(starts) > 1:
        # NumPy and cdshealpix release the GIL in the heavy steps; chunks write disjoint rows.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            exact_pixels = sum(pool.map(process_chunk, starts))
    else:
        exact_pixels = sum(process_chunk(start) for start in starts)

    if interpolation == "nearest" and not exact:
        log.debug("fast path: %d of %d pixels hashed exactly", exact_pixels, n * pixels)
    blank_fraction = blank_count / pixels
    headers = (
        [tan_header(r, d, size, scale) for r, d in zip(ra, dec, strict=True)]
        if (with_headers)
        else []
    )
    return CutoutBatch(
        images=images,
        headers=headers,
        tiles=tiles_used,
        missing_tiles=missing_used,
        blank_fraction=blank_fraction,
        order=order,
        pixel_scale_deg=scale,
        ra_deg=ra,
        dec_deg=dec,
    )


def _bilinear(stacks, depth, lon, lat, k2, sub_mask, lut, threads):
    """Bilinear interpolation on the HEALPix face grid at ``depth``.

    A pixel centre falls in cell (X, Y) of its base face with offsets (dx, dy);
    its continuous face coordinates are (X + dx - 1/2, Y + dy - 1/2) in cell
    units, and the four surrounding cell centres are weighted bilinearly. Blank
    neighbours are dropped and the remaining weights renormalised.
    """
    ipix, dx, dy = healpix_hash(lon, lat, depth, offsets=True, threads=threads)
    face_shift = np.uint64(2 * depth)
    face = ipix >> face_shift
    x, y = deinterleave(ipix & np.uint64((1 << (2 * depth)) - 1))
    u = x.astype(np.float64) + dx - 0.5
    v = y.astype(np.float64) + dy - 0.5
    x0 = np.floor(u)
    y0 = np.floor(v)
    fx = u - x0
    fy = v - y0
    last = float((1 << depth) - 1)
    corners = []
    for ox, oy, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        cx = np.clip(x0 + ox, 0, last).astype(np.uint64)
        cy = np.clip(y0 + oy, 0, last).astype(np.uint64)
        corners.append(((face << face_shift) | interleave(cx, cy), weight))
    all_ids = np.concatenate([c[0] for c in corners])
    unique, position = _dense_positions(all_ids >> k2)
    rows, stack, stack_missing = stacks.rows(unique)
    stack_flat = stack.ravel()
    npix = ipix.size
    total = np.zeros(npix)
    weights = np.zeros(npix)
    for j, (cell, weight) in enumerate(corners):
        pos = position[j * npix : (j + 1) * npix]
        sample = stack_flat[rows[pos] * stacks.tile_pixels + lut[(cell & sub_mask).astype(np.intp)]]
        good = ~np.isnan(sample)
        total += np.where(good, sample * weight, 0.0)
        weights += np.where(good, weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(weights > 1e-12, total / weights, np.nan).astype(np.float32)
    # Tiles "used" are those of the nearest cell (position among the 4 corners' tiles).
    nearest = np.where(fx < 0.5, np.where(fy < 0.5, 0, 2), np.where(fy < 0.5, 1, 3))
    used = position.reshape(4, npix)[nearest, np.arange(npix)]
    return values, used, unique, stack_missing[rows]
