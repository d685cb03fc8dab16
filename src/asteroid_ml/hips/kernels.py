"""Compiled (numba) per-pixel loops of the nearest-neighbour cutout path.

The NumPy formulation of the same steps needs ~40 whole-array passes per chunk
(interpolate, floor, margin test, key, tile rank, in-tile offset, gather, blank
count), each streaming tens of MB through memory. Here each step is one loop
over the pixels of a cutout that keeps everything in registers. The kernels are
``nogil`` so that the extractor's worker threads run them in parallel, and
``cache=True`` so that the compiled code is reused across processes (numba
writes the cache next to this file, or under ``NUMBA_CACHE_DIR`` when that is
read-only).

Every kernel is pure integer/float64 arithmetic whose result is checked against
hashing every pixel with cdshealpix in the tests (``exact=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Most distinct tiles one cutout may touch in the compiled gather (a 128-px cutout at
#: native scale touches at most 4; larger/coarser cutouts fall back to NumPy).
MAX_TILES_PER_CUTOUT = 16


@njit(nogil=True, cache=True)
def interpolate_cells(
    u_nodes, v_nodes, left, frac, threshold, x_ref, y_ref, face, side_shift, tile_depth,
    keys, x_out, y_out,
):  # fmt: skip
    """Face cell ``(x, y)`` and tile key of every pixel from the node-grid coordinates.

    Parameters
    ----------
    u_nodes, v_nodes : float64 ``(n, G, G)``
        Continuous face coordinates (cells at the hashing depth) of the node grid,
        relative to ``(x_ref, y_ref)`` and > 0.
    left, frac : ``(size,)``
        For each output row/column: the node to its left and the linear weight of the
        next node (the same for rows and columns: the cutout is square).
    threshold : float64 ``(n,)``
        A pixel whose interpolated ``|frac(u) - 1/2|`` or ``|frac(v) - 1/2|`` exceeds
        it lies too close to a cell edge to trust: it is "doubtful" (negative: every
        pixel of that cutout is).
    x_ref, y_ref, face : int64 ``(n,)``
        Local origin and base face of each cutout.
    keys, x_out, y_out : ``(n, size * size)`` outputs
        Tile key ``((face << s) + (x >> k)) << s) + (y >> k)`` (int64) and cell x, y;
        doubtful pixels get ``x = -1`` and are left for :func:`doubtful_directions`.

    Returns the number of doubtful pixels of each cutout.
    """
    n = u_nodes.shape[0]
    size = left.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        limit = threshold[i]
        if limit < 0:
            counts[i] = size * size
            continue
        base = face[i] << (2 * side_shift)
        count = 0
        for r in range(size):
            lr = left[r]
            fr = frac[r]
            for c in range(size):
                lc = left[c]
                fc = frac[c]
                u = (1.0 - fr) * ((1.0 - fc) * u_nodes[i, lr, lc] + fc * u_nodes[i, lr, lc + 1])
                u += fr * ((1.0 - fc) * u_nodes[i, lr + 1, lc] + fc * u_nodes[i, lr + 1, lc + 1])
                v = (1.0 - fr) * ((1.0 - fc) * v_nodes[i, lr, lc] + fc * v_nodes[i, lr, lc + 1])
                v += fr * ((1.0 - fc) * v_nodes[i, lr + 1, lc] + fc * v_nodes[i, lr + 1, lc + 1])
                xi = np.int64(u)  # u > 0: truncation is floor
                yi = np.int64(v)
                p = r * size + c
                if abs(u - xi - 0.5) > limit or abs(v - yi - 0.5) > limit:
                    x_out[i, p] = -1
                    count += 1
                    continue
                x = xi + x_ref[i]
                y = yi + y_ref[i]
                x_out[i, p] = x
                y_out[i, p] = y
                keys[i, p] = base + ((x >> tile_depth) << side_shift) + (y >> tile_depth)
        counts[i] = count
    return counts


@njit(nogil=True, cache=True)
def doubtful_directions(rotations, directions, x, counts, smooth):
    """Survey-frame unit vectors ``(3, k)`` of the doubtful pixels and their ``(cutout,
    pixel)`` indices.

    ``smooth[i]`` False means every pixel of cutout ``i`` is doubtful (nothing was
    interpolated); otherwise doubtful pixels are those with ``x == -1``. The rotation
    is written term by term in the same order as ``extract._rotate`` so that a pixel
    gets bit-identical coordinates on both paths (no fused multiply-add: numba does
    not contract without fastmath).
    """
    total = counts.sum()
    which = np.empty(total, dtype=np.int64)
    pixel = np.empty(total, dtype=np.int64)
    vectors = np.empty((3, total), dtype=np.float64)
    k = 0
    for i in range(x.shape[0]):
        if counts[i] == 0:
            continue
        for p in range(x.shape[1]):
            if smooth[i] and x[i, p] != -1:
                continue
            which[k] = i
            pixel[k] = p
            for row in range(3):
                vectors[row, k] = (
                    rotations[i, row, 0] * directions[0, p]
                    + rotations[i, row, 1] * directions[1, p]
                    + rotations[i, row, 2] * directions[2, p]
                )
            k += 1
    return which, pixel, vectors


@njit(nogil=True, cache=True)
def _compact(value):
    """Even bits of ``value`` packed together (x from a nested index)."""
    result = 0
    bit = 0
    while value:
        result |= (value & 1) << bit
        value >>= 2
        bit += 1
    return result


@njit(nogil=True, cache=True)
def store_hashed(ipix, which, pixel, depth, tile_depth, keys, x_out, y_out):
    """Write the cells of nested indices ``ipix`` (at ``depth``) into pixels ``(which, pixel)``."""
    side_shift = depth - tile_depth
    in_face = (np.int64(1) << (2 * depth)) - 1
    for k in range(ipix.shape[0]):
        index = np.int64(ipix[k])
        face = index >> (2 * depth)
        local = index & in_face
        x = _compact(local)
        y = _compact(local >> 1)
        i = which[k]
        p = pixel[k]
        x_out[i, p] = x
        y_out[i, p] = y
        keys[i, p] = (((face << side_shift) + (x >> tile_depth)) << side_shift) + (y >> tile_depth)


@njit(nogil=True, cache=True)
def tiles_per_cutout(keys, max_tiles):
    """The distinct tile keys of each cutout (row of ``keys``), in order of appearance.

    Returns ``(sets (n, max_tiles) int64 padded with -1, counts (n,))``; a count of
    ``max_tiles + 1`` means the cutout touches more tiles than the table holds.
    """
    n, pixels = keys.shape
    sets = np.full((n, max_tiles), -1, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        count = 0
        last = -1
        for p in range(pixels):
            key = keys[i, p]
            if key == last:  # neighbouring pixels almost always share a tile
                continue
            found = False
            for j in range(count):
                if sets[i, j] == key:
                    found = True
                    break
            if not found:
                if count == max_tiles:
                    count = max_tiles + 1
                    break
                sets[i, count] = key
                count += 1
            last = key
        counts[i] = count
    return sets, counts


@njit(nogil=True, cache=True)
def gather(keys, x, y, sets, counts, set_rows, tile_depth, stack, targets, out):
    """Copy each pixel's value from its decoded tile into ``out[targets[i]]``; return the
    blank count per cutout.

    ``stack`` holds decoded tiles as rows of ``W * W`` float32 (NaN = blank or missing
    tile); ``set_rows[i, j]`` is the row of tile ``sets[i, j]``. Cell ``(x, y)`` of a
    tile sits at FITS array ``[W - 1 - (x mod W), y mod W]`` (see
    :func:`asteroid_ml.hips.geometry.tile_pixel_lut`).
    """
    n, pixels = keys.shape
    mask = (1 << tile_depth) - 1
    blanks = np.zeros(n, dtype=np.int64)
    for i in range(n):
        target = targets[i]
        last = -1
        row = 0
        blank = 0
        for p in range(pixels):
            key = keys[i, p]
            if key != last:
                for j in range(counts[i]):
                    if sets[i, j] == key:
                        row = set_rows[i, j]
                        break
                last = key
            offset = (((~x[i, p]) & mask) << tile_depth) | (y[i, p] & mask)
            value = stack[row, offset]
            out[target, p] = value
            if value != value:
                blank += 1
        blanks[i] = blank
    return blanks
