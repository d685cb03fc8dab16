"""Dataset stage: injection physics, splits, storage, reproducibility, errors.

Small synthetic simulation/ephemeris inputs (README contracts) are cut out of
the real DSS2 tiles shipped in resources/hips/DSS2Red with the HiPS stage's
extractor, so the injections land on real sky pixels.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asteroid_ml.config import ConfigError, section_with_defaults, validate_config
from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA
from asteroid_ml.dataset import injection as inj
from asteroid_ml.dataset import synthetic as syn
from asteroid_ml.dataset.assemble import assemble_dataset
from asteroid_ml.dataset.injection import InjectionSettings, inject_sample
from asteroid_ml.dataset.sky import robust_sigma
from asteroid_ml.dataset.splits import object_splits
from asteroid_ml.hips.targets import plan_cutout_targets
from asteroid_ml.hips.wcs import CutoutGeometry, cutout_geometry
from asteroid_ml.io import sha256_file

REPO = Path(__file__).resolve().parents[1]
SURVEY = REPO / "resources" / "hips" / "DSS2Red"
DATASET_FILES = ("train.npy", "val.npy", "test.npy", "manifest.parquet", "elements.parquet")

hips = pytest.importorskip("asteroid_ml.hips")


def make_config(test_config_raw: dict, cutout_shards: int = 2, sim_shards: int = 2) -> dict:
    raw = copy.deepcopy(test_config_raw)
    raw["survey"]["location"] = str(SURVEY)
    raw["survey"]["shards"] = cutout_shards
    raw["survey"]["cutout_size"] = 32
    for population in ("impactor", "background"):
        raw["simulation"][population]["shards"] = sim_shards
    return validate_config(raw)


def build(config: dict, workdir: Path, n_imp: int = 12, n_bkg: int = 18, workers: int = 1) -> Path:
    """Run plan -> cutouts -> assembly on a synthetic population; return the dataset folder."""
    sim, eph = syn.fake_population(n_imp, n_bkg, n_obs=2, seed=11)
    shards = {p: config["simulation"][p]["shards"] for p in ("impactor", "background")}
    sim_paths = syn.write_population_shards(sim, workdir / "sim", shards)
    eph_paths = syn.write_population_shards(eph, workdir / "eph", shards)
    targets_path = workdir / "cutouts" / "targets.parquet"
    plan_cutout_targets(config, eph_paths, targets_path, str(SURVEY))
    npys, manifests = syn.write_cutout_shards(
        config, targets_path, str(SURVEY), workdir / "cutouts"
    )
    out = workdir / "dataset"
    assemble_dataset(config, targets_path, npys, manifests, eph_paths, sim_paths, out, workers)
    return out


@pytest.fixture(scope="module")
def raw_config() -> dict:
    import yaml

    with open(REPO / "config" / "test.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def built(tmp_path_factory, raw_config) -> tuple[dict, Path]:
    config = make_config(raw_config)
    return config, build(config, tmp_path_factory.mktemp("ds"))


def real_cutouts(n: int, size: int = 32) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """``n`` real DSS2 cutouts at random covered positions (fixed seed)."""
    from asteroid_ml.hips.targets import random_covered_positions
    from asteroid_ml.seeds import rng_for

    survey = hips.open_survey(str(SURVEY))
    ra, dec = random_covered_positions(
        np.asarray(survey.available_tiles()), survey.order, survey.frame,
        [rng_for(3, "test", i) for i in range(n)],
    )  # fmt: skip
    batch = hips.extract_cutouts(survey, ra, dec, size)
    return np.asarray(batch.images, dtype=np.float32), list(batch.headers), ra, dec


# --- physics ---------------------------------------------------------------------------


def settings_for(**changes) -> InjectionSettings:
    """Default injection settings with magnitudes injected as given (no depth offset)."""
    base = InjectionSettings.from_config(
        {
            "observations": {"exposure_s": 30.0},
            "dataset": section_with_defaults("dataset", {"depth_offset_mag": 0.0}),
        }
    )
    return InjectionSettings(**{**base.__dict__, **changes})


def test_rendered_trail_has_unit_flux_and_psf_width():
    psf = inj.PSF("gaussian", fwhm_px=3.0)
    image = inj.render_trail((64, 64), 31.3, 30.8, 0.0, 0.0, psf)
    assert image.sum() == pytest.approx(1.0, abs=1e-9)
    xc, yc, length, _ = inj.image_moments(image)
    assert (xc, yc) == pytest.approx((31.3, 30.8), abs=1e-6)
    # pixel integration adds 1/12 px^2 to the variance of the Gaussian
    sigma = 3.0 / GAUSSIAN_FWHM_PER_SIGMA
    y, x = np.mgrid[0:64, 0:64]
    var_x = (image * (x - xc) ** 2).sum()
    assert var_x == pytest.approx(sigma**2 + 1 / 12, rel=1e-3)
    moffat = inj.render_trail((64, 64), 31.3, 30.8, 0.0, 0.0, inj.PSF("moffat", 3.0, beta=4.0))
    assert moffat.sum() == pytest.approx(1.0, abs=0.01)  # wings beyond the image are lost


def test_flux_recovered_by_aperture_photometry_on_flat_sky():
    """Aperture photometry (r = 6 px, median annulus 10-15 px) recovers the injected flux to 1.5 %."""
    rng = np.random.default_rng(0)
    size = 64
    sky = (1000.0 + rng.normal(0, 10.0, (size, size))).astype(np.float32)
    geometry = CutoutGeometry(31.5, 31.5, np.diag([-1.0, 1.0]) / 3600.0, 1.0)
    settings = settings_for(psf_fwhm_arcsec=2.5, zero_point_mag=25.0)
    mag = 12.5  # 1e5 counts: Poisson 0.3 %, sky noise in the aperture 0.1 %
    res = inject_sample(sky, geometry, "asteroid", settings, np.random.default_rng(1),
                        v_mag=mag, rate_arcsec_min=8.0, pa_deg=30.0)  # fmt: skip
    y, x = np.mgrid[0:size, 0:size]
    r = np.hypot(x - 31.5, y - 31.5)
    background = np.median(res.image[(r > 10) & (r < 15)])
    flux = (res.image[r < 6] - background).sum()
    expected = inj.flux_from_mag(mag, 25.0)
    assert flux == pytest.approx(expected, rel=0.015)
    assert res.trail_length_px == pytest.approx(8.0 * 30.0 / 60.0, rel=1e-9)


def test_flux_recovered_on_real_dss2_pixels():
    """On real DSS2 cutouts the injected flux is recovered within 4 sigma of the photon noise.

    Photometry on (injected - original) in a 3-px aperture: the only differences
    are the source, its Poisson noise and the median fill of blank pixels, so any
    loss or gain of flux by the injection code shows up here.
    """
    images, headers, ra, dec = real_cutouts(8)
    settings = settings_for()
    checked = 0
    for i in range(len(images)):
        if not np.isfinite(images[i]).all():
            continue
        geometry = cutout_geometry(headers[i], ra[i], dec[i])
        assert geometry.pixel_scale_arcsec == pytest.approx(51.5, rel=0.02)
        assert (geometry.x, geometry.y) == pytest.approx((15.5, 15.5), abs=1e-6)
        res = inject_sample(images[i], geometry, "asteroid", settings,
                            np.random.default_rng(i), v_mag=17.0, rate_arcsec_min=50.0,
                            pa_deg=45.0 * i)  # fmt: skip
        y, x = np.mgrid[0:32, 0:32]
        aperture = np.hypot(x - geometry.x, y - geometry.y) < 3.5
        measured = float((res.image - images[i])[aperture].sum())
        expected = float(inj.flux_from_mag(17.0, settings.zero_point_mag))
        # the PSF (FWHM 0.87 px) + a 0.5 px trail: 99.9 % inside 3.5 px
        tolerance = 4.0 * math.sqrt(expected / settings.gain) + 0.002 * expected
        assert abs(measured - expected) < tolerance, (i, measured, expected)
        assert 5 < res.snr < 1000
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("pa_deg", [0.0, 30.0, 90.0, 135.0, 250.0])
def test_trail_length_and_angle_recovered_from_moments(pa_deg):
    """A 12-px trail on a 1"/px TAN cutout: moments give its length within 3 %, angle within 1 deg."""
    header = hips.tan_header(150.0, 20.0, 64, 1.0 / 3600.0)
    geometry = cutout_geometry(header, 150.0, 20.0)
    settings = settings_for(psf_fwhm_arcsec=2.0, zero_point_mag=30.0, gain=1e6)
    rate = 12.0 * 60.0 / 30.0  # arcsec/min giving 12 arcsec = 12 px in 30 s
    res = inject_sample(np.zeros((64, 64), np.float32), geometry, "asteroid", settings,
                        np.random.default_rng(0), v_mag=15.0, rate_arcsec_min=rate,
                        pa_deg=pa_deg)  # fmt: skip
    _, _, length, angle = inj.image_moments(res.image.astype(np.float64))
    assert length == pytest.approx(12.0, rel=0.03)
    assert res.trail_length_px == pytest.approx(12.0, rel=1e-3)
    # FITS orientation: north up (+y), east left (-x); PA from north through east.
    expected_angle = math.degrees(math.atan2(math.cos(math.radians(pa_deg)),
                                             -math.sin(math.radians(pa_deg)))) % 180.0  # fmt: skip
    assert abs((angle - expected_angle + 90) % 180 - 90) < 1.0
    assert abs((res.trail_angle_deg - expected_angle + 90) % 180 - 90) < 1e-6


def test_motion_direction_matches_astropy_offsets():
    """sky_motion_to_pixels agrees with SkyCoord.directional_offset_by through the WCS."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from asteroid_ml.hips.wcs import cutout_wcs

    header = hips.tan_header(80.0, -30.0, 64, 2.0 / 3600.0)
    wcs = cutout_wcs(header)
    geometry = cutout_geometry(header, 80.0, -30.0)
    start = SkyCoord(80.0 * u.deg, -30.0 * u.deg)
    for pa in (0.0, 60.0, 90.0, 200.0):
        end = start.directional_offset_by(pa * u.deg, 20.0 * u.arcsec)
        x1, y1 = wcs.world_to_pixel_values(end.ra.deg, end.dec.deg)
        dx, dy = inj.sky_motion_to_pixels(geometry.cd, pa, 20.0)
        assert (dx, dy) == pytest.approx((x1 - geometry.x, y1 - geometry.y), abs=1e-3)
    dx, dy = inj.sky_motion_to_pixels(geometry.cd, 90.0, 20.0)
    assert dx < -9.9 and abs(dy) < 1e-6  # east is to the left


def test_blank_pixels_filled_with_median_and_recorded():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    image[0, :2] = np.nan
    geometry = CutoutGeometry(1.5, 1.5, np.diag([-1.0, 1.0]) / 3600.0, 1.0)
    res = inject_sample(image, geometry, "empty", settings_for(), np.random.default_rng(0))
    assert res.blank_fraction == pytest.approx(2 / 16)
    assert np.isfinite(res.image).all()
    assert res.image[0, 0] == np.median(image[np.isfinite(image)])


@pytest.mark.parametrize("kind", ["cosmic_ray", "hot_pixel", "hot_column", "bright_star"])
def test_hard_negatives_add_signal_near_centre(kind):
    images, headers, ra, dec = real_cutouts(1)
    image = np.nan_to_num(images[0], nan=float(np.nanmedian(images[0])))
    geometry = cutout_geometry(headers[0], ra[0], dec[0])
    res = inject_sample(image, geometry, kind, settings_for(), np.random.default_rng(5))
    added = res.image.astype(np.float64) - image
    assert added.max() > 0 and res.snr > 3
    ys, xs = np.nonzero(added > 0.5 * added.max())
    assert abs(np.median(xs) - 15.5) <= 3.5
    if kind == "hot_column":
        assert len(set(xs)) == 1 and len(ys) == 32
    if kind == "bright_star":
        assert res.image.max() <= max(20000.0, image.max()) and added.sum() > 1e5


# --- the stage ------------------------------------------------------------------------------


def test_outputs_follow_the_contract(built):
    config, out = built
    manifest = pd.read_parquet(out / "manifest.parquet")
    expected = ["sample_id", "split", "index_in_split", "label", "kind", "object_id",
                "population", "ra_deg", "dec_deg", "mag", "snr", "rate_arcsec_min", "pa_deg",
                "trail_length_px", "trail_angle_deg", "cutout_shard", "cutout_index"]  # fmt: skip
    assert list(manifest.columns[: len(expected)]) == expected
    assert manifest["sample_id"].is_unique
    for split in ("train", "val", "test"):
        array = np.load(out / f"{split}.npy", mmap_mode="r")
        part = manifest[manifest["split"] == split]
        assert array.shape == (len(part), 32, 32) and array.dtype == np.float32
        assert sorted(part["index_in_split"]) == list(range(len(part)))
        assert np.isfinite(array).all()
    positives = manifest[manifest["label"] == 1]
    assert (positives["kind"] == "asteroid").all()
    assert positives[["mag", "snr", "trail_length_px", "trail_angle_deg"]].notna().all().all()
    assert len(manifest) == 2 * len(positives)  # negatives_per_positive = 1
    card = __import__("json").loads((out / "card.json").read_text())
    for name in DATASET_FILES:
        assert card["files"][name]["sha256"] == sha256_file(out / name)
    assert sum(card["counts"][s]["n"] for s in ("train", "val", "test")) == len(manifest)
    elements = pd.read_parquet(out / "elements.parquet")
    assert list(elements.columns) == ["object_id", "split", "label", "population", "a_au", "e",
                                      "i_deg", "om_deg", "w_deg", "ma_deg", "q_au", "H_mag"]  # fmt: skip
    assert len(elements) == 30 and elements["label"].sum() == 12


def test_positive_pixels_are_cutout_plus_source(built, tmp_path):
    """The stored image of a positive is its cutout plus a positive source at the centre."""
    config, out = built
    manifest = pd.read_parquet(out / "manifest.parquet")
    row = manifest[(manifest["label"] == 1)].sort_values("snr").iloc[-1]
    stored = np.load(out / f"{row.split}.npy", mmap_mode="r")[int(row.index_in_split)]
    cutout = np.load(out.parent / "cutouts" / f"shard-{int(row.cutout_shard):04d}.npy",
                     mmap_mode="r")[int(row.cutout_index)]  # fmt: skip
    added = stored.astype(np.float64) - np.nan_to_num(cutout, nan=np.nanmedian(cutout))
    assert np.unravel_index(np.argmax(added), added.shape) in {
        (15, 15),
        (15, 16),
        (16, 15),
        (16, 16),
    }


def test_no_object_in_two_splits(built):
    config, out = built
    manifest = pd.read_parquet(out / "manifest.parquet")
    positives = manifest[manifest["label"] == 1]
    assert (positives.groupby("object_id")["split"].nunique() == 1).all()
    assert set(positives["split"]) == {"train", "val", "test"}
    elements = pd.read_parquet(out / "elements.parquet")[["object_id", "split"]]
    joined = positives.merge(elements, on="object_id", suffixes=("", "_elements"))
    assert len(joined) == len(positives)
    assert (joined["split"] == joined["split_elements"]).all()


def test_split_fractions_follow_config():
    ids = [f"obj-{i}" for i in range(20000)]
    splits = object_splits(ids, 7, {"train": 0.6, "val": 0.2, "test": 0.2})
    counts = pd.Series(splits).value_counts(normalize=True)
    assert counts["train"] == pytest.approx(0.6, abs=0.015)
    assert counts["val"] == pytest.approx(0.2, abs=0.015)
    assert list(object_splits(ids[:5], 7, {"train": 0.6, "val": 0.2, "test": 0.2})) == list(
        splits[:5]
    )


def test_identical_hashes_for_1_vs_3_shards(built, raw_config, tmp_path, monkeypatch):
    """Same config and seed: byte-identical outputs for 1 vs 3 simulation and cutout shards.

    Simulation shards change nothing at all (card included). Cutout shards change only
    the provenance columns cutout_shard/cutout_index of the manifest.
    """
    config_2, out_2 = built
    config_1 = make_config(raw_config, cutout_shards=1, sim_shards=1)
    config_3 = make_config(raw_config, cutout_shards=3, sim_shards=3)
    out_1 = build(config_1, tmp_path / "one")
    out_3 = build(config_3, tmp_path / "three")
    for name in ("train.npy", "val.npy", "test.npy", "elements.parquet"):
        digests = {sha256_file(out / name) for out in (out_1, out_2, out_3)}
        assert len(digests) == 1, name
    provenance = ["cutout_shard", "cutout_index"]
    tables = [pd.read_parquet(out / "manifest.parquet").drop(columns=provenance)
              for out in (out_1, out_3)]  # fmt: skip
    pd.testing.assert_frame_equal(tables[0], tables[1])

    # Only simulation shards differ: every file, card included, is byte-identical.
    config_1c = make_config(raw_config, cutout_shards=3, sim_shards=1)
    out_1c = build(config_1c, tmp_path / "one_sim")
    for name in (*DATASET_FILES, "card.json"):
        assert sha256_file(out_1c / name) == sha256_file(out_3 / name), name
    # and a second run of the same config gives the same bytes, even when the
    # cutouts are processed in other groups (blocks of 7 instead of 1,024) by 2 processes
    import asteroid_ml.dataset.assemble as assemble_module

    monkeypatch.setattr(assemble_module, "CHUNK", 7)
    out_again = build(config_3, tmp_path / "three_again", workers=2)
    for name in (*DATASET_FILES, "card.json"):
        assert sha256_file(out_again / name) == sha256_file(out_3 / name), name


def test_plan_targets(built, raw_config, tmp_path):
    config, out = built
    targets = pd.read_parquet(out.parent / "cutouts" / "targets.parquet")
    assert list(targets["target_id"]) == list(range(len(targets)))
    positives = targets[targets["kind"] == "positive"]
    assert len(positives) == 60 and (targets["kind"] == "negative").sum() == 60
    survey = hips.open_survey(str(SURVEY))
    covered = set(np.asarray(survey.available_tiles()).tolist())
    assert set(targets["tile"]).issubset(covered)
    _, eph = syn.fake_population(12, 18, n_obs=2, seed=11)
    merged = positives.merge(eph, on=["object_id", "obs_index"], suffixes=("", "_eph"))
    own = merged["sky_source"] == "ephemeris"
    assert np.allclose(merged.loc[own, "ra_deg"], merged.loc[own, "ra_deg_eph"])
    assert (merged.loc[~own, "ra_deg"] != merged.loc[~own, "ra_deg_eph"]).all()
    sizes = targets.groupby("cutout_shard").size()
    assert len(sizes) == 2 and sizes.max() - sizes.min() <= 1
    # each shard reads few tiles: at most one tile is shared between shards
    tiles_per_shard = targets.groupby("cutout_shard")["tile"].apply(set)
    assert len(tiles_per_shard[0] & tiles_per_shard[1]) <= 1


# --- errors ----------------------------------------------------------------------------------


def rerun_with(built, tmp_path, mutate):
    config, out = built
    cut = out.parent / "cutouts"
    npys = sorted(str(p) for p in cut.glob("shard-*.npy"))
    manifests = [p.replace(".npy", ".parquet") for p in npys]
    npys, manifests = mutate(npys, manifests)
    eph = sorted(str(p) for p in (out.parent / "eph").rglob("*.parquet"))
    sim = sorted(str(p) for p in (out.parent / "sim").rglob("*.parquet"))
    assemble_dataset(config, cut / "targets.parquet", npys, manifests, eph, sim, tmp_path / "ds")


def test_error_on_missing_cutout_shard(built, tmp_path):
    def drop(npys, manifests):
        return [npys[0], str(tmp_path / "shard-0001.npy")], manifests

    with pytest.raises(FileNotFoundError, match=r"shard-0001\.npy"):
        rerun_with(built, tmp_path, drop)
    assert not (tmp_path / "ds" / "train.npy").exists()


def test_error_on_same_size_corrupted_cutout_shard(built, tmp_path):
    """A shard overwritten in place with absurd values (same size) is named, no output left."""

    def corrupt(npys, manifests):
        bad = tmp_path / "shard-0001.npy"
        array = np.load(npys[1])
        array[3] = 1e30
        np.save(bad, array)
        return [npys[0], str(bad)], manifests

    with pytest.raises(ValueError, match=r"shard-0001\.npy: cutout row 3 holds pixel values"):
        rerun_with(built, tmp_path, corrupt)
    assert not (tmp_path / "ds" / "train.npy").exists()


def test_error_on_cutout_shard_with_wrong_shape(built, tmp_path):
    def truncate(npys, manifests):
        bad = tmp_path / "shard-0001.npy"
        np.save(bad, np.load(npys[1])[:-1])
        return [npys[0], str(bad)], manifests

    with pytest.raises(ValueError, match=r"shard-0001\.npy.*shape"):
        rerun_with(built, tmp_path, truncate)


def test_error_on_bad_negative_mix(built):
    """Cross-key rules of the dataset section are checked by config validation, before any job."""
    config, _ = built
    bad = copy.deepcopy(config)
    bad["dataset"]["negative_mix"]["empty"] = 0.9
    with pytest.raises(ConfigError, match="dataset.negative_mix: fractions must sum to 1"):
        validate_config(bad)
    bad = copy.deepcopy(config)
    bad["dataset"]["bright_star_mag"] = {"min": 14.0, "max": 9.0}
    with pytest.raises(ConfigError, match=r"dataset.bright_star_mag: min \(14\) > max \(9\)"):
        validate_config(bad)


def test_cli_help_documents_the_rule_interface():
    from asteroid_ml.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    help_text = subparsers.choices["dataset"].format_help()
    for option in ("--targets", "--cutouts", "--cutout-manifests", "--ephemerides", "--sims",
                   "--output-dir", "--config"):  # fmt: skip
        assert option in help_text
    assert "--survey" in subparsers.choices["plan-targets"].format_help()


def test_fast_tan_geometry_matches_astropy():
    """The vectorised TAN path gives the same pixel positions and matrices as astropy's WCS."""
    from asteroid_ml.hips.wcs import batch_geometry

    rng = np.random.default_rng(2)
    centres = [(10.0, 80.0), (200.0, -45.0), (359.9, 0.0), (123.0, 33.0)]
    headers = [hips.tan_header(ra, dec, 32, 0.0143) for ra, dec in centres]
    ra = np.array([c[0] for c in centres]) + rng.normal(0, 0.1, 4)
    dec = np.array([c[1] for c in centres]) + rng.normal(0, 0.1, 4)
    for fast, i in zip(batch_geometry(headers, ra, dec), range(4), strict=True):
        slow = cutout_geometry(headers[i], ra[i], dec[i])
        assert (fast.x, fast.y) == pytest.approx((slow.x, slow.y), abs=1e-8)
        assert fast.cd == pytest.approx(slow.cd, rel=1e-12)
        assert fast.pixel_scale_arcsec == pytest.approx(slow.pixel_scale_arcsec, rel=1e-12)


def test_cli_dataset_matches_function(built, tmp_path, capsys):
    """`asteroid-ml dataset` (what a user reruns by hand) writes the same bytes as the rule."""
    import yaml

    from asteroid_ml.cli import main

    config, out = built
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    cut = out.parent / "cutouts"
    npys = sorted(str(p) for p in cut.glob("shard-*.npy"))
    eph = sorted(str(p) for p in (out.parent / "eph").rglob("*.parquet"))
    sim = sorted(str(p) for p in (out.parent / "sim").rglob("*.parquet"))
    code = main(["dataset", "--config", str(config_path), "--targets", str(cut / "targets.parquet"),
                 "--cutouts", *npys, "--ephemerides", *eph, "--sims", *sim,
                 "--output-dir", str(tmp_path / "ds")])  # fmt: skip
    assert code == 0
    assert '"samples"' in capsys.readouterr().out
    for name in (*DATASET_FILES, "card.json"):
        assert sha256_file(tmp_path / "ds" / name) == sha256_file(out / name), name
    # a missing shard through the CLI: exit code 1 and a one-line message naming the file
    code = main(["dataset", "--config", str(config_path), "--targets", str(cut / "targets.parquet"),
                 "--cutouts", npys[0], str(tmp_path / "nope.npy"), "--ephemerides", *eph,
                 "--sims", *sim, "--output-dir", str(tmp_path / "ds2")])  # fmt: skip
    assert code == 1
    assert "nope.npy" in capsys.readouterr().err


def test_plan_keeps_covered_positions_and_resamples_the_rest(raw_config):
    """An observation inside the survey keeps its RA/Dec; one outside moves inside the coverage."""
    from cdshealpix.nested import healpix_to_lonlat

    from asteroid_ml.hips.targets import plan_targets_table

    survey = hips.open_survey(str(SURVEY))
    tiles = np.asarray(survey.available_tiles())
    lon, lat = healpix_to_lonlat(np.array([tiles[0]], dtype=np.uint64), survey.order)
    inside = (float(lon.deg[0]), float(lat.deg[0]))
    grid_ra, grid_dec = np.meshgrid(np.arange(0.0, 360.0, 10.0), np.arange(-80.0, 81.0, 10.0))
    covered = np.isin(survey.tiles_for(grid_ra.ravel(), grid_dec.ravel()), tiles)
    first_outside = int(np.flatnonzero(~covered)[0])
    outside = (float(grid_ra.ravel()[first_outside]), float(grid_dec.ravel()[first_outside]))
    eph = pd.DataFrame({
        "object_id": ["a", "b"], "population": ["background", "impactor"], "obs_index": [0, 0],
        "ra_deg": [inside[0], outside[0]], "dec_deg": [inside[1], outside[1]],
    })  # fmt: skip
    config = make_config(raw_config)
    table = plan_targets_table(config, eph, survey)
    assert list(table["sky_source"][:2]) == ["ephemeris", "resampled"]
    assert table.loc[0, ["ra_deg", "dec_deg"]].tolist() == pytest.approx(list(inside))
    assert table.loc[1, "ra_deg"] != pytest.approx(outside[0])
    assert set(table["tile"]).issubset(set(tiles.tolist()))
    assert (table["kind"] == "negative").sum() == 2
    # the resampled position is a function of (seed, object id, obs index) only
    again = plan_targets_table(config, eph.iloc[::-1].reset_index(drop=True), survey)
    assert again.loc[again["object_id"] == "b", "ra_deg"].item() == table.loc[1, "ra_deg"]


def test_sources_at_snr_10_are_visible(built):
    """SNR >= 10 injections stand out: a plain central 2x2-pixel aperture beats every empty sky.

    Guard for the ML stage (target: >= 95 % completeness at SNR >= 10): even this crude
    detector, thresholded above the brightest empty negative, finds >= 95 % of them.
    """
    config, out = built
    manifest = pd.read_parquet(out / "manifest.parquet")
    arrays = {s: np.load(out / f"{s}.npy", mmap_mode="r") for s in ("train", "val", "test")}

    def central_excess(row) -> float:
        image = np.asarray(arrays[row.split][row.index_in_split], dtype=np.float64)
        sigma = robust_sigma(image)
        return float((image[15:17, 15:17] - np.median(image)).sum() / (2.0 * sigma))

    stats = np.array([central_excess(row) for row in manifest.itertuples()])
    empty = stats[(manifest["kind"] == "empty").to_numpy()]
    bright = (manifest["label"] == 1).to_numpy() & (manifest["snr"] >= 10).to_numpy()
    faint = (manifest["label"] == 1).to_numpy() & (manifest["snr"] < 3).to_numpy()
    assert bright.sum() >= 15 and empty.size >= 15
    assert np.mean(stats[bright] > empty.max()) >= 0.95
    assert np.median(stats[faint]) < 0.2 * np.median(stats[bright])  # faint ones are faint
