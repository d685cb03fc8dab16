"""Opening a HiPS survey and reading its tiles."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from asteroid_ml.hips.geometry import (
    healpix_hash,
    healpix_pixel_scale_deg,
    icrs_to_frame_matrix,
    radec_to_vectors,
    vectors_to_lonlat,
)
from asteroid_ml.hips.properties import HipsPropertiesError, parse_properties, validate_properties
from asteroid_ml.hips.sources import (
    CachedSource,
    HttpSource,
    LocalSource,
    S3Source,
    TileCache,
    TileSource,
    default_cache_dir,
)
from asteroid_ml.hips.tiles import TileError, decode_fits_tile

log = logging.getLogger(__name__)

_NPIX_RE = re.compile(r"Npix(\d+)\.fits$")


def tile_path(order: int, index: int, extension: str = "fits") -> str:
    """Relative path of a tile: ``Norder{o}/Dir{10000 * (i // 10000)}/Npix{i}.{ext}``."""
    return f"Norder{order}/Dir{10000 * (index // 10000)}/Npix{index}.{extension}"


class HipsSurvey:
    """A HiPS image survey (IVOA HiPS 1.0) with FITS tiles.

    Attributes
    ----------
    order : int
        ``hips_order``, the deepest tile order.
    frame : str
        ``'equatorial'``, ``'galactic'`` or ``'ecliptic'``.
    tile_width : int
        Tile side in pixels (a power of two).
    properties : dict[str, str]
        The raw ``properties`` file.
    native_pixel_scale_deg : float
        Pixel side at ``order``: that of a HEALPix cell at depth ``order + log2(tile_width)``.
    """

    def __init__(
        self,
        source: TileSource,
        properties: dict[str, str],
        *,
        properties_source: str,
        memory_tiles: int = 64,
    ):
        meta = validate_properties(properties, properties_source)
        self.source = source
        self.location = source.location
        self.properties = properties
        self.order = meta.order
        self.frame = meta.frame
        self.tile_width = meta.tile_width
        self.tile_formats = meta.tile_formats
        self.tile_depth = self.tile_width.bit_length() - 1  # log2(tile_width)
        self.native_pixel_scale_deg = healpix_pixel_scale_deg(self.order + self.tile_depth)
        self._memory_tiles = max(int(memory_tiles), 1)
        self._decoded: OrderedDict[tuple[int, int], np.ndarray | None] = OrderedDict()
        self._lock = threading.Lock()
        self.tiles_read = 0  # tiles fetched from the source (not from memory), for logs/tests

    def __repr__(self) -> str:
        return (
            f"HipsSurvey({self.location!r}, order={self.order}, frame={self.frame!r}, "
            f"tile_width={self.tile_width})"
        )

    def pixel_scale_deg(self, order: int | None = None) -> float:
        """Native pixel side in degrees when reading tiles of ``order`` (default: ``self.order``)."""
        order = self.order if order is None else order
        return healpix_pixel_scale_deg(order + self.tile_depth)

    # --- positions -> tiles ---------------------------------------------------
    def radec_to_frame_lonlat(
        self, ra_deg: np.ndarray, dec_deg: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """ICRS positions (deg) -> survey-frame longitude, latitude in radians."""
        vectors = radec_to_vectors(ra_deg, dec_deg) @ icrs_to_frame_matrix(self.frame).T
        return vectors_to_lonlat(vectors)

    def tiles_for(
        self, ra_deg: np.ndarray, dec_deg: np.ndarray, order: int | None = None
    ) -> np.ndarray:
        """Nested index (int64) at ``order`` of the tile holding each ICRS position (deg)."""
        order = self._check_order(order)
        ra = np.atleast_1d(np.asarray(ra_deg, dtype=np.float64))
        dec = np.atleast_1d(np.asarray(dec_deg, dtype=np.float64))
        if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
            raise ValueError("tiles_for: RA/Dec must be finite")
        if np.any(np.abs(dec) > 90):
            raise ValueError("tiles_for: Dec must be within [-90, 90] deg")
        lon, lat = self.radec_to_frame_lonlat(ra, dec)
        return healpix_hash(lon, lat, order).astype(np.int64).reshape(np.shape(ra))

    def _check_order(self, order: int | None) -> int:
        if order is None:
            return self.order
        if not 0 <= int(order) <= self.order:
            raise ValueError(f"order {order} outside 0..hips_order={self.order} of {self.location}")
        return int(order)

    # --- tiles -----------------------------------------------------------------
    def available_tiles(self, order: int | None = None) -> np.ndarray:
        """Sorted nested indices (int64) of the tiles at ``order`` that exist.

        Local folders and S3 are listed; over HTTP the server's directory index
        is used, or the survey's ``Moc.fits`` when there is none.
        """
        order = self._check_order(order)
        files = self.source.list_files(f"Norder{order}")
        if files is None:
            indices = self._tiles_from_moc(order)
        else:
            indices = [int(m.group(1)) for f in files if (m := _NPIX_RE.search(f))]
        return np.unique(np.asarray(indices, dtype=np.int64))

    def _tiles_from_moc(self, order: int) -> np.ndarray:
        from astropy.io import fits

        raw = self.source.fetch("Moc.fits")
        if raw is None:
            raise OSError(
                f"cannot list tiles of {self.location}: no directory index and no Moc.fits"
            )
        import io

        with fits.open(io.BytesIO(raw)) as hdul:
            uniq = np.asarray(hdul[1].data.field(0), dtype=np.int64)
        moc_order = (np.floor(np.log2(uniq / 4)) // 2).astype(np.int64)
        ipix = uniq - 4 * 4**moc_order
        tiles = []
        for o, i in zip(moc_order, ipix, strict=True):
            if o >= order:
                tiles.append(i >> (2 * (o - order)))
            else:
                span = 4 ** (order - o)
                tiles.extend(range(i * span, (i + 1) * span))
        return np.asarray(tiles, dtype=np.int64)

    def read_tile(self, index: int, order: int | None = None) -> np.ndarray | None:
        """Tile ``index`` at ``order`` as float32 ``(W, W)`` in FITS storage order, NaN where blank.

        Returns None when the survey has no such tile. Decoded tiles are kept in
        a small in-memory LRU; remote tiles also go through the disk cache, and
        only tiles that decode cleanly are written to it.
        """
        order = self._check_order(order)
        key = (order, int(index))
        with self._lock:
            if key in self._decoded:
                self._decoded.move_to_end(key)
                return self._decoded[key]
        relative = tile_path(order, int(index))
        name = self.source.describe(relative)
        if isinstance(self.source, CachedSource):
            raw, from_cache = self.source.fetch_with_origin(relative)
            if from_cache:
                try:
                    tile = decode_fits_tile(raw, name, self.tile_width)
                except TileError:  # a damaged cached copy: drop it and fetch again
                    log.warning("cached copy of %s unreadable, fetching it again", name)
                    self.source.forget(relative)
                    raw, from_cache = self.source.source.fetch(relative), False
            if not from_cache:
                tile = None if raw is None else decode_fits_tile(raw, name, self.tile_width)
                if raw is not None:  # only tiles that decoded cleanly reach the cache
                    self.source.store(relative, raw)
        else:
            raw = self.source.fetch(relative)
            tile = None if raw is None else decode_fits_tile(raw, name, self.tile_width)
        if raw is None:
            log.debug("missing tile %s", name)
        self.tiles_read += 1
        with self._lock:
            self._decoded[key] = tile
            while len(self._decoded) > self._memory_tiles:
                self._decoded.popitem(last=False)
        return tile


def _read_properties(source: TileSource) -> tuple[dict[str, str], str]:
    name = source.describe("properties")
    raw = source.fetch("properties")
    if raw is None:
        raise FileNotFoundError(f"HiPS properties file not found: {name}")
    return parse_properties(raw.decode("utf-8", errors="replace")), name


def open_survey(
    location: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    cache_max_mb: float = 2048.0,
    timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 0.5,
    s3_endpoint_url: str | None = None,
    memory_tiles: int = 64,
) -> HipsSurvey:
    """Open a HiPS survey from a local folder, an ``http(s)://`` URL or an ``s3://`` URL.

    Parameters
    ----------
    location
        Folder holding ``properties`` and ``Norder*/``, or its URL.
    cache_dir
        Disk cache for remote tiles (default ``$ASTEROID_ML_CACHE/hips`` or
        ``~/.cache/asteroid-ml/hips``); unused for local folders.
    cache_max_mb
        Bound on the cache folder size in MiB (least recently used tiles go first).
    timeout_s, retries, backoff_s
        Per-request timeout (s), retries on 5xx/connection errors, backoff base (s).
    s3_endpoint_url
        S3 endpoint; default ``AWS_ENDPOINT_URL`` or ``SNAKEMAKE_STORAGE_S3_ENDPOINT_URL``.
    memory_tiles
        Decoded tiles kept in memory (about 1 MiB each for 512-px tiles).

    Raises
    ------
    FileNotFoundError
        No folder or no ``properties`` file.
    HipsPropertiesError
        ``properties`` lacks ``hips_order`` or has an invalid value (names the key).
    """
    text = str(location)
    source: TileSource
    if text.startswith(("http://", "https://", "s3://")):
        remote: TileSource
        if text.startswith("s3://"):
            remote = S3Source(
                text, endpoint_url=s3_endpoint_url, timeout_s=timeout_s, retries=retries
            )
        else:
            remote = HttpSource(text, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
        cache = TileCache(
            Path(cache_dir) if cache_dir is not None else default_cache_dir(),
            remote.location,
            int(cache_max_mb * 2**20),
        )
        source = CachedSource(remote, cache)
    elif "://" in text:
        raise ValueError(
            f"unsupported HiPS location scheme: {text!r} (use a path, http(s):// or s3://)"
        )
    else:
        source = LocalSource(text)
    properties, name = _read_properties(source)
    return HipsSurvey(source, properties, properties_source=name, memory_tiles=memory_tiles)


__all__ = [
    "HipsPropertiesError",
    "HipsSurvey",
    "TileError",
    "open_survey",
    "tile_path",
]
