"""Remote HiPS: a real HTTP server on 127.0.0.1 and a moto S3 server, with faults.

Every remote cutout must equal the cutout from the local folder, and the disk cache
must only ever hold complete, valid tiles.
"""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from cdshealpix.nested import healpix_to_lonlat

from asteroid_ml.hips import TileError, extract_cutouts, open_survey, tile_path
from asteroid_ml.hips.properties import HipsPropertiesError

REPO = Path(__file__).resolve().parents[1]
DSS2 = REPO / "resources" / "hips" / "DSS2Red"
#: Four sibling tiles (children of order-2 cell 112) and a cutout on their common corner.
CORNER_TILES = [448, 449, 450, 451]


def corner_targets() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = healpix_to_lonlat(
        np.array([112, 112, 112], dtype=np.uint64), 2, dx=np.array([0.5, 0.25, 0.75])[0], dy=0.5
    )
    lon2, lat2 = healpix_to_lonlat(np.array([448, 451], dtype=np.uint64), 3)
    return np.r_[lon.deg[:1], lon2.deg], np.r_[lat.deg[:1], lat2.deg]


@pytest.fixture(scope="module")
def local_batch():
    ra, dec = corner_targets()
    return extract_cutouts(open_survey(DSS2), ra, dec, 64)


# --- a real HTTP server with fault injection --------------------------------------
class FaultyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``server.faults[path]`` is a list of faults consumed per request:
    ``404``, ``500``, ``truncate`` (half the body, then close), ``corrupt`` (a consistent
    but short FITS file), ``stall`` (sleep longer than the client timeout)."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        relative = self.path.lstrip("/")
        self.server.requests[relative] += 1
        faults = self.server.faults.get(relative)
        fault = faults.pop(0) if faults else None
        if fault == "404":
            self.send_error(404)
            return
        if fault == "500":
            self.send_error(500)
            return
        if fault == "stall":
            time.sleep(self.server.stall_s)
        if fault in ("truncate", "corrupt"):
            body = (Path(self.directory) / relative).read_bytes()
            sent = body[: len(body) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/fits")
            self.send_header("Content-Length", str(len(body) if fault == "truncate" else len(sent)))
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_hips():
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(FaultyHandler, directory=str(DSS2))
    )
    server.faults = {}
    server.requests = defaultdict(int)
    server.stall_s = 3.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file())


def test_http_same_cutouts_as_local_and_cache_reused(http_hips, tmp_path, local_batch):
    cache = tmp_path / "cache"
    survey = open_survey(http_hips.url, cache_dir=cache, retries=0)
    assert (survey.order, survey.frame, survey.tile_width) == (3, "equatorial", 512)
    np.testing.assert_array_equal(survey.available_tiles(), open_survey(DSS2).available_tiles())
    ra, dec = corner_targets()
    batch = extract_cutouts(survey, ra, dec, 64)
    np.testing.assert_array_equal(batch.images, local_batch.images)
    assert batch.tiles == local_batch.tiles and batch.tiles[0] == CORNER_TILES
    # Each tile was fetched once and is now in the cache, complete.
    assert all(http_hips.requests[tile_path(3, t)] == 1 for t in CORNER_TILES)
    cached = [p for p in cache_files(cache) if p.suffix == ".fits"]
    assert sorted(p.name for p in cached) == [f"Npix{t}.fits" for t in CORNER_TILES]
    assert all(
        p.read_bytes() == (DSS2 / tile_path(3, int(p.stem[4:]))).read_bytes() for p in cached
    )
    # A second job (new survey object, server now failing every tile) reads the cache.
    for t in CORNER_TILES:
        http_hips.faults[tile_path(3, t)] = ["500"] * 10
    again = extract_cutouts(open_survey(http_hips.url, cache_dir=cache, retries=0), ra, dec, 64)
    np.testing.assert_array_equal(again.images, local_batch.images)


def test_http_404_tile_is_blank_and_flagged(http_hips, tmp_path, local_batch):
    http_hips.faults[tile_path(3, 449)] = ["404"]
    survey = open_survey(http_hips.url, cache_dir=tmp_path, retries=0)
    ra, dec = corner_targets()
    batch = extract_cutouts(survey, ra[:1], dec[:1], 64)
    assert batch.missing_tiles[0] == [449]
    assert 0.1 < batch.blank_fraction[0] < 0.5
    ok = ~np.isnan(batch.images[0])
    np.testing.assert_array_equal(batch.images[0][ok], local_batch.images[0][ok])
    assert not any(p.name == "Npix449.fits" for p in cache_files(tmp_path))


def test_http_500_then_200_is_retried(http_hips, tmp_path, local_batch):
    http_hips.faults[tile_path(3, 450)] = ["500", "500"]
    survey = open_survey(http_hips.url, cache_dir=tmp_path, retries=2, backoff_s=0.01)
    ra, dec = corner_targets()
    batch = extract_cutouts(survey, ra[:1], dec[:1], 64)
    np.testing.assert_array_equal(batch.images[0], local_batch.images[0])
    assert http_hips.requests[tile_path(3, 450)] == 3


def test_http_500_forever_gives_clear_error(http_hips, tmp_path):
    http_hips.faults[tile_path(3, 450)] = ["500"] * 5
    survey = open_survey(http_hips.url, cache_dir=tmp_path, retries=1, backoff_s=0.01)
    ra, dec = corner_targets()
    with pytest.raises(OSError, match=r"HTTP 500 .*Npix450\.fits.*2 attempts"):
        extract_cutouts(survey, ra[:1], dec[:1], 64)


@pytest.mark.parametrize("fault", ["truncate", "corrupt"])
def test_http_truncated_tile_error_and_nothing_cached(http_hips, tmp_path, fault):
    http_hips.faults[tile_path(3, 451)] = [fault] * 3
    survey = open_survey(http_hips.url, cache_dir=tmp_path, retries=1, backoff_s=0.01)
    ra, dec = corner_targets()
    error = OSError if fault == "truncate" else TileError
    with pytest.raises(error, match=r"Npix451\.fits.*(truncated|gave up)"):
        extract_cutouts(survey, ra[:1], dec[:1], 64)
    names = [p.name for p in cache_files(tmp_path)]
    assert "Npix451.fits" not in names and not any(n.endswith(".part") for n in names)


def test_http_stall_times_out(http_hips, tmp_path):
    http_hips.faults[tile_path(3, 448)] = ["stall", "stall"]
    http_hips.stall_s = 2.0
    survey = open_survey(
        http_hips.url, cache_dir=tmp_path, timeout_s=0.3, retries=1, backoff_s=0.01
    )
    ra, dec = corner_targets()
    started = time.perf_counter()
    with pytest.raises(OSError, match=r"timed out.*Npix448\.fits"):
        extract_cutouts(survey, ra[:1], dec[:1], 64)
    assert time.perf_counter() - started < 1.9  # gave up on the timeout, not the stall


def test_http_bad_properties(tmp_path):
    (tmp_path / "properties").write_text("hips_order = nine\nhips_frame = equatorial\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(FaultyHandler, directory=str(tmp_path))
    )
    server.faults, server.requests = {}, defaultdict(int)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(HipsPropertiesError, match=rf"{url}/properties.*'hips_order'"):
            open_survey(url, cache_dir=tmp_path / "c")
    finally:
        server.shutdown()
        server.server_close()


def test_cache_is_bounded_lru(http_hips, tmp_path):
    tile_bytes = (DSS2 / tile_path(3, 448)).stat().st_size
    bound_mb = 2.5 * tile_bytes / 2**20  # room for two tiles
    survey = open_survey(http_hips.url, cache_dir=tmp_path, cache_max_mb=bound_mb, retries=0)
    for tile in CORNER_TILES:
        assert survey.read_tile(tile) is not None
    files = [p for p in cache_files(tmp_path) if p.suffix == ".fits"]
    assert sum(p.stat().st_size for p in files) <= bound_mb * 2**20
    assert {p.name for p in files} == {"Npix450.fits", "Npix451.fits"}  # the most recent


# --- moto S3 ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_hips():
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="sky")
        client.put_object(
            Bucket="sky", Key="hips/dss2/properties", Body=(DSS2 / "properties").read_bytes()
        )
        for tile in CORNER_TILES[:3]:  # 451 is left out: a missing tile
            client.put_object(
                Bucket="sky",
                Key=f"hips/dss2/{tile_path(3, tile)}",
                Body=(DSS2 / tile_path(3, tile)).read_bytes(),
            )
        yield endpoint, mp
    server.stop()


def test_s3_same_cutouts_as_local(s3_hips, tmp_path, local_batch):
    endpoint, mp = s3_hips
    survey = open_survey("s3://sky/hips/dss2", cache_dir=tmp_path, s3_endpoint_url=endpoint)
    np.testing.assert_array_equal(survey.available_tiles(), CORNER_TILES[:3])
    ra, dec = corner_targets()
    batch = extract_cutouts(survey, ra[:2], dec[:2], 64)
    np.testing.assert_array_equal(batch.images[1], local_batch.images[1])
    assert batch.missing_tiles[0] == [451]
    ok = ~np.isnan(batch.images[0])
    assert 0.1 < batch.blank_fraction[0] < 0.5
    np.testing.assert_array_equal(batch.images[0][ok], local_batch.images[0][ok])
    # The endpoint may also come from the environment (as Snakemake's S3 storage sets it).
    mp.setenv("AWS_ENDPOINT_URL", endpoint)
    again = extract_cutouts(
        open_survey("s3://sky/hips/dss2", cache_dir=tmp_path / "b"), ra[:2], dec[:2], 64
    )
    np.testing.assert_array_equal(again.images, batch.images)


def test_damaged_cache_copy_is_fetched_again(http_hips, tmp_path, local_batch):
    ra, dec = corner_targets()
    extract_cutouts(open_survey(http_hips.url, cache_dir=tmp_path, retries=0), ra, dec, 64)
    (cached,) = [p for p in cache_files(tmp_path) if p.name == "Npix449.fits"]
    cached.write_bytes(cached.read_bytes()[:5000])  # e.g. a disk filled up by someone else
    survey = open_survey(http_hips.url, cache_dir=tmp_path, retries=0)
    batch = extract_cutouts(survey, ra, dec, 64)
    np.testing.assert_array_equal(batch.images, local_batch.images)
    assert cached.read_bytes() == (DSS2 / tile_path(3, 449)).read_bytes()
    assert http_hips.requests[tile_path(3, 449)] == 2
