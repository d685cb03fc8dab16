"""Build the shipped ~0.8"/px HiPS survey `resources/hips/POSS2-HorseHead` from HorseHead.fits.

The default survey (DSS2 red at order 3, 51.5"/px) cannot resolve an asteroid's trail or its
motion between epochs a few minutes apart; this one, at the pixel scale of real NEO surveys,
can. It is built with reproject's ``reproject_to_hips`` (bilinear interpolation, order 9,
512-pixel tiles: HEALPix pixel order 18, 0.805"), and its tiles are stored as int16 with
``BLANK = -32768`` (the plate's values are integer densities; rounding changes a pixel by
at most 0.5 of a noise of ~200), which halves the size.

    .venv/bin/python scripts/build_horsehead_hips.py tests/data/images/HorseHead.fits \
        resources/hips/POSS2-HorseHead

Deterministic: the same input gives the same tiles (properties carry no build date).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import reproject
from astropy.io import fits
from reproject import reproject_interp
from reproject.hips import reproject_to_hips

ORDER = 9
TILE_WIDTH = 512
BLANK = -32768


def build(source: Path, output: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "hips"
        reproject_to_hips(
            str(source), coord_system_out="equatorial", reproject_function=reproject_interp,
            output_directory=str(work), level=ORDER, tile_size=TILE_WIDTH,
        )  # fmt: skip
        if output.exists():
            shutil.rmtree(output)
        output.mkdir(parents=True)
        # Only the order the workflow reads (as resources/hips/DSS2Red ships only order 3):
        # the lower orders, for zoomed-out viewers, would double the size.
        for tile in sorted(work.glob(f"Norder{ORDER}/Dir*/Npix*.fits")):
            values = fits.getdata(tile).astype(np.float64)
            stored = np.where(np.isfinite(values), np.rint(values), BLANK).astype(np.int16)
            header = fits.Header()
            header["BLANK"] = BLANK
            target = output / tile.relative_to(work)
            target.parent.mkdir(parents=True, exist_ok=True)
            fits.PrimaryHDU(stored, header).writeto(target)
        properties = _properties(work / "properties", source)
        (output / "properties").write_text(properties)
    sums = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(output)}"
        for p in [output / "properties", *sorted(output.glob("Norder*/Dir*/Npix*.fits"))]
    ]
    (output / "SHA256SUMS").write_text("\n".join(sums) + "\n")


def _properties(built: Path, source: Path) -> str:
    keep = {}
    for line in built.read_text().splitlines():
        key, _, value = line.partition("=")
        keep[key.strip()] = value.strip()
    keep.pop("hips_release_date", None)  # a build date would change the bytes on every build
    keep.pop("creator_did", None)  # random per build
    keep.update({
        "creator_did": "ivo://asteroid-ml/P/POSS2-HorseHead",
        "obs_title": "POSS-II/SERC-ER HorseHead field (DSS), 0.8 arcsec/px",
        "obs_description": "Re-projection of the DSS image HorseHead.fits (1.01 arcsec/px) to HiPS",
        "obs_copyright": "Digitized Sky Survey - STScI/NASA",
        "hips_builder": f"astropy/reproject {reproject.__version__} (scripts/build_horsehead_hips.py)",
        "hips_pixel_bitpix": "16",
        "prov_progenitor": f"{source.name} sha256 {hashlib.sha256(source.read_bytes()).hexdigest()}",
    })  # fmt: skip
    return "".join(f"{k:<20} = {v}\n" for k, v in keep.items())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    build(args.source, args.output)
