"""Decoding of HiPS FITS tiles.

Tiles are small single-HDU FITS images. They are decoded here from bytes with
:mod:`astropy.io.fits` parsing only the header; the data block is read with
NumPy directly so that the scaling rules are explicit:

* integer tiles: ``BLANK`` (an integer, or - as CDS writes it - an integer-valued
  float such as ``-32768.0``, which astropy's reader ignores) marks blank pixels;
* ``BSCALE``/``BZERO`` are applied in float64 and the result stored as float32;
* floating-point tiles use NaN for blank.

Real CDS tiles often lack the final padding to a multiple of 2880 bytes; that is
accepted. A data block shorter than ``NAXIS1 * NAXIS2 * |BITPIX| / 8`` is not.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

_BLOCK = 2880
_CARD = 80
_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


class TileError(ValueError):
    """A tile could not be decoded (truncated, not FITS, wrong shape)."""


def _header_end(raw: bytes, name: str) -> int:
    """Byte offset of the data block: the header (up to END) rounded to 2880 bytes."""
    for start in range(0, len(raw), _CARD):
        if raw[start : start + 8] == b"END     " or raw[start : start + _CARD].rstrip() == b"END":
            header_len = start + _CARD
            return -(-header_len // _BLOCK) * _BLOCK
    raise TileError(f"HiPS tile {name}: no END card in the FITS header (truncated or not FITS)")


def decode_fits_tile(raw: bytes, name: str, tile_width: int | None = None) -> np.ndarray:
    """Decode a FITS tile into a float32 ``(NAXIS2, NAXIS1)`` array, NaN where blank.

    Parameters
    ----------
    raw
        The tile file's bytes.
    name
        Tile path or URL, quoted in errors.
    tile_width
        Expected width in pixels (``hips_tile_width``); checked if given.

    The array is in FITS storage order: ``array[row, col]`` with row 0 the first
    stored row (FITS ``y = 1``).
    """
    if not raw.startswith(b"SIMPLE  ="):
        raise TileError(f"HiPS tile {name}: not a FITS file (no SIMPLE card)")
    data_start = _header_end(raw, name)
    header = fits.Header.fromstring(raw[:data_start].decode("ascii", errors="replace"))
    bitpix = int(header.get("BITPIX", 0))
    if bitpix not in _DTYPES:
        raise TileError(f"HiPS tile {name}: unsupported BITPIX {bitpix}")
    naxis = int(header.get("NAXIS", 0))
    if naxis < 2:
        raise TileError(f"HiPS tile {name}: NAXIS={naxis}, expected a 2-D image")
    width, height = int(header["NAXIS1"]), int(header["NAXIS2"])
    if tile_width is not None and (width, height) != (tile_width, tile_width):
        raise TileError(
            f"HiPS tile {name}: shape {width}x{height} does not match hips_tile_width={tile_width}"
        )
    dtype = np.dtype(_DTYPES[bitpix])
    nbytes = width * height * dtype.itemsize
    available = len(raw) - data_start
    if available < nbytes:
        raise TileError(
            f"HiPS tile {name}: truncated FITS, data block has {max(available, 0)} of "
            f"{nbytes} bytes"
        )
    stored = np.frombuffer(raw, dtype=dtype, count=width * height, offset=data_start)
    stored = stored.reshape(height, width)

    bscale = float(header.get("BSCALE", 1.0))
    bzero = float(header.get("BZERO", 0.0))
    if dtype.kind == "f":
        values = stored.astype(np.float32)
        if bscale != 1.0 or bzero != 0.0:
            values = (stored * bscale + bzero).astype(np.float32)
        return values
    values = (
        stored.astype(np.float64) * bscale + bzero
        if (bscale, bzero) != (1.0, 0.0)
        else (stored.astype(np.float32))
    )
    values = values.astype(np.float32, copy=False)
    blank = header.get("BLANK")
    if blank is not None:
        try:
            blank_value = float(blank)
        except (TypeError, ValueError):
            raise TileError(f"HiPS tile {name}: BLANK = {blank!r} is not a number") from None
        if blank_value == int(blank_value):
            values[stored == int(blank_value)] = np.nan
    return values
