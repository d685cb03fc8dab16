"""Bad command-line input: rc != 0, one line naming the option, file or column, no output left."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from asteroid_ml.cli import main

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "resources" / "neo" / "neos-2020.csv"
SURVEY = REPO / "resources" / "hips" / "DSS2Red"
GOOD = "a=1.2,e=0.3,i=5,om=80,w=120,ma=10"


def _close(*args: str) -> list[str]:
    return ["close-approaches", *args]


def _cutouts(targets: str, *args: str) -> list[str]:
    return ["cutouts", "--survey", str(SURVEY), "--targets", targets, "--output", "{out}", *args]


@pytest.fixture
def inputs(tmp_path):
    """Bad input files: a catalog with a garbage value, an empty catalog, targets out of range,
    a target table without rows, a truncated Parquet shard."""
    rows = list(csv.reader(CATALOG.open()))[:3]
    rows[2][rows[0].index("a")] = "banana"
    with (tmp_path / "garbage.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "ra400.csv").write_text("ra,dec\n400,10\n")
    (tmp_path / "ra-10.csv").write_text("ra,dec\n-10,10\n")
    (tmp_path / "norows.csv").write_text("ra,dec\n")
    (tmp_path / "one.csv").write_text("ra,dec\n10,10\n")
    (tmp_path / "truncated.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    (tmp_path / "notiles").mkdir()
    shutil.copy(SURVEY / "properties", tmp_path / "notiles" / "properties")
    blank = [list(r) for r in rows[:3]]
    blank[2][rows[0].index("pdes")] = ""
    with (tmp_path / "blank.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(blank)
    twice = [rows[0], rows[1], rows[1]]
    with (tmp_path / "twice.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(twice)
    (tmp_path / "catalog.parquet").write_bytes(
        b"PAR1\x15\x04\x15\x80\x01\xff\xfe" + bytes(range(256)) * 4
    )
    return tmp_path


CASES = [
    ("NaN mean anomaly", _close("--elements", GOOD.replace("ma=10", "ma=nan"), "--epoch", "2459000.5",
     "--start", "2020-01-01", "--end", "2020-02-01"), "elements: ma of 'object' (row 0) is not a finite number"),
    ("NaN epoch", _close("--elements", GOOD, "--epoch", "nan", "--start", "2020-01-01", "--end",
     "2020-02-01"), "elements: epoch of 'object' (row 0) is not a finite number"),
    ("epoch 0", _close("--elements", GOOD, "--epoch", "0", "--start", "2020-01-01", "--end",
     "2020-02-01"), "need an epoch between AD 1000 and AD 3000"),
    ("inclination 500", _close("--elements", GOOD.replace("i=5", "i=500"), "--epoch", "2459000.5",
     "--start", "2020-01-01", "--end", "2020-02-01"), "elements: i = 500 of 'object' (row 0): need 0 <= i <= 180 deg"),
    ("hyperbolic", _close("--elements", GOOD.replace("e=0.3", "e=1.5"), "--epoch", "2459000.5",
     "--start", "2020-01-01", "--end", "2020-02-01"), "elements: e = 1.5 of 'object' (row 0): need 0 <= e < 1"),
    ("missing element", _close("--elements", "a=1.2,e=0.3", "--epoch", "2459000.5", "--start",
     "2020-01-01", "--end", "2020-02-01"), "--elements: missing i, om, w, ma"),
    ("window past the ephemeris", _close("--elements", GOOD, "--epoch", "2459000.5", "--start",
     "2020-01-01", "--end", "3100-01-01"), "leaves AD 1000..3000"),
    ("unreadable date", _close("--elements", GOOD, "--epoch", "2459000.5", "--start", "soon",
     "--end", "2020-02-01"), "--start: cannot parse 'soon' as an ISO date"),
    ("garbage catalog value", _close("--catalog", "{dir}/garbage.csv", "--start", "2020-01-01",
     "--end", "2020-02-01"), "garbage.csv: column 'a', row 3 (1865): 'banana' is not a number"),
    ("empty catalog", _close("--catalog", "{dir}/empty.csv", "--start", "2020-01-01", "--end",
     "2020-02-01"), "empty.csv: empty file, not an SBDB-style CSV catalog"),
    ("blank designation", _close("--catalog", "{dir}/blank.csv", "--start", "2020-01-01", "--end",
     "2020-02-01"), "blank.csv: column 'pdes', row 3: empty designation"),
    ("designation twice", _close("--catalog", "{dir}/twice.csv", "--start", "2020-01-01", "--end",
     "2020-02-01"), "appears more than once (rows 2, 3)"),
    ("a Parquet file as catalog", _close("--catalog", "{dir}/catalog.parquet", "--start", "2020-01-01",
     "--end", "2020-02-01"), "catalog.parquet: not an SBDB-style CSV catalog (binary or Parquet?)"),
    ("NaN distance", _close("--elements", GOOD, "--epoch", "2459000.5", "--start", "2020-01-01",
     "--end", "2020-02-01", "--max-dist-au=nan"), "--max-dist-au must be a positive number of au, got nan"),
    ("survey without tiles", ["cutouts", "--survey", "{dir}/notiles", "--targets", "{dir}/one.csv",
     "--output", "{out}"], "notiles: no tile covers any of the 1 targets (every cutout would be blank)"),
    ("RA 400", _cutouts("{dir}/ra400.csv"), "column 'ra_deg' has values outside [0, 360) deg (row 0: 400)"),
    ("RA -10", _cutouts("{dir}/ra-10.csv"), "column 'ra_deg' has values outside [0, 360) deg (row 0: -10)"),
    ("no target rows", _cutouts("{dir}/norows.csv"), "norows.csv: no target rows"),
    ("huge cutouts", _cutouts("{dir}/one.csv", "--size", "100000"), "--size 100000: 1 cutouts of 100000 x 100000 px would need 37.3 GiB"),
    ("negative pixel scale", _cutouts("{dir}/one.csv", "--pixel-scale", "-1"), "--pixel-scale: must be a positive number of arcsec, got -1"),
    ("truncated shard", ["ephemerides", "--sim", "{dir}/truncated.parquet", "--output", "{out}/e.parquet"],
     "truncated.parquet: simulation shard is not a readable Parquet file"),
    ("targets given as a simulation shard", ["ephemerides", "--sim", "{dir}/one.csv", "--output",
     "{out}/e.parquet"], "one.csv: simulation shard lacks column(s) object_id, population, epoch_jd_tdb"),
    ("detection without ephemerides", ["detection", "candidates", "--candidates", "{out}"],
     "--ephemerides: give the ephemeris shards (results/ephemerides/)"),
    ("detection seed spread of no training", ["detection", "seeds", "--seeds", "0", "--candidates",
     "{dir}", "--out-csv", "{out}/spread.csv"], "--seeds: need at least 1 training, got 0"),
    ("detection evaluate without candidates", ["detection", "evaluate", "--candidates", "{dir}",
     "--out", "{out}"], "candidates.parquet"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_cli_input_fails_with_one_clear_line(inputs, capsys, what, argv, expected):
    out = inputs / "out"
    argv = [a.replace("{dir}", str(inputs)).replace("{out}", str(out)) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and expected in err[-1], err
    assert "Traceback" not in "\n".join(err)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_worker_count_must_be_positive(inputs, workers, capsys):
    argv = _cutouts(str(inputs / "one.csv"), "--workers", workers)
    with pytest.raises(SystemExit) as info:
        main([a.replace("{out}", str(inputs / "out")) for a in argv])
    assert info.value.code == 2
    assert f"argument --workers: must be at least 1, got {workers}" in capsys.readouterr().err


@pytest.mark.parametrize("failing", ["npy", "manifest"])
def test_cutouts_on_a_full_disk_name_the_output_and_leave_nothing(
    inputs, capsys, monkeypatch, failing
):
    """numpy reports a short write as ``614400 requested and 133088 written`` (no errno); the
    line names the output and the free space, and no folder or half of the pair is left
    (docs/errors.md row 79)."""
    import numpy as np
    import pyarrow.parquet as pq

    def short_write(*args, **kwargs):
        raise OSError("614400 requested and 133088 written")

    if failing == "npy":
        monkeypatch.setattr(np, "save", short_write)
    else:
        monkeypatch.setattr(pq, "write_table", short_write)
    (inputs / "covered.csv").write_text("ra,dec\n0.5,4.8\n")  # inside tile Npix304
    out = inputs / "out" / "deeper"
    argv = [a.replace("{out}", str(out)) for a in _cutouts(str(inputs / "covered.csv"))]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert f"{out}/" in err[0] and "not written, the disk is full (" in err[0], err
    assert "MiB free on" in err[0]
    assert not (inputs / "out").exists()
