"""Read the close-encounter minima that the Mercury integrator writes.

AMUSE's Mercury (``amuse-mercury`` 2024.6) integrates every close encounter with
Bulirsch-Stoer, but it is built with collisions switched off (``opt(2) = 0``) and
with the ejection and central-body checks commented out: it never removes a
particle, and a massless particle aimed at Earth flies through it as through a
point mass. What the code does keep is Mercury's record of every close-encounter
minimum (pairs closer than ``celimit`` Hill radii), written in Mercury's compressed
text format to the file named by ``parameters.close_encounters_file``. Reading
that record, with each body's physical radius, tells which particles hit which
body and when.

The format (Chambers 1999, Mercury 6 routines ``mio_ce``, ``mce_init``,
``mio_fl2c``, ``mio_re2c``): records start with a form feed and a two-character
type. ``6a`` is a header written whenever the integrator (re)starts; it is followed
by one line per body (index 2..N) holding the body's index and its 8-character
name (AMUSE writes the particle's integer id there). ``6b`` is one encounter
minimum: time (days), the two bodies' indices, the minimum distance (au), then the
two states (not read here). Numbers are base-224 fractions written as the
characters 32..255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Largest index Mercury encodes (224**3 - 0.01, see ``mio_ce``).
_INDEX_RANGE = 11239423.99
_BASE = 224
_OFFSET = 32


def decode_fraction(chars: bytes, xmin: float, xmax: float) -> float:
    """Inverse of Mercury's ``mio_re2c``: base-224 digits of (x - xmin) / (xmax - xmin)."""
    if chars and all(c == 255 for c in chars):
        return xmax
    y = 0.0
    for k, c in enumerate(chars, start=1):
        y += (c - _OFFSET) / float(_BASE) ** k
    return xmin + y * (xmax - xmin)


def decode_float(chars: bytes) -> float:
    """Inverse of Mercury's ``mio_fl2c`` (8 characters: 7-digit mantissa, exponent)."""
    if len(chars) != 8:
        raise ValueError(f"a Mercury float takes 8 characters, got {len(chars)}")
    y = decode_fraction(chars[:7], 0.0, 1.0)
    exponent = chars[7] - _OFFSET - 112
    return (2.0 * y - 1.0) * 10.0**exponent


def decode_index(chars: bytes) -> int:
    """A Mercury body index (1 = central body) from its 3 leading characters."""
    return round(decode_fraction(chars, 0.0, _INDEX_RANGE)) + 1


def read_close_encounters(path: str | Path) -> pd.DataFrame:
    """Every close-encounter minimum in the Mercury output file ``path``, as a table.

    One row per minimum: ``t_days`` (Mercury's model time), ``id_a`` and ``id_b`` (the
    two bodies' ids as written in the latest header before the record: AMUSE particle
    ids; 0 would be the central body, which has no id) and ``dmin_au`` (minimum
    distance, au). Raises ``ValueError`` naming the file when a record is malformed.
    """
    rows = close_encounter_minima(Path(path).read_bytes(), str(path))
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pd.DataFrame(
        {
            "t_days": np.array(columns[0], dtype=float),
            "id_a": np.array(columns[1], dtype=np.int64),
            "id_b": np.array(columns[2], dtype=np.int64),
            "dmin_au": np.array(columns[3], dtype=float),
        }
    )


def close_encounter_minima(
    data: bytes, source: str = "<bytes>"
) -> list[tuple[float, int, int, float]]:
    """The rows of :func:`read_close_encounters` from Mercury's output ``data`` as plain
    tuples (no pandas: this runs after every evolve call of a long integration); errors
    name ``source``."""
    rows: list[tuple[float, int, int, float]] = []
    header = b""
    names: dict[int, int] | None = None
    for n, record in enumerate(data.split(b"\x0c")):
        if not record:
            continue
        kind = record[:2]
        try:
            if kind == b"6a":
                header, names = record, None  # decoded only if a minimum follows
            elif kind == b"6b":
                if names is None:
                    names = _header_names(header)
                body = record[2:]
                t = decode_float(body[0:8])
                i, j = decode_index(body[8:11]), decode_index(body[11:14])
                d = decode_float(body[14:22])
                rows.append((t, names.get(i, 0), names.get(j, 0), d))
            else:
                raise ValueError(f"unknown record type {kind!r}")
        except (ValueError, IndexError) as exc:
            raise ValueError(
                f"{source}: record {n} is not a Mercury close-encounter record: {exc}"
            ) from exc
    return rows


def _header_names(header: bytes) -> dict[int, int]:
    """Body index -> id from a ``6a`` header record (one line per body after the first)."""
    names = {}
    for line in header.split(b"\n")[1:]:
        if len(line) >= 11:
            names[decode_index(line[:3])] = int(line[3:11])
    return names
