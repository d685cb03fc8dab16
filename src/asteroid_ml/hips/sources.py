"""Where tile bytes come from: a local folder, HTTP(S) or S3, plus a disk cache.

Each source answers ``fetch(relative_path) -> bytes | None`` where ``None``
means "this tile does not exist" (a file that is absent, HTTP 404, S3
``NoSuchKey``): HiPS surveys only hold tiles where there is data, so a missing
tile is blank sky, not an error. Every other failure raises ``OSError`` naming
the path or URL.

Remote sources are wrapped in :class:`TileCache`: a bounded directory shared by
every job that uses the same cache folder. Files are written to a temporary
name and renamed into place, so a reader never sees a partial tile, and two
jobs fetching the same tile at once simply both rename a complete copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class TileSource(Protocol):
    """Minimal interface of a HiPS storage backend."""

    location: str

    def fetch(self, relative: str) -> bytes | None: ...

    def describe(self, relative: str) -> str: ...

    def list_files(self, prefix: str) -> list[str] | None: ...


class LocalSource:
    """A HiPS in a local folder."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.location = str(self.root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"HiPS survey folder not found: {self.root}")

    def describe(self, relative: str) -> str:
        return str(self.root / relative)

    def fetch(self, relative: str) -> bytes | None:
        try:
            return (self.root / relative).read_bytes()
        except FileNotFoundError:
            return None

    def list_files(self, prefix: str) -> list[str] | None:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return [str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()]


class HttpSource:
    """A HiPS served over HTTP(S), fetched with :mod:`requests`.

    Connection errors, timeouts, incomplete bodies and 5xx answers are retried
    ``retries`` times with exponential backoff (``backoff_s * 2**attempt``);
    404 means a missing tile; other 4xx are errors.
    """

    def __init__(
        self, base_url: str, *, timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.5
    ):
        import requests

        self.location = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._session = requests.Session()

    def describe(self, relative: str) -> str:
        return f"{self.location}/{relative}"

    def _get(self, url: str):
        import requests

        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._session.get(url, timeout=self.timeout_s)
                if response.status_code >= 500:
                    last_error = OSError(f"HTTP {response.status_code} for {url}")
                    log.warning(
                        "HTTP %s for %s (attempt %d)", response.status_code, url, attempt + 1
                    )
                    continue
                _ = response.content  # read the whole body inside the retry loop
                return response
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
                if isinstance(exc, requests.exceptions.ChunkedEncodingError):
                    kind = "truncated body"
                last_error = OSError(f"HTTP GET {kind} for {url}: {exc}")
                log.warning("HTTP GET %s for %s (attempt %d)", kind, url, attempt + 1)
        raise OSError(f"{last_error} (gave up after {self.retries + 1} attempts)")

    def fetch(self, relative: str) -> bytes | None:
        url = self.describe(relative)
        response = self._get(url)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code} for {url}")
        return response.content

    def list_files(self, prefix: str) -> list[str] | None:
        """Files under ``prefix`` from the server's directory index, or None if it has none."""
        found: list[str] = []
        pending = [prefix.rstrip("/") + "/"]
        while pending:
            folder = pending.pop()
            response = self._get(self.describe(folder))
            if response.status_code != 200 or "html" not in response.headers.get(
                "Content-Type", ""
            ):
                return None if folder == prefix.rstrip("/") + "/" else found
            for href in re.findall(r'href="([^"?#]+)"', response.text):
                if href.startswith(("/", "..", "http:", "https:")):
                    continue
                if href.endswith("/"):
                    pending.append(folder + href)
                else:
                    found.append(folder + href)
        return found


def s3_endpoint_from_env() -> str | None:
    """S3 endpoint: ``AWS_ENDPOINT_URL`` or Snakemake's ``SNAKEMAKE_STORAGE_S3_ENDPOINT_URL``."""
    return os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("SNAKEMAKE_STORAGE_S3_ENDPOINT_URL")


class S3Source:
    """A HiPS under ``s3://bucket/prefix`` read with boto3 (endpoint configurable)."""

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
    ):
        import boto3
        from botocore.config import Config

        match = re.match(r"s3://([^/]+)/?(.*)$", url)
        if not match:
            raise ValueError(f"not an s3:// URL: {url!r}")
        self.bucket, self.prefix = match.group(1), match.group(2).strip("/")
        self.location = url.rstrip("/")
        self.endpoint_url = endpoint_url or s3_endpoint_from_env()
        self._client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"max_attempts": retries + 1, "mode": "standard"},
            ),
        )

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def describe(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self._key(relative)}"

    def fetch(self, relative: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(relative))
            return response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise OSError(f"S3 GET {self.describe(relative)} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise OSError(f"S3 GET {self.describe(relative)} failed: {exc}") from exc

    def list_files(self, prefix: str) -> list[str] | None:
        paginator = self._client.get_paginator("list_objects_v2")
        key_prefix = self._key(prefix.rstrip("/") + "/")
        strip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
            found.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return found


def default_cache_dir() -> Path:
    """``$ASTEROID_ML_CACHE/hips`` or ``~/.cache/asteroid-ml/hips``."""
    root = os.environ.get("ASTEROID_ML_CACHE")
    return Path(root) / "hips" if root else Path.home() / ".cache" / "asteroid-ml" / "hips"


class TileCache:
    """Bounded on-disk cache of tile bytes for one remote survey.

    Files live under ``cache_dir/<sha1(location)[:16]>/<relative path>``. A hit
    refreshes the file's mtime; when the whole cache folder (all surveys) grows
    beyond ``max_bytes`` the least recently used files are deleted (oldest mtime
    first). Writes are atomic (temporary file + :func:`os.replace`).
    """

    def __init__(self, cache_dir: str | os.PathLike[str], location: str, max_bytes: int):
        self.root = Path(cache_dir)
        digest = hashlib.sha1(location.encode()).hexdigest()[:16]
        self.folder = self.root / digest
        self.max_bytes = int(max_bytes)
        self._approx_total: int | None = None  # bytes in the cache, refreshed by scans

    def path(self, relative: str) -> Path:
        return self.folder / relative

    def get(self, relative: str) -> bytes | None:
        path = self.path(relative)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            os.utime(path)
        except OSError:  # evicted meanwhile by another job: the bytes we hold are complete
            pass
        return raw

    def put(self, relative: str, raw: bytes) -> None:
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # A full scan only when our running estimate says the bound may be exceeded
        # (other jobs add files too, so the estimate is refreshed by every scan).
        if self._approx_total is None:
            self._approx_total = self._scan()[1]
        else:
            self._approx_total += len(raw)
        if self._approx_total > self.max_bytes:
            self.evict()

    def _scan(self) -> tuple[list[tuple[int, int, Path]], int]:
        entries = []
        total = 0
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name.endswith(".part"):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime_ns, stat.st_size, path))
            total += stat.st_size
        return entries, total

    def evict(self) -> None:
        """Delete least recently used tiles until the cache is within ``max_bytes``."""
        entries, total = self._scan()
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._approx_total = total


class CachedSource:
    """A remote source read through a :class:`TileCache`."""

    def __init__(self, source: TileSource, cache: TileCache):
        self.source = source
        self.cache = cache
        self.location = source.location

    def describe(self, relative: str) -> str:
        return self.source.describe(relative)

    def fetch(self, relative: str) -> bytes | None:
        return self.fetch_with_origin(relative)[0]

    def fetch_with_origin(self, relative: str) -> tuple[bytes | None, bool]:
        """The bytes and whether they came from the cache."""
        cached = self.cache.get(relative)
        if cached is not None:
            return cached, True
        return self.source.fetch(relative), False

    def forget(self, relative: str) -> None:
        """Drop a cached copy (found unreadable)."""
        self.cache.path(relative).unlink(missing_ok=True)

    def store(self, relative: str, raw: bytes) -> None:
        """Cache bytes already validated by the caller (so a bad tile is never cached)."""
        self.cache.put(relative, raw)

    def list_files(self, prefix: str) -> list[str] | None:
        return self.source.list_files(prefix)
