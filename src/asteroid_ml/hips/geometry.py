"""Sky geometry for HiPS extraction: frames, TAN pixel directions, HEALPix indices.

Everything is done on unit vectors with NumPy so that N cutouts of S x S pixels
cost a handful of array operations:

1. the TAN (gnomonic) directions of the S x S output pixels are the same for
   every cutout in a local frame (x towards the cutout centre, y east, z north);
2. one 3x3 rotation per cutout (composed with the fixed ICRS -> survey-frame
   rotation) takes them to the survey frame;
3. cdshealpix hashes all of them at depth ``order + log2(tile_width)``;
4. the low ``2 log2(tile_width)`` bits of each index give the pixel inside the
   tile (see :func:`tile_pixel_lut`), the high bits the tile.
"""

from __future__ import annotations

import functools

import numpy as np

#: The HiPS frames this reader understands and the astropy frame each one means.
ASTROPY_FRAMES = {
    "equatorial": "icrs",
    "galactic": "galactic",
    "ecliptic": "barycentricmeanecliptic",
}


@functools.cache
def icrs_to_frame_matrix(frame: str) -> np.ndarray:
    """3x3 rotation taking ICRS unit vectors to the HiPS ``frame`` (``v_frame = M @ v_icrs``).

    Computed once with astropy by transforming the three basis vectors; the
    ecliptic is astropy's barycentric mean ecliptic of J2000 (a fixed rotation).
    """
    if frame == "equatorial":
        return np.eye(3)
    if frame not in ASTROPY_FRAMES:
        raise ValueError(f"unknown HiPS frame {frame!r} (expected one of {sorted(ASTROPY_FRAMES)})")
    from astropy.coordinates import ICRS, CartesianRepresentation, SkyCoord

    basis = CartesianRepresentation(np.eye(3))  # columns e_x, e_y, e_z
    coords = SkyCoord(ICRS().realize_frame(basis)).transform_to(ASTROPY_FRAMES[frame])
    cart = coords.cartesian
    matrix = np.vstack([cart.x.value, cart.y.value, cart.z.value])  # column k = image of e_k
    if not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-12):
        raise RuntimeError(f"ICRS -> {frame} is not a pure rotation")
    return matrix


def radec_to_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Unit vectors ``(N, 3)`` for positions in degrees."""
    ra = np.deg2rad(np.asarray(ra_deg, dtype=np.float64))
    dec = np.deg2rad(np.asarray(dec_deg, dtype=np.float64))
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def vectors_to_lonlat(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in [0, 2 pi) and latitude in [-pi/2, pi/2], radians, from ``(..., 3)`` vectors."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    lon = np.arctan2(y, x)
    lon[lon < 0] += 2 * np.pi
    lat = np.arctan2(z, np.hypot(x, y))
    return lon, lat


def local_to_icrs_rotations(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Rotations ``(N, 3, 3)`` whose columns are the centre, east and north unit vectors."""
    ra = np.deg2rad(np.asarray(ra_deg, dtype=np.float64))
    dec = np.deg2rad(np.asarray(dec_deg, dtype=np.float64))
    sa, ca, sd, cd = np.sin(ra), np.cos(ra), np.sin(dec), np.cos(dec)
    zeros = np.zeros_like(ra)
    centre = np.stack([cd * ca, cd * sa, sd], axis=-1)
    east = np.stack([-sa, ca, zeros], axis=-1)
    north = np.stack([-sd * ca, -sd * sa, cd], axis=-1)
    return np.stack([centre, east, north], axis=-1)


@functools.lru_cache(maxsize=16)
def tan_pixel_directions(size: int, pixel_scale_deg: float) -> np.ndarray:
    """Unit vectors ``(3, size*size)`` of the TAN cutout pixels in the local frame.

    Pixel ``(row, col)`` (0-based, flattened row-major) has standard coordinates
    ``xi = -(col - c) * scale`` (east positive, so east is to the left: CDELT1 < 0)
    and ``eta = (row - c) * scale`` with ``c = (size - 1) / 2``, i.e. CRPIX = (size + 1) / 2
    in FITS 1-based pixels. The gnomonic direction is ``(1, xi, eta)`` normalised.
    """
    scale = np.deg2rad(pixel_scale_deg)
    centre = (size - 1) / 2.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    xi = -(cols - centre) * scale
    eta = (rows - centre) * scale
    norm = 1.0 / np.sqrt(1.0 + xi * xi + eta * eta)
    directions = np.stack([norm, xi * norm, eta * norm]).reshape(3, size * size)
    directions.setflags(write=False)
    return directions


def healpix_hash(
    lon_rad: np.ndarray, lat_rad: np.ndarray, depth: int, offsets: bool = False, threads: int = 0
):
    """Nested HEALPix indices (uint64) at ``depth`` for radian coordinates.

    Calls cdshealpix's compiled routine directly on float64 radians (the public
    wrapper insists on astropy ``Longitude``/``Latitude`` objects, an extra copy per
    call). With ``offsets=True`` also returns ``dx, dy`` in [0, 1): the position
    inside the cell along its south->east and south->west edges.
    Non-finite inputs must be filtered by the caller (cdshealpix aborts on them).
    """
    from cdshealpix import cdshealpix as _rust

    lon = np.ascontiguousarray(lon_rad, dtype=np.float64).ravel()
    lat = np.ascontiguousarray(lat_rad, dtype=np.float64).ravel()
    n = lon.size
    ipix = np.empty(n, dtype=np.uint64)
    dx = np.empty(n, dtype=np.float64)
    dy = np.empty(n, dtype=np.float64)
    depths = np.broadcast_to(np.uint8(depth), (n,))
    _rust.lonlat_to_healpix(depths, lon, lat, ipix, dx, dy, np.uint16(threads))
    if offsets:
        return ipix, dx, dy
    return ipix


def _spread_bits(values: np.ndarray) -> np.ndarray:
    """Insert a zero bit between the bits of ``values`` (uint64, < 2**32)."""
    v = values.astype(np.uint64)
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)
    return v


def _compact_bits(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_spread_bits`: keep the even bits of ``values``."""
    v = values.astype(np.uint64) & np.uint64(0x5555555555555555)
    v = (v | (v >> np.uint64(1))) & np.uint64(0x3333333333333333)
    v = (v | (v >> np.uint64(2))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)
    return v


def deinterleave(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a nested in-cell index into ``(x, y)``: x from the even bits, y from the odd bits.

    In HEALPix nested numbering x runs along the cell's south->east edge and y
    along its south->west edge.
    """
    index = np.asarray(index, dtype=np.uint64)
    return _compact_bits(index), _compact_bits(index >> np.uint64(1))


def interleave(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inverse of :func:`deinterleave`."""
    return _spread_bits(x) | (_spread_bits(y) << np.uint64(1))


@functools.lru_cache(maxsize=8)
def tile_pixel_lut(tile_width: int) -> np.ndarray:
    """Flat FITS-array offset (``row * W + col``) of each nested sub-index of a tile.

    The HiPS standard (IVOA HiPS 1.0, sec. 4.2) fills a tile of width ``W = 2**k``
    with the ``4**k`` cells of depth ``order + k`` inside the tile, in nested
    order. With ``(x, y) = deinterleave(sub)`` (x along the tile's south->east edge,
    y along south->west) the cell lands at FITS array ``[row, col] = [W - 1 - x, y]``:
    the first stored row (FITS y = 1) holds the east corner side ``x = W - 1``, not
    ``x = 0``. This was derived from the tile WCS that reproject writes and is
    checked pixel for pixel against reproject on real CDS tiles in the tests.
    """
    k = int(tile_width).bit_length() - 1
    sub = np.arange(4**k, dtype=np.uint64)
    x, y = deinterleave(sub)
    lut = (tile_width - 1 - x.astype(np.int64)) * tile_width + y.astype(np.int64)
    lut = lut.astype(np.int32)
    lut.setflags(write=False)
    return lut


def healpix_pixel_scale_deg(depth: int) -> float:
    """Mean side of a HEALPix cell at ``depth``: sqrt(4 pi / (12 * 4**depth)) rad, in degrees."""
    return float(np.rad2deg(np.sqrt(4 * np.pi / (12 * 4.0**depth))))
