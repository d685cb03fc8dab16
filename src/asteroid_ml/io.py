"""Atomic file output and small readers shared by every stage.

Every writer in the package goes through :func:`atomic_output`: data are written
to a temporary file in the destination directory and renamed into place only
when complete, so a crash, a kill or a bad input never leaves a half-written
output that Snakemake (or a user) could mistake for a result.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    The temporary file keeps the final suffix (or ``suffix``) so that writers
    that infer the format from the extension keep working. On any exception the
    temporary file is removed, and so are the folders this call created when they
    are left empty; the exception propagates. A write that fails on a full disk
    (numpy says only ``614400 requested and 133088 written``) is raised as an
    ``OSError`` naming the output and the free space.
    """
    final = Path(path)
    created = missing_folders(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.",
        suffix=suffix if suffix is not None else final.suffix,
        dir=final.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the output the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, final)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        remove_empty(created)
        full = _disk_full(exc, final.parent if final.parent.exists() else Path.cwd())
        if full:
            raise OSError(errno.ENOSPC, f"{final}: not written, {full}") from exc
        raise


def missing_folders(path: str | os.PathLike[str]) -> list[Path]:
    """The folders above ``path`` that do not exist yet, deepest first."""
    parent = Path(path).parent
    return [p for p in (parent, *parent.parents) if not p.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) that are empty; leave the others."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _disk_full(exc: BaseException, folder: Path) -> str | None:
    """How full the disk is, when ``exc`` is a write that failed for want of space."""
    if not isinstance(exc, OSError):
        return None
    short_write = exc.errno is None and "requested and" in str(exc)
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT) and not short_write:
        return None
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "the disk is full"
    return f"the disk is full ({free / 2**20:.1f} MiB free on {folder})"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_parquet(
    table: Any, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None
) -> None:
    """Write a pandas DataFrame to Parquet atomically, with JSON key/value metadata.

    ``metadata`` values are JSON-encoded under the schema-level key
    ``asteroid_ml`` (units, config hash, code version...), readable with
    :func:`read_parquet_metadata`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata:
        merged = dict(arrow.schema.metadata or {})
        merged[b"asteroid_ml"] = json.dumps(metadata, sort_keys=True, default=str).encode()
        arrow = arrow.replace_schema_metadata(merged)
    with atomic_output(path) as tmp:
        # Fixed writer settings so that identical tables give identical bytes.
        pq.write_table(arrow, tmp, compression="zstd", write_statistics=True)


def read_parquet_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the ``asteroid_ml`` metadata dictionary written by :func:`write_parquet`."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(b"asteroid_ml")
    return json.loads(raw) if raw else {}


def save_npy(array: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Save an array as ``.npy`` atomically (memory-mappable with ``np.load(mmap_mode='r')``)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically with sorted keys (stable bytes for stable inputs)."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def config_hash(config: Mapping[str, Any], sections: Iterable[str] | None = None) -> str:
    """SHA-256 of the canonical JSON of ``config`` (or only of ``sections``).

    Used in dataset cards and Parquet metadata to tie an output to the exact
    configuration that produced it.
    """
    chosen = config if sections is None else {k: config.get(k) for k in sections}
    blob = json.dumps(chosen, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
