"""Decoding Mercury's compressed close-encounter records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asteroid_ml.simulation.mercury_encounters import (
    decode_float,
    decode_fraction,
    decode_index,
    read_close_encounters,
)


# Mercury 6's encoders (mio_re2c, mio_fl2c), transcribed from their documented
# algorithm as the reference the decoder must invert.
def _re2c(x: float, xmin: float, xmax: float) -> bytes:
    y = (x - xmin) / (xmax - xmin)
    if y >= 1:
        return bytes([255] * 8)
    if y <= 0:
        return b" " * 8
    out = []
    for _ in range(8):
        y = math.fmod(y, 1.0) * 224.0
        out.append(int(y) + 32)
    return bytes(out)


def _fl2c(x: float) -> bytes:
    if x == 0:
        y, ex = 0.5, 0
    else:
        ax = abs(x)
        ex = int(math.log10(ax))
        if ax >= 1:
            ex += 1
        y = ax * 10.0 ** (-ex)
        if y == 1:
            y, ex = 0.1, ex + 1
        y = math.copysign(y, x) * 0.5 + 0.5
    return _re2c(y, 0.0, 1.0)[:7] + bytes([min(max(ex + 112, 0), 223) + 32])


@pytest.mark.parametrize("x", [0.0, 1.0, -1.0, 0.859779, 4.2635e-5, 3.1e-9, 12345.678, 7.0e4])
def test_float_round_trip(x):
    assert decode_float(_fl2c(x)) == pytest.approx(x, rel=1e-13, abs=1e-300)


def test_literal_encodings():
    # Zero as Mercury writes it (seen in real headers): mantissa 0.5, exponent 0.
    assert decode_float(b"\x90      \x90") == 0.0
    # Body index 4 (index - 1 = 3 in three base-224 digits), as in a real record.
    assert decode_index(b"  #") == 4
    assert decode_fraction(bytes([255] * 8), 0.0, 2.0) == 2.0


def _minimum(t: float, i: int, j: int, d: float) -> bytes:
    c = bytearray(b" " * 70)
    c[0:8] = _fl2c(t)
    c[8:16] = _re2c(i - 1, 0.0, 11239423.99)
    c[11:19] = _re2c(j - 1, 0.0, 11239423.99)
    c[14:22] = _fl2c(d)
    return b"\x0c6b" + bytes(c) + b"\n"


def _header(ids: list[int]) -> bytes:
    lines = [b"\x0c6a10" + b" " * 62 + b"3"]
    for index, body_id in enumerate(ids, start=2):
        line = bytearray(_re2c(index - 1, 0.0, 11239423.99)[:3] + f"{body_id:8d}".encode())
        line += _fl2c(0.0) * 5
        lines.append(bytes(line))
    return b"\n".join(lines) + b"\n"


def test_read_close_encounters_maps_indices_to_ids(tmp_path):
    path = tmp_path / "ce.txt"
    # Two restarts: the second header renumbers nothing but adds body 12.
    path.write_bytes(
        _header([2, 3, 4, 11])
        + _minimum(0.8598, 4, 5, 4.0e-5)
        + _header([2, 3, 4, 11, 12])
        + _minimum(10.25, 6, 4, 0.0123)
    )
    table = read_close_encounters(path)
    assert table["id_a"].tolist() == [4, 12]
    assert table["id_b"].tolist() == [11, 4]
    np.testing.assert_allclose(table["t_days"], [0.8598, 10.25], rtol=1e-13)
    np.testing.assert_allclose(table["dmin_au"], [4.0e-5, 0.0123], rtol=1e-13)


def test_malformed_file_names_the_file(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_bytes(b"\x0cXXgarbage")
    with pytest.raises(ValueError, match="broken.txt: record 1"):
        read_close_encounters(path)
