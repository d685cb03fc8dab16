"""Dataset assembly: inject simulated asteroids and artefacts into real cutouts.

Inputs: the cutout plan (``targets.parquet``), the extracted cutout shards
(``shard-K.npy`` + ``shard-K.parquet``), the ephemerides (rate, position angle,
V magnitude of each positive) and the simulation shards (orbital elements).
Outputs, in ``output_dir`` (see the README "Dataset" section):

- ``{train,val,test}.npy``: float32 ``(N, S, S)``, memory-mappable;
- ``manifest.parquet``: one row per sample, sorted by (split, index_in_split);
- ``elements.parquet``: the tabular impactor-vs-background dataset;
- ``card.json``: counts, config hash, code version, SHA-256 of every file.

Reproducibility: every random number of a sample comes from
``rng_for(seed, "dataset.inject", sample_id)``, sample ids come from the
(sorted) plan, and every other number of a sample is computed from that sample
alone with exact or scalar operations. The outputs therefore depend neither on
the simulation shard count nor on ``--cores`` / ``workers``; the arrays do not
depend on the cutout shard count either (only the provenance columns
``cutout_shard``/``cutout_index`` of the manifest do).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.dataset import injection as inj
from asteroid_ml.dataset.splits import SPLITS, negative_splits, object_splits, order_keys, unit_hash
from asteroid_ml.dataset.targets import TARGET_COLUMNS, read_table
from asteroid_ml.io import atomic_output, sha256_file, write_json, write_parquet
from asteroid_ml.seeds import rng_for

log = logging.getLogger(__name__)

#: Negative kinds, in the order in which their fractions are accumulated.
NEGATIVE_KINDS = ("empty", "cosmic_ray", "hot_pixel", "hot_column", "bright_star")

#: Defaults of the ``dataset`` config section (the schema holds the same values).
DEFAULTS: dict[str, Any] = {
    "split_fractions": {"train": 0.7, "val": 0.15, "test": 0.15},
    "negatives_per_positive": 1.0,
    "negative_mix": {
        "empty": 0.6, "cosmic_ray": 0.1, "hot_pixel": 0.1, "hot_column": 0.1, "bright_star": 0.1,
    },
    "psf": {"model": "gaussian", "fwhm_arcsec": 45.0, "moffat_beta": 2.5},
    "zero_point_mag": 28.0,
    "gain_e_per_count": 1.0,
    "depth_offset_mag": -8.5,
    "artefact_peak_sigma": {"min": 5.0, "max": 50.0},
    "cosmic_ray_length_px": {"min": 1.5, "max": 6.0},
    "bright_star_mag": {"min": 9.0, "max": 13.0},
    "bright_star_growth": {"min": 1.5, "max": 3.0},
    "saturation_counts": 20000.0,
}  # fmt: skip

#: Cutouts processed together (vectorised sky statistics and WCS); bounds the memory used.
CHUNK = 1024

EPHEMERIS_COLUMNS = ("object_id", "obs_index", "rate_arcsec_min", "pa_deg", "V_mag")
ELEMENT_COLUMNS = (
    "object_id",
    "population",
    "a_au",
    "e",
    "i_deg",
    "om_deg",
    "w_deg",
    "ma_deg",
    "H_mag",
)
CUTOUT_MANIFEST_COLUMNS = ("target_id", "wcs_header")

MANIFEST_COLUMNS = (
    "sample_id", "split", "index_in_split", "label", "kind", "object_id", "population",
    "ra_deg", "dec_deg", "mag", "snr", "rate_arcsec_min", "pa_deg", "trail_length_px",
    "trail_angle_deg", "cutout_shard", "cutout_index", "blank_fraction", "sky_source",
)  # fmt: skip

MANIFEST_UNITS = {
    "ra_deg": "deg (ICRS), centre of the cutout",
    "dec_deg": "deg (ICRS), centre of the cutout",
    "mag": "V magnitude injected (ephemeris V_mag + depth_offset_mag; bright stars: their V)",
    "snr": "matched-filter SNR of the injected signal: sqrt(sum s_i^2 / (sky_sigma^2 + s_i/gain)); "
    "artefacts without the Poisson term; NaN for empty negatives",
    "rate_arcsec_min": "arcsec/min",
    "pa_deg": "deg, position angle of the motion from north through east",
    "trail_length_px": "pixels (rate x exposure / pixel scale; cosmic rays: track length)",
    "trail_angle_deg": "deg in [0, 180), orientation in the image from +x (column) towards +y (row)",
    "blank_fraction": "fraction of the cutout that was blank (NaN) and filled with its median",
}


def dataset_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``dataset`` section with defaults filled in and cross-key checks applied."""
    given = dict(config.get("dataset", {}) or {})
    settings = {key: given.get(key, value) for key, value in DEFAULTS.items()}
    for key in ("psf", "negative_mix"):
        settings[key] = {**DEFAULTS[key], **(given.get(key) or {})}
    mix_total = sum(float(settings["negative_mix"][k]) for k in NEGATIVE_KINDS)
    if abs(mix_total - 1.0) > 1e-9:
        raise ValueError(
            f"config: dataset.negative_mix: fractions must sum to 1 (got {mix_total:g})"
        )
    for key in (
        "artefact_peak_sigma",
        "cosmic_ray_length_px",
        "bright_star_mag",
        "bright_star_growth",
    ):
        low, high = float(settings[key]["min"]), float(settings[key]["max"])
        if low > high:
            raise ValueError(f"config: dataset.{key}: min ({low:g}) > max ({high:g})")
    return settings


def content_config_hash(config: Mapping[str, Any]) -> str:
    """Config hash of what determines the dataset's content.

    Shard counts only decide how work is split into jobs, so they are left out:
    the card (and its hash) is then identical for 1 or 3 simulation shards.
    """
    import copy

    from asteroid_ml.config import config_hash

    content = {k: copy.deepcopy(config.get(k)) for k in
               ("seed", "epoch_jd_tdb", "simulation", "observations", "survey", "dataset")}  # fmt: skip
    for population in (content.get("simulation") or {}).values():
        if isinstance(population, dict):
            population.pop("shards", None)
    if isinstance(content.get("survey"), dict):
        content["survey"].pop("shards", None)
    return config_hash(content)


# --- one sample ------------------------------------------------------------------


@dataclass(frozen=True)
class InjectionSettings:
    """Physical set-up of the injections (see the ``dataset`` config section)."""

    psf_model: str
    psf_fwhm_arcsec: float
    moffat_beta: float
    zero_point_mag: float
    gain: float
    depth_offset_mag: float
    exposure_s: float
    artefact_peak_sigma: tuple[float, float]
    cosmic_ray_length_px: tuple[float, float]
    bright_star_mag: tuple[float, float]
    bright_star_growth: tuple[float, float]
    saturation_counts: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InjectionSettings:
        s = dataset_settings(config)

        def pair(key: str) -> tuple[float, float]:
            return float(s[key]["min"]), float(s[key]["max"])

        return cls(
            psf_model=str(s["psf"]["model"]),
            psf_fwhm_arcsec=float(s["psf"]["fwhm_arcsec"]),
            moffat_beta=float(s["psf"]["moffat_beta"]),
            zero_point_mag=float(s["zero_point_mag"]),
            gain=float(s["gain_e_per_count"]),
            depth_offset_mag=float(s["depth_offset_mag"]),
            exposure_s=float(config.get("observations", {}).get("exposure_s", 30.0)),
            artefact_peak_sigma=pair("artefact_peak_sigma"),
            cosmic_ray_length_px=pair("cosmic_ray_length_px"),
            bright_star_mag=pair("bright_star_mag"),
            bright_star_growth=pair("bright_star_growth"),
            saturation_counts=float(s["saturation_counts"]),
        )


@dataclass(frozen=True)
class CutoutGeometry:
    """What injection needs from a cutout's WCS: source position and local scale."""

    x: float  # 0-based column of the target position
    y: float  # 0-based row of the target position
    cd: np.ndarray  # 2x2 pixel -> (east, north) intermediate coordinates, degrees
    pixel_scale_arcsec: float


#: Header keywords understood by the fast WCS path; anything else (SIP, PV...) -> astropy's parser.
_FAST_WCS_KEYS = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|WCSAXES|CTYPE[12]|CUNIT[12]|CRPIX[12]|CRVAL[12]|CDELT[12]"
    r"|PC[12]_[12]|CD[12]_[12]|LONPOLE|LATPOLE|RADESYS|EQUINOX|DATE-OBS|MJD-OBS|COMMENT|HISTORY|)$"
)


def _header_cards(header_text: str) -> dict[str, str | float]:
    """Keyword -> value of FITS header text (80-character cards, with or without newlines).

    A small parser for the simple WCS headers of the cutout stage: numbers become
    floats, quoted strings are unquoted; parsing stops at ``END``.
    """
    if "\n" in header_text:
        cards = header_text.splitlines()
    else:
        cards = [header_text[i : i + 80] for i in range(0, len(header_text), 80)]
    values: dict[str, str | float] = {}
    for card in cards:
        key = card[:8].strip()
        if key == "END":
            break
        if card[8:10] != "= ":
            values.setdefault(key, "")
            continue
        raw = card[10:].strip()
        if raw.startswith("'"):
            closing = raw.find("'", 1)
            values[key] = raw[1:closing].rstrip()
            continue
        raw = raw.split("/", 1)[0].strip()
        try:
            values[key] = float(raw)
        except ValueError:
            values[key] = raw
    return values


def _wcs_from_cards(cards: dict[str, str | float]) -> Any:
    """An astropy WCS built directly from parsed cards (about 50x faster than from a Header)."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [str(cards.get("CTYPE1", "")), str(cards.get("CTYPE2", ""))]
    wcs.wcs.crval = [float(cards.get("CRVAL1", 0.0)), float(cards.get("CRVAL2", 0.0))]
    wcs.wcs.crpix = [float(cards.get("CRPIX1", 0.0)), float(cards.get("CRPIX2", 0.0))]
    if any(f"CD{i}_{j}" in cards for i in (1, 2) for j in (1, 2)):
        wcs.wcs.cd = [[float(cards.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)]
    else:
        wcs.wcs.cdelt = [float(cards.get("CDELT1", 1.0)), float(cards.get("CDELT2", 1.0))]
        wcs.wcs.pc = [
            [float(cards.get(f"PC{i}_{j}", float(i == j))) for j in (1, 2)] for i in (1, 2)
        ]
    if "LONPOLE" in cards:
        wcs.wcs.lonpole = float(cards["LONPOLE"])
    if "LATPOLE" in cards:
        wcs.wcs.latpole = float(cards["LATPOLE"])
    if "RADESYS" in cards:
        wcs.wcs.radesys = str(cards["RADESYS"])
    if "EQUINOX" in cards:
        wcs.wcs.equinox = float(cards["EQUINOX"])
    wcs.wcs.set()
    return wcs


def cutout_wcs(header_text: str) -> Any:
    """The celestial WCS of a cutout from its FITS header text."""
    cards = _header_cards(header_text)
    if all(_FAST_WCS_KEYS.match(key) for key in cards):
        return _wcs_from_cards(cards)
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    header = fits.Header.fromstring(header_text, sep="\n" if "\n" in header_text else "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, naxis=2)


def _cards_with_template(
    text: str, cache: dict[str, dict[str, str | float]]
) -> dict[str, str | float]:
    """:func:`_header_cards`, parsing only CRVAL1/2 of headers that differ from a seen one just there.

    Cutout headers of one survey differ only in their centre; the rest of the
    header is parsed once per distinct layout.
    """
    i1, i2 = text.find("CRVAL1  = "), text.find("CRVAL2  = ")
    if "\n" in text or i1 < 0 or i2 < 0 or i1 % 80 or i2 % 80:
        return _header_cards(text)
    a, b = sorted((i1, i2))
    key = text[:a] + text[a + 80 : b] + text[b + 80 :]
    template = cache.get(key)
    if template is None:
        template = cache[key] = _header_cards(text)
    cards = dict(template)
    for name, at in (("CRVAL1", i1), ("CRVAL2", i2)):
        cards[name] = float(text[at + 10 : at + 80].split("/", 1)[0])
    return cards


def _is_plain_tan(cards: dict[str, str | float]) -> bool:
    """RA---TAN/DEC--TAN with the default LONPOLE (180 deg) and only linear keywords."""
    return (
        cards.get("CTYPE1") == "RA---TAN"
        and cards.get("CTYPE2") == "DEC--TAN"
        and float(cards.get("LONPOLE", 180.0)) == 180.0
        and str(cards.get("RADESYS", "ICRS")) == "ICRS"
        and all(_FAST_WCS_KEYS.match(key) for key in cards)
    )


def _linear_matrix(cards: dict[str, str | float]) -> np.ndarray:
    """Pixel offset -> intermediate world coordinates (deg): CD, or CDELT x PC."""
    if any(f"CD{i}_{j}" in cards for i in (1, 2) for j in (1, 2)):
        return np.array([[float(cards.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)])
    pc = np.array([[float(cards.get(f"PC{i}_{j}", float(i == j))) for j in (1, 2)] for i in (1, 2)])
    cdelt = np.array([float(cards.get("CDELT1", 1.0)), float(cards.get("CDELT2", 1.0))])
    return cdelt[:, None] * pc


def batch_geometry(
    headers: Sequence[str], ra_deg: np.ndarray, dec_deg: np.ndarray
) -> list[CutoutGeometry]:
    """:func:`cutout_geometry` for many cutouts, with a fast path for plain ICRS TAN headers.

    The gnomonic projection about (CRVAL1, CRVAL2) with LONPOLE = 180 deg gives
    the standard coordinates (xi towards east, eta towards north) of each target;
    the inverse of the linear matrix turns them into pixel offsets from CRPIX
    (tested equal to astropy's WCS). Other headers go through astropy (slower).
    """
    out: list[CutoutGeometry] = []
    template_cache: dict[str, dict[str, str | float]] = {}
    for i, text in enumerate(headers):
        cards = _cards_with_template(str(text), template_cache)
        if not _is_plain_tan(cards):
            out.append(cutout_geometry(str(text), float(ra_deg[i]), float(dec_deg[i])))
            continue
        # Scalar libm per cutout: the numbers cannot depend on which cutouts are
        # processed together (NumPy's SIMD trigonometry might differ in the last bit).
        a0, d0 = math.radians(float(cards["CRVAL1"])), math.radians(float(cards["CRVAL2"]))
        a, d = math.radians(float(ra_deg[i])), math.radians(float(dec_deg[i]))
        cos_da, sin_da = math.cos(a - a0), math.sin(a - a0)
        cos_c = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * cos_da
        xi = math.degrees(math.cos(d) * sin_da / cos_c)
        eta = math.degrees(
            (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * cos_da) / cos_c
        )
        cd = _linear_matrix(cards)
        (m11, m12), (m21, m22) = cd.tolist()
        det = m11 * m22 - m12 * m21
        x = float(cards.get("CRPIX1", 0.0)) - 1.0 + (m22 * xi - m12 * eta) / det  # 1-based FITS
        y = float(cards.get("CRPIX2", 0.0)) - 1.0 + (m11 * eta - m21 * xi) / det
        out.append(CutoutGeometry(x, y, cd, math.sqrt(abs(det)) * 3600.0))
    return out


def cutout_geometry(header_text: str, ra_deg: float, dec_deg: float) -> CutoutGeometry:
    """Parse a cutout's FITS WCS header and locate ``(ra_deg, dec_deg)`` on it."""
    wcs = cutout_wcs(header_text)
    if not wcs.has_celestial:
        raise ValueError(f"cutout WCS has no celestial axes: {header_text[:160]!r}")
    ((x, y),) = wcs.wcs_world2pix(np.array([[ra_deg, dec_deg]]), 0)
    cd = np.asarray(wcs.pixel_scale_matrix, dtype=np.float64)
    if wcs.wcs.lng == 1:  # latitude first: reorder the world axes to (east, north)
        cd = cd[::-1]
    scale = math.sqrt(abs(np.linalg.det(cd))) * 3600.0
    return CutoutGeometry(float(x), float(y), cd, scale)


@dataclass
class InjectionResult:
    image: np.ndarray  # float32 (S, S)
    mag: float = math.nan
    snr: float = math.nan
    trail_length_px: float = math.nan
    trail_angle_deg: float = math.nan
    blank_fraction: float = 0.0


def inject_sample(
    cutout: np.ndarray,
    geometry: CutoutGeometry,
    kind: str,
    settings: InjectionSettings,
    rng: np.random.Generator,
    v_mag: float = math.nan,
    rate_arcsec_min: float = math.nan,
    pa_deg: float = math.nan,
    sky: tuple[np.ndarray, float, float] | None = None,
    trail: tuple[float, float, int, int, np.ndarray] | None = None,
) -> InjectionResult:
    """Inject one sample of ``kind`` into ``cutout`` (``asteroid`` or a negative kind).

    Blank pixels are first filled with the cutout's median; the sky noise
    (robust MAD of the finite pixels) sets the SNR and the artefact amplitudes.
    ``sky``: ``(filled, blank_fraction, sky_sigma)`` when already computed for a
    batch (:func:`asteroid_ml.dataset.injection.sky_statistics`); ``trail``:
    ``(dx, dy, x_lo, y_lo, stamp)`` of an asteroid already rendered in a batch
    (:func:`asteroid_trails`). ``rng`` is not used for ``kind='empty'`` (may be ``None``).
    """
    if sky is None:
        stack, fractions, sigmas = inj.sky_statistics(np.asarray(cutout)[None])
        filled, blank_fraction, sigma = stack[0], float(fractions[0]), float(sigmas[0])
    else:
        filled, blank_fraction, sigma = sky
    shape = filled.shape
    psf = inj.PSF(
        settings.psf_model,
        settings.psf_fwhm_arcsec / geometry.pixel_scale_arcsec,
        settings.moffat_beta,
    )
    result = InjectionResult(image=filled, blank_fraction=blank_fraction)
    if kind == "asteroid":
        mag = float(v_mag) + settings.depth_offset_mag
        if trail is None:
            length_arcsec = float(rate_arcsec_min) * settings.exposure_s / 60.0
            dx, dy = inj.sky_motion_to_pixels(geometry.cd, float(pa_deg), length_arcsec)
            slices, profile = inj.render_trail_stamp(shape, geometry.x, geometry.y, dx, dy, psf)
        else:
            dx, dy, x_lo, y_lo, stamp = trail
            slices, profile = inj.place_stamp(shape, x_lo, y_lo, stamp)
        expected = float(inj.flux_from_mag(mag, settings.zero_point_mag)) * profile
        result.image = filled.copy()
        result.image[slices] += inj.poisson_realisation(expected, settings.gain, rng)
        result.mag = mag
        result.snr = inj.optimal_snr(expected, sigma, settings.gain)
        result.trail_length_px = math.hypot(dx, dy)
        result.trail_angle_deg = inj.trail_angle_deg(dx, dy)
    elif kind == "bright_star":
        # Photographic plates: a bright star is a saturated disc larger than the PSF.
        mag = float(rng.uniform(*settings.bright_star_mag))
        grown = psf.scaled(float(rng.uniform(*settings.bright_star_growth)))
        expected = inj.flux_from_mag(mag, settings.zero_point_mag) * inj.render_trail(
            shape, geometry.x, geometry.y, 0.0, 0.0, grown
        )
        summed = filled + inj.poisson_realisation(expected, settings.gain, rng)
        result.image = np.minimum(summed, np.maximum(settings.saturation_counts, filled))
        result.mag = mag
        result.snr = inj.optimal_snr(result.image - filled, sigma, None)
    elif kind in ("cosmic_ray", "hot_pixel", "hot_column"):
        peak = float(rng.uniform(*settings.artefact_peak_sigma)) * (sigma if sigma > 0 else 1.0)
        cx = int(np.clip(round(geometry.x), 0, shape[1] - 1))
        cy = int(np.clip(round(geometry.y), 0, shape[0] - 1))
        if kind == "cosmic_ray":
            length = float(rng.uniform(*settings.cosmic_ray_length_px))
            angle = float(rng.uniform(0.0, 180.0))
            x0 = geometry.x + float(rng.uniform(-1.0, 1.0))
            y0 = geometry.y + float(rng.uniform(-1.0, 1.0))
            artefact = inj.cosmic_ray(shape, x0, y0, length, angle, peak)
            result.trail_length_px, result.trail_angle_deg = length, angle
        elif kind == "hot_pixel":
            x = int(np.clip(cx + rng.integers(-1, 2), 0, shape[1] - 1))
            y = int(np.clip(cy + rng.integers(-1, 2), 0, shape[0] - 1))
            artefact = inj.hot_pixel(shape, x, y, peak)
        else:
            # A column defect is fainter per pixel than a hot pixel but spans the cutout.
            x = int(np.clip(cx + rng.integers(-2, 3), 0, shape[1] - 1))
            artefact = inj.hot_column(shape, x, peak / 4.0)
        result.image = filled + artefact
        result.snr = inj.optimal_snr(artefact, sigma, None)
    elif kind != "empty":
        raise ValueError(f"unknown sample kind {kind!r}")
    result.image = result.image.astype(np.float32)
    return result


def asteroid_trails(
    chunk: np.ndarray,
    geometries: Sequence[CutoutGeometry],
    kind_of: np.ndarray,
    rate_arcsec_min: np.ndarray,
    pa_deg: np.ndarray,
    settings: InjectionSettings,
) -> dict[int, tuple[float, float, int, int, np.ndarray]]:
    """Trail vectors and unit-flux stamps of the asteroids of a chunk (Gaussian PSF only).

    ``chunk``: sample ids; ``geometries``: their geometries (same order);
    ``kind_of``, ``rate_arcsec_min``, ``pa_deg``: indexed by sample id. Returns
    ``{position in chunk: (dx, dy, x_lo, y_lo, stamp)}``. Rendering many sources
    at once amortises NumPy's per-call cost; each source's stamp does not depend
    on the others (see :func:`asteroid_ml.dataset.injection.gaussian_trail_stamps`).
    """
    positions = [j for j, t in enumerate(chunk.tolist()) if kind_of[t] == "asteroid"]
    if settings.psf_model != "gaussian" or not positions:
        return {}
    x0, y0, dx, dy, sigma = (np.empty(len(positions)) for _ in range(5))
    for i, j in enumerate(positions):
        g, t = geometries[j], int(chunk[j])
        length_arcsec = float(rate_arcsec_min[t]) * settings.exposure_s / 60.0
        dx[i], dy[i] = inj.sky_motion_to_pixels(g.cd, float(pa_deg[t]), length_arcsec)
        x0[i], y0[i] = g.x, g.y
        sigma[i] = settings.psf_fwhm_arcsec / g.pixel_scale_arcsec / inj.GAUSSIAN_FWHM_PER_SIGMA
    stamps = inj.gaussian_trail_stamps(x0, y0, dx, dy, sigma)
    return {j: (float(dx[i]), float(dy[i]), *stamps[i]) for i, j in enumerate(positions)}


# --- tables ------------------------------------------------------------------------


def negative_kinds(target_ids: np.ndarray, seed: int, mix: Mapping[str, float]) -> np.ndarray:
    """Kind of each negative from a hash of its target id and the configured mix."""
    edges = np.cumsum([float(mix[k]) for k in NEGATIVE_KINDS])
    edges[-1] = np.inf
    u = np.array([unit_hash(f"{seed}:kind:{int(t)}") for t in target_ids])
    return np.asarray(NEGATIVE_KINDS, dtype=object)[np.searchsorted(edges, u, side="right")]


def read_targets(path: str | os.PathLike[str]) -> pd.DataFrame:
    targets = read_table(path, TARGET_COLUMNS, "cutout targets")
    ids = targets["target_id"].to_numpy()
    if not np.array_equal(np.sort(ids), np.arange(ids.size)):
        raise ValueError(f"{path}: target_id must be 0..N-1 without gaps or repeats")
    return targets.sort_values("target_id").reset_index(drop=True)


def read_elements(
    paths: Sequence[str | os.PathLike[str]], seed: int, fractions: Mapping[str, float]
) -> pd.DataFrame:
    """The tabular impactor dataset: one row per simulated object, split by object hash."""
    frames = [read_table(p, ELEMENT_COLUMNS, "simulation shard") for p in paths]
    if not frames:
        raise ValueError("no simulation shards given")
    table = pd.concat(frames, ignore_index=True)
    table["object_id"] = table["object_id"].astype(str)
    table["population"] = table["population"].astype(str)
    if table["object_id"].duplicated().any():
        dup = table.loc[table["object_id"].duplicated(), "object_id"].iloc[0]
        raise ValueError(f"simulation shards: object_id {dup!r} appears more than once")
    table = table.sort_values(["population", "object_id"], kind="stable").reset_index(drop=True)
    table["split"] = object_splits(table["object_id"], seed, fractions)
    table["label"] = (table["population"] == "impactor").astype(np.int64)
    table["q_au"] = table["a_au"] * (1.0 - table["e"])
    columns = ["object_id", "split", "label", "population", "a_au", "e", "i_deg", "om_deg",
               "w_deg", "ma_deg", "q_au", "H_mag"]  # fmt: skip
    return table[columns]


def build_samples(
    targets: pd.DataFrame, ephemerides: pd.DataFrame, seed: int, settings: Mapping[str, Any]
) -> pd.DataFrame:
    """Per-sample metadata (before injection): kind, label, split, order, ephemeris values."""
    samples = targets.rename(columns={"target_id": "sample_id"}).copy()
    positive = (samples["kind"] == "positive").to_numpy()
    eph = ephemerides.set_index(["object_id", "obs_index"])
    keys = pd.MultiIndex.from_arrays(
        [samples.loc[positive, "object_id"], samples.loc[positive, "obs_index"]]
    )
    missing = ~keys.isin(eph.index)
    if missing.any():
        oid, obs = keys[np.flatnonzero(missing)[0]]
        raise ValueError(
            f"cutout targets: positive ({oid}, obs {obs}) not found in the ephemerides"
        )
    matched = eph.loc[keys]
    for column in ("rate_arcsec_min", "pa_deg", "V_mag"):
        values = np.full(len(samples), np.nan)
        values[positive] = matched[column].to_numpy(dtype=np.float64)
        if not np.isfinite(values[positive]).all():
            bad = keys[np.flatnonzero(~np.isfinite(values[positive]))[0]]
            raise ValueError(f"ephemerides: {column} is not finite for ({bad[0]}, obs {bad[1]})")
        samples[column] = values

    kinds = np.empty(len(samples), dtype=object)
    kinds[positive] = "asteroid"
    kinds[~positive] = negative_kinds(samples.loc[~positive, "sample_id"].to_numpy(), seed,
                                      settings["negative_mix"])  # fmt: skip
    samples["kind"] = kinds
    samples["label"] = positive.astype(np.int64)
    split = np.empty(len(samples), dtype=object)
    fractions = settings["split_fractions"]
    split[positive] = object_splits(samples.loc[positive, "object_id"], seed, fractions)
    split[~positive] = negative_splits(samples.loc[~positive, "sample_id"], seed, fractions)
    samples["split"] = split
    samples["order_key"] = order_keys(samples["sample_id"], seed)
    samples["split_rank"] = samples["split"].map({s: i for i, s in enumerate(SPLITS)})
    samples = samples.sort_values(["split_rank", "order_key"], kind="stable").reset_index(drop=True)
    samples["index_in_split"] = samples.groupby("split_rank").cumcount().astype(np.int64)
    return samples.drop(columns=["order_key", "split_rank"])


def check_cutout_shards(
    targets: pd.DataFrame,
    cutout_npys: Sequence[str | os.PathLike[str]],
    cutout_manifests: Sequence[str | os.PathLike[str]],
    size: int,
) -> None:
    """Check every cutout shard before any work (files, shapes, dtype, target ids).

    Shard ``k`` is ``cutout_npys[k]`` / ``cutout_manifests[k]`` and must hold the
    targets with ``cutout_shard == k`` in ``target_id`` order, as float32 ``(n_k, S, S)``.
    """
    import pyarrow.parquet as pq

    if len(cutout_npys) != len(cutout_manifests):
        raise ValueError(
            f"{len(cutout_npys)} cutout arrays but {len(cutout_manifests)} cutout manifests"
        )
    n_shards = int(targets["cutout_shard"].max()) + 1 if len(targets) else 0
    if len(cutout_npys) < n_shards:
        raise FileNotFoundError(
            f"cutout targets use {n_shards} cutout shards but only {len(cutout_npys)} were given"
        )
    for k, (npy, manifest_path) in enumerate(zip(cutout_npys, cutout_manifests, strict=True)):
        if not os.path.exists(npy):
            raise FileNotFoundError(f"cutout shard {k} missing: {npy}")
        try:
            array = np.load(npy, mmap_mode="r")
        except ValueError as exc:
            raise ValueError(f"{npy}: not a readable .npy array ({exc})") from exc
        expected_ids = targets.loc[targets["cutout_shard"] == k, "target_id"].to_numpy()
        expected_shape = (expected_ids.size, size, size)
        if array.shape != expected_shape:
            raise ValueError(
                f"{npy}: cutout shard {k} has shape {array.shape}, expected {expected_shape} "
                f"({expected_ids.size} targets of {size}x{size} pixels)"
            )
        if array.dtype != np.float32:
            raise ValueError(f"{npy}: cutout shard {k} has dtype {array.dtype}, expected float32")
        manifest = read_table(manifest_path, ("target_id",), f"cutout shard {k} manifest")
        if "wcs_header" not in pq.read_schema(manifest_path).names:
            raise ValueError(f"{manifest_path}: cutout shard {k} manifest lacks column wcs_header")
        if not np.array_equal(manifest["target_id"].to_numpy(), expected_ids):
            raise ValueError(
                f"{manifest_path}: target_id column does not list the targets of cutout shard {k} "
                "in target_id order (stale cutouts for another plan?)"
            )


NUMBER_FIELDS = ("mag", "snr", "trail_length_px", "trail_angle_deg", "blank_fraction")


@dataclass(frozen=True)
class _Block:
    """Up to :data:`CHUNK` consecutive cutouts of one shard, with what their injection needs."""

    npy: str
    lo: int  # first row in the cutout shard
    ids: np.ndarray  # sample ids (= target ids) of the rows
    headers: np.ndarray  # their FITS WCS header text
    kinds: np.ndarray
    splits: np.ndarray
    index: np.ndarray  # row in the split array
    ra: np.ndarray
    dec: np.ndarray
    vmag: np.ndarray
    rate: np.ndarray
    pa: np.ndarray
    seed: int
    physics: InjectionSettings
    outputs: dict[str, str]  # split -> (temporary) .npy path, already sized


def _inject_block(block: _Block) -> dict[str, np.ndarray]:
    """Inject one block and write its images into the split arrays (any process).

    Every number of a sample is computed from that sample alone (exact or scalar
    operations, its own random stream), so how samples are grouped into shards,
    blocks or worker processes cannot change a bit of the output.
    """
    cutouts = np.load(block.npy, mmap_mode="r")[block.lo : block.lo + block.ids.size]
    filled, blank_fraction, sigma = inj.sky_statistics(cutouts)
    geometries = batch_geometry(block.headers, block.ra, block.dec)
    local = np.arange(block.ids.size)
    trails = asteroid_trails(local, geometries, block.kinds, block.rate, block.pa, block.physics)
    arrays = {s: np.load(block.outputs[s], mmap_mode="r+") for s in set(block.splits.tolist())}
    numbers = {name: np.full(block.ids.size, np.nan) for name in NUMBER_FIELDS}
    for j, t in enumerate(block.ids.tolist()):
        kind = block.kinds[j]
        rng = None if kind == "empty" else rng_for(block.seed, "dataset.inject", t)
        result = inject_sample(
            None, geometries[j], kind, block.physics, rng,
            v_mag=block.vmag[j], rate_arcsec_min=block.rate[j], pa_deg=block.pa[j],
            sky=(filled[j], float(blank_fraction[j]), float(sigma[j])), trail=trails.get(j),
        )  # fmt: skip
        arrays[block.splits[j]][block.index[j]] = result.image
        for name in NUMBER_FIELDS:
            numbers[name][j] = getattr(result, name)
    # No msync (flush) here: the pages are shared through the page cache with every
    # other process and with the final rename; forcing them to disk per block is slow.
    arrays.clear()
    return numbers


# --- the stage --------------------------------------------------------------------------


def assemble_dataset(
    config: Mapping[str, Any],
    targets_path: str | os.PathLike[str],
    cutout_npys: Sequence[str | os.PathLike[str]],
    cutout_manifests: Sequence[str | os.PathLike[str]],
    ephemeris_paths: Sequence[str | os.PathLike[str]],
    sim_paths: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    workers: int = 1,
) -> dict[str, Any]:
    """Write ``{train,val,test}.npy``, ``manifest.parquet``, ``elements.parquet``, ``card.json``.

    ``workers`` processes inject blocks of cutouts in parallel (the rule passes
    its ``threads``); the outputs are byte-identical for any number of workers.

    Returns the card (also written to ``card.json``), including the measured
    injection throughput under ``timing`` (not written: it would break the
    byte-identity of the card between runs).
    """
    import scipy.special  # noqa: F401  (imported here so that the timings below exclude it)

    from asteroid_ml import __version__
    from asteroid_ml.dataset.targets import read_ephemerides

    start = time.perf_counter()
    seed = int(config["seed"])
    settings = dataset_settings(config)
    physics = InjectionSettings.from_config(config)
    size = int(config["survey"]["cutout_size"])
    out = Path(output_dir)

    targets = read_targets(targets_path)
    ephemerides = read_ephemerides(ephemeris_paths, ("population", *EPHEMERIS_COLUMNS))
    elements = read_elements(sim_paths, seed, settings["split_fractions"])
    samples = build_samples(targets, ephemerides, seed, settings)
    check_cutout_shards(targets, cutout_npys, cutout_manifests, size)

    # Where each target sits in its cutout shard, and where its sample goes.
    samples["cutout_shard"] = samples["cutout_shard"].astype(np.int64)
    cutout_index = np.empty(len(targets), dtype=np.int64)
    for k in range(len(cutout_npys)):
        ids = targets.loc[targets["cutout_shard"] == k, "target_id"].to_numpy()
        cutout_index[ids] = np.arange(ids.size)
    samples["cutout_index"] = cutout_index[samples["sample_id"].to_numpy()]
    # Column arrays indexed by sample id (= target id, 0..N-1): no pandas in the hot loop.
    by_id = samples.sort_values("sample_id")
    kind_of = by_id["kind"].to_numpy(dtype=object)
    split_of = by_id["split"].to_numpy(dtype=object)
    index_of = by_id["index_in_split"].to_numpy(dtype=np.int64)
    ra_of, dec_of = by_id["ra_deg"].to_numpy(np.float64), by_id["dec_deg"].to_numpy(np.float64)
    vmag_of, rate_of = (
        by_id["V_mag"].to_numpy(np.float64),
        by_id["rate_arcsec_min"].to_numpy(np.float64),
    )
    pa_of = by_id["pa_deg"].to_numpy(np.float64)
    split_sizes = {s: int((samples["split"] == s).sum()) for s in SPLITS}

    # Per-sample numbers, indexed by sample id (memory: a few floats per sample).
    numbers = {name: np.full(len(targets), np.nan) for name in NUMBER_FIELDS}
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        outputs = {}
        for split in SPLITS:
            outputs[split] = str(stack.enter_context(atomic_output(out / f"{split}.npy")))
            shape = (split_sizes[split], size, size)
            np.lib.format.open_memmap(outputs[split], mode="w+", dtype=np.float32, shape=shape)
        n_done = 0
        with contextlib.ExitStack() as pool_stack:
            pool = None
            if workers > 1:
                from concurrent.futures import ProcessPoolExecutor

                pool = pool_stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            # One shard at a time (its WCS headers in memory), its blocks in parallel.
            for k, (npy, manifest_path) in enumerate(
                zip(cutout_npys, cutout_manifests, strict=True)
            ):
                manifest = read_table(manifest_path, CUTOUT_MANIFEST_COLUMNS, f"cutout shard {k}")
                ids = manifest["target_id"].to_numpy(np.int64)
                headers = manifest["wcs_header"].to_numpy(dtype=object)
                blocks = []
                for lo in range(0, ids.size, CHUNK):
                    chunk = ids[lo : lo + CHUNK]
                    blocks.append(_Block(
                        npy=str(npy), lo=lo, ids=chunk, headers=headers[lo : lo + CHUNK],
                        kinds=kind_of[chunk], splits=split_of[chunk], index=index_of[chunk],
                        ra=ra_of[chunk], dec=dec_of[chunk], vmag=vmag_of[chunk],
                        rate=rate_of[chunk], pa=pa_of[chunk], seed=seed, physics=physics,
                        outputs=outputs,
                    ))  # fmt: skip
                parallel = pool is not None and len(blocks) > 1
                done = pool.map(_inject_block, blocks) if parallel else map(_inject_block, blocks)
                for block, block_numbers in zip(blocks, done, strict=True):
                    for name in NUMBER_FIELDS:
                        numbers[name][block.ids] = block_numbers[name]
                n_done += ids.size
                log.info("cutout shard %d: %d samples injected (%d/%d)", k, ids.size, n_done,
                         len(targets))  # fmt: skip
    t_inject = time.perf_counter() - t0

    sample_ids = samples["sample_id"].to_numpy(np.int64)
    for name, values in numbers.items():
        samples[name] = values[sample_ids]
    manifest_table = samples[list(MANIFEST_COLUMNS)].reset_index(drop=True)
    content_hash = content_config_hash(config)
    metadata = {"stage": "assemble_dataset", "config_hash": content_hash, "units": MANIFEST_UNITS}
    write_parquet(manifest_table, out / "manifest.parquet", metadata=metadata)
    write_parquet(
        elements, out / "elements.parquet",
        metadata={"stage": "assemble_dataset", "config_hash": content_hash,
                  "label": "1 = known impactor, 0 = background near-Earth asteroid"},
    )  # fmt: skip

    card = build_card(manifest_table, elements, out, content_hash, __version__, config, size)
    write_json(card, out / "card.json")
    elapsed = time.perf_counter() - start
    rate = n_done / t_inject if t_inject > 0 else math.inf
    log.info(
        "dataset: %d samples (%s) in %.1f s; injection %.0f samples/s",
        len(manifest_table), ", ".join(f"{s} {split_sizes[s]}" for s in SPLITS), elapsed, rate,
    )  # fmt: skip
    return {**card, "timing": {"total_s": elapsed, "inject_s": t_inject, "samples_per_s": rate}}


def build_card(
    manifest: pd.DataFrame,
    elements: pd.DataFrame,
    out: Path,
    content_hash: str,
    version: str,
    config: Mapping[str, Any],
    size: int,
) -> dict[str, Any]:
    """The dataset card: counts per class/kind and split, provenance, file checksums."""
    counts: dict[str, Any] = {}
    for split in SPLITS:
        part = manifest[manifest["split"] == split]
        counts[split] = {
            "n": len(part),
            "label": {str(v): int((part["label"] == v).sum()) for v in (0, 1)},
            "kind": {k: int((part["kind"] == k).sum()) for k in ("asteroid", *NEGATIVE_KINDS)},
            "objects": int(part.loc[part["label"] == 1, "object_id"].nunique()),
        }
    element_counts = {
        split: {str(v): int(((elements["split"] == split) & (elements["label"] == v)).sum())
                for v in (0, 1)}
        for split in SPLITS
    }  # fmt: skip
    positives = manifest[manifest["label"] == 1]
    snr = positives["snr"].to_numpy()
    files = {}
    for name in (*(f"{s}.npy" for s in SPLITS), "manifest.parquet", "elements.parquet"):
        path = out / name
        entry: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if name.endswith(".npy"):
            entry["shape"] = list(np.load(path, mmap_mode="r").shape)
            entry["dtype"] = "float32"
        files[name] = entry
    return {
        "name": "asteroid-ml detection and impactor datasets",
        "code_version": version,
        "config_hash": content_hash,
        "config_hash_note": "SHA-256 of the seed, epoch, simulation, observations, survey and "
        "dataset sections without shard counts (they do not change the content)",
        "seed": int(config["seed"]),
        "cutout_size": size,
        "counts": counts,
        "counts_total": {
            "n": len(manifest),
            "label": {str(v): int((manifest["label"] == v).sum()) for v in (0, 1)},
        },
        "elements_counts": element_counts,
        "positive_snr_quantiles": {
            q: float(np.nanquantile(snr, float(q))) if snr.size else None
            for q in ("0.05", "0.25", "0.5", "0.75", "0.95")
        },
        "positive_fraction_snr_ge_10": float(np.mean(snr >= 10)) if snr.size else None,
        "injection": dataset_settings(config)
        | {"exposure_s": float(config.get("observations", {}).get("exposure_s", 30.0))},
        "files": files,
    }
