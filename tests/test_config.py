"""Config validation: every kind of bad config stops with a message naming the key."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest
import yaml

from asteroid_ml.cli import main
from asteroid_ml.config import (
    ConfigError,
    config_layers,
    key_sources,
    load_config,
    overlay,
    sources_summary,
    validate_config,
)
from asteroid_ml.io import config_hash


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(repo, name):
    path = repo / "config" / name
    if not path.exists():
        pytest.skip(f"{name} not written yet")
    config = load_config(path)
    assert config["seed"] >= 0
    assert config["evaluation"]["target_recall"] == pytest.approx(0.99)


def test_defaults_are_filled(test_config_raw):
    del test_config_raw["evaluation"]["target_recall"]
    config = validate_config(test_config_raw)
    assert config["evaluation"]["target_recall"] == 0.99
    # the input is not modified
    assert "target_recall" not in test_config_raw["evaluation"]


def _set(cfg: dict, dotted: str, value) -> dict:
    cfg = copy.deepcopy(cfg)
    *parents, leaf = dotted.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return cfg


_DELETE = object()

BAD_CONFIGS = [
    # (what is wrong, dotted key, new value, text expected in the message)
    ("wrong type: string for integer", "seed", "abc", "seed: 'abc' is not of type 'integer'"),
    ("negative seed", "seed", -1, "seed: -1 is less than the minimum"),
    (
        "float for integer",
        "simulation.impactor.n",
        2.5,
        "simulation.impactor.n: 2.5 is not of type 'integer'",
    ),
    (
        "zero objects",
        "simulation.background.n",
        0,
        "simulation.background.n: 0 is less than the minimum of 1",
    ),
    (
        "zero shards",
        "simulation.impactor.shards",
        0,
        "simulation.impactor.shards: 0 is less than the minimum",
    ),
    (
        "missing required key",
        "simulation.impactor.n",
        _DELETE,
        "simulation.impactor.n: missing required key",
    ),
    ("missing section", "survey", _DELETE, "survey: missing required key"),
    ("unknown top-level key", "sead", 1, "sead: unknown key"),
    ("unknown nested key", "survey.cutout_sise", 64, "survey.cutout_sise: unknown key"),
    (
        "cutout size not allowed",
        "survey.cutout_size",
        50,
        "survey.cutout_size: 50 is not one of [32, 64, 128]",
    ),
    (
        "epoch out of ephemeris range",
        "epoch_jd_tdb",
        2000000.5,
        "epoch_jd_tdb: 2000000.5 is less than the minimum",
    ),
    (
        "exposure not positive",
        "observations.exposure_s",
        0,
        "observations.exposure_s: 0 is less than or equal to the minimum",
    ),
    (
        "recall above one",
        "evaluation.target_recall",
        1.5,
        "evaluation.target_recall: 1.5 is greater than the maximum of 1",
    ),
    ("empty survey location", "survey.location", "", "survey.location: '' should be non-empty"),
    ("section of wrong type", "training", [], "training: [] is not of type 'object'"),
    (
        "split fractions do not sum to 1",
        "dataset.split_fractions",
        {"train": 0.5, "val": 0.2, "test": 0.2},
        "dataset.split_fractions: must sum to 1",
    ),
    # cross-key rules and checks against the survey, all before any job
    (
        "negative mix does not sum to 1",
        "dataset.negative_mix",
        {"empty": 0.9, "cosmic_ray": 0.2, "hot_pixel": 0.2, "hot_column": 0.1, "bright_star": 0.1},
        "dataset.negative_mix: fractions must sum to 1 (got 1.5)",
    ),
    (
        "min above max",
        "dataset.artefact_peak_sigma",
        {"min": 50.0, "max": 5.0},
        "dataset.artefact_peak_sigma: min (50) > max (5)",
    ),
    (
        "more shards than objects",
        "simulation.impactor.shards",
        50,
        "simulation.impactor.shards: 50 shards for simulation.impactor.n = 40 objects",
    ),
    (
        "window start after end",
        "simulation.impactor.window_start_years",
        20.0,
        "simulation.impactor.window_start_years must be < window_end_years",
    ),
    (
        "decreasing SNR bins",
        "evaluation.snr_bin_edges",
        [0, 10, 5, 20],
        "evaluation.snr_bin_edges: must increase strictly",
    ),
    (
        "survey folder that does not exist",
        "survey.location",
        "resources/hips/NoSuchSurvey",
        "survey.location: no HiPS survey at",
    ),
    (
        "tile order above the survey's",
        "survey.order",
        9,
        "survey.order: 9 is above the survey's hips_order 3",
    ),
    (
        "cache folder that cannot be written",
        "survey.cache_dir",
        "/proc/nope",
        "survey.cache_dir: cannot write to /proc/nope",
    ),
    (
        "site latitude out of range",
        "observations.site",
        "999,-100,0",
        "observations.site: latitude -100 deg is outside [-90, 90]",
    ),
    (
        "site that cannot be parsed",
        "observations.site",
        "10,north,0",
        "observations.site: cannot read '10,north,0' as lon_deg,lat_deg,height_m",
    ),
    (
        "detection survey folder that does not exist",
        "detection.survey",
        "resources/hips/nope",
        "detection.survey: ",
    ),
    (
        "detection seeing range upside down",
        "detection.seeing_ratio",
        [1.5, 1.1],
        "detection.seeing_ratio: minimum 1.5 is above maximum 1.1",
    ),
    (
        "sequences longer than the epochs",
        "detection.min_detections",
        5,
        "detection.min_detections: 5 is more than detection.n_epochs (4)",
    ),
    (
        "a trillion impactors",
        "simulation.impactor.n",
        1_000_000_000_000,
        "simulation.impactor.n: 1000000000000 is greater than the maximum of 10000000",
    ),
    (
        "more cutout shards than four-digit ids",
        "survey.shards",
        100_000,
        "survey.shards: 100000 is greater than the maximum of 9999",
    ),
    (
        "more cutout shards than targets",
        "survey.shards",
        5000,
        "survey.shards: 5000 shards for at most 200 cutout targets (100 objects x 2 epochs)",
    ),
    (
        "frame set glob that matches no file",
        "frames.sets",
        {"mine": {"frames": "resources/frames/nope/*.fits"}},
        "frames.sets.mine.frames: 'resources/frames/nope/*.fits' matches no file",
    ),
    (
        "frame set with fewer frames than frames.min_frames",
        "frames.sets",
        {"one": {"frames": "resources/frames/M13-blue/M13_blue_0001.fits.gz"}},
        "frames.sets.one.frames: 'resources/frames/M13-blue/M13_blue_0001.fits.gz' matches 1 files, frames.min_frames is 3",
    ),
    (
        "frame set without frames",
        "frames.sets",
        {"mine": {"bias": "x"}},
        "frames.sets.mine.frames: missing required key",
    ),
]


@pytest.mark.parametrize(
    ("what", "key", "value", "expected"), BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS]
)
def test_bad_config_names_the_key(test_config_raw, what, key, value, expected):
    bad = _set(test_config_raw, key, value)
    with pytest.raises(ConfigError) as info:
        validate_config(bad, source="my.yaml")
    message = str(info.value)
    assert "my.yaml: " in message
    assert expected in message, message


def test_all_problems_reported_at_once(test_config_raw):
    bad = _set(_set(test_config_raw, "seed", "x"), "survey.cutout_size", 7)
    with pytest.raises(ConfigError, match=r"2 problem\(s\)"):
        validate_config(bad)


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: top level must be a mapping"):
        load_config(listy)
    with pytest.raises(ConfigError, match=r"nope: is a folder, not a YAML config file"):
        load_config(tmp_path / "nope" if (tmp_path / "nope").mkdir() is None else None)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("seed: 1 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.yaml: not UTF-8 text \(byte 13\)"):
        load_config(latin)


@pytest.mark.parametrize(
    "text, line, first",
    [
        ("seed: 1\nepoch_jd_tdb: 2459000.5\nseed: 2\n", 3, 1),
        ("survey:\n  shards: 2\nfigures:\n  dpi: 100\nsurvey:\n  shards: 3\n", 5, 1),
        ("survey:\n  shards: 2\n  shards: 3\n", 3, 2),
    ],
)
def test_a_key_given_twice_is_refused_with_file_and_line(tmp_path, text, line, first):
    """YAML keeps the last of two equal keys silently (a second seed, two survey sections):
    the file and the line of the second are named (docs/errors.md)."""
    twice = tmp_path / "twice.yaml"
    twice.write_text(text)
    with pytest.raises(ConfigError, match=rf"twice.yaml: line {line}: key '\w+' given twice in one "
                                          rf"mapping \(first on line {first}\)"):  # fmt: skip
        load_config(twice)


@pytest.mark.parametrize(
    "key",
    ["epoch_jd_tdb", "observations.exposure_s", "simulation.timestep_days",
     "dataset.split_fractions.train", "evaluation.snr_bin_edges"],
)  # fmt: skip
def test_non_finite_numbers_are_refused_naming_the_key(test_config_raw, key):
    """.nan passes JSON schema's range checks (NaN compares false): refused, key named."""
    value = [0.0, float("nan"), 20.0] if key == "evaluation.snr_bin_edges" else float("nan")
    shown = f"{key}[1]" if key == "evaluation.snr_bin_edges" else key
    with pytest.raises(
        ConfigError, match=rf"my.yaml: {re.escape(shown)}: nan is not a finite number"
    ):
        validate_config(_set(test_config_raw, key, value), source="my.yaml")
    with pytest.raises(ConfigError, match="inf is not a finite number"):
        validate_config(_set(test_config_raw, "observations.exposure_s", float("inf")), source="m")


def test_a_configfile_is_an_overlay_and_says_where_each_key_came_from(repo, tmp_path):
    """A short --configfile keeps the default's other keys, and every key names its file."""
    short = tmp_path / "short.yaml"
    short.write_text("seed: 5\nsimulation:\n  impactor: {n: 12}\n")
    default = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config = load_config(short)
    assert config["seed"] == 5
    assert config["simulation"]["impactor"]["n"] == 12
    # left out of short.yaml: the default's value, not the schema's
    assert config["simulation"]["background"]["n"] == default["simulation"]["background"]["n"]
    layers = config_layers([short])
    sources = key_sources(layers, config)
    assert sources["seed"] == str(short)
    assert sources["simulation.impactor.n"] == str(short)
    assert sources["simulation.background.n"] == "config/config.yaml"
    assert sources["evaluation.snr_bin_edges"] == "schema default"
    assert sources_summary(sources).startswith(f"{len(sources)} config keys: 2 from {short}, ")
    # the same as the workflow: the Snakefile's config for the same files
    assert validate_config(overlay(layers)) == config


def test_a_replacing_config_must_be_complete(tmp_path, capsys):
    """--replace (snakemake --replace-workflow-config): nothing comes from config/config.yaml."""
    short = tmp_path / "short.yaml"
    short.write_text("seed: 5\n")
    with pytest.raises(ConfigError, match=r"short.yaml: simulation: missing required key"):
        load_config(short, replace_default=True)
    assert main(["validate-config", str(short), "--replace"]) != 0
    assert "simulation: missing required key" in capsys.readouterr().err
    assert main(["validate-config", str(short), "--sources"]) == 0
    assert f"seed\t{short}\n" in capsys.readouterr().out


def _layers_and_config(path):
    layers = config_layers([path])
    return layers, validate_config(overlay(layers))


def test_the_workflow_prints_where_its_config_came_from(repo, tmp_path):
    """snakemake -n with an overlay prints one line counting the keys of each file."""
    short = tmp_path / "short.yaml"
    short.write_text("seed: 5\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/test.yaml", str(short)],
        cwd=repo, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    output = result.stdout + result.stderr
    test_yaml = [s for s in key_sources(*_layers_and_config("config/test.yaml")).values()]
    n_test = test_yaml.count("config/test.yaml") - 1  # short.yaml takes `seed` over
    assert f"1 from {short}, {n_test} from config/test.yaml" in output, output[:2000]
    assert "from config/config.yaml" in output
    replaced = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(short),
         "--replace-workflow-config"],
        cwd=repo, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert replaced.returncode != 0
    assert "simulation: missing required key" in replaced.stdout + replaced.stderr


def test_config_hash_is_stable_and_sensitive(test_config_raw):
    a = validate_config(test_config_raw)
    b = validate_config(copy.deepcopy(test_config_raw))
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 64
    changed = validate_config(_set(test_config_raw, "seed", a["seed"] + 1))
    assert config_hash(changed) != config_hash(a)
    assert config_hash(changed, ["survey"]) == config_hash(a, ["survey"])


def test_cli_validate_config(repo, tmp_path, test_config_raw):
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "asteroid_ml",
            "validate-config",
            str(repo / "config" / "test.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text(yaml.safe_dump(_set(test_config_raw, "seed", "abc")))
    bad = subprocess.run(
        [sys.executable, "-m", "asteroid_ml", "validate-config", str(bad_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert f"{bad_path}: seed: 'abc' is not of type 'integer'" in bad.stderr


def test_impact_windows_past_the_ephemeris_are_accepted_up_to_20000_years(repo):
    """Past AD 3000 the planets come from a free forward run (tests/test_simulate.py), so
    long windows (Hefele et al.: 20,000 yr) validate; longer ones name the key."""
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["simulation"]["impactor"]["window_end_years"] = 20000
    assert validate_config(config)["simulation"]["impactor"]["window_end_years"] == 20000
    config["simulation"]["impactor"]["window_end_years"] = 20001
    with pytest.raises(ConfigError, match=r"simulation\.impactor\.window_end_years"):
        validate_config(config, source="config.yaml")


def test_unknown_site_name_fails_without_network(test_config_raw, monkeypatch):
    """A site name needs astropy's registry; validation never downloads it."""
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("validation tried the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    bad = _set(test_config_raw, "observations.site", "atlantis")
    with pytest.raises(ConfigError, match="observations.site: .*'atlantis'"):
        validate_config(bad)


@pytest.mark.parametrize("damage", ["truncated", "same size, other bytes"])
def test_damaged_shipped_tile_is_caught_before_any_job(repo, tmp_path, test_config_raw, damage):
    import shutil

    survey = tmp_path / "DSS2Red"
    shutil.copytree(repo / "resources" / "hips" / "DSS2Red", survey)
    tile = survey / "Norder3" / "Dir0" / "Npix304.fits"
    data = tile.read_bytes()
    if damage == "truncated":
        tile.write_bytes(data[: len(data) // 2])
    else:
        tile.write_bytes(data[:-100] + bytes(100))
    bad = _set(test_config_raw, "survey.location", str(survey))
    with pytest.raises(
        ConfigError, match=r"survey.location: .*Npix304.fits does not match SHA256SUMS"
    ):
        validate_config(bad)
    tile.unlink()
    with pytest.raises(ConfigError, match=r"Npix304.fits is listed in SHA256SUMS but missing"):
        validate_config(bad)


def test_cutout_jobs_track_the_shipped_tiles(repo):
    """A changed tile reruns the cutouts: every tile of SHA256SUMS is an input of the jobs."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "--configfile", "config/test.yaml"],
        cwd=repo, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    blocks = result.stdout.split("rule ")
    cutouts = [b for b in blocks if b.startswith("cutouts:")]
    assert cutouts, result.stdout[-2000:]
    for block in cutouts:
        assert "resources/hips/DSS2Red/Norder3/Dir0/Npix304.fits" in block


def test_sha256sums_line_without_a_space_names_file_and_line(repo, tmp_path, test_config_raw):
    """A SHA256SUMS line that is not ``<digest> <name>`` (docs/errors.md row 77)."""
    import shutil

    survey = tmp_path / "DSS2Red"
    shutil.copytree(repo / "resources" / "hips" / "DSS2Red", survey)
    sums = survey / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    lines[1] = lines[1].replace("  ", "")
    sums.write_text("\n".join(lines) + "\n")
    bad = _set(test_config_raw, "survey.location", str(survey))
    with pytest.raises(ConfigError) as info:
        validate_config(bad)
    assert f"survey.location: {sums}: line 2 is not '<sha256 hex digest> <file name>'" in str(
        info.value
    )


def test_survey_location_too_long_for_the_file_system(test_config_raw):
    """A 5,000-character survey.location gave only ``[Errno 36] File name too long``
    (docs/errors.md row 78)."""
    bad = _set(test_config_raw, "survey.location", "x" * 5000)
    with pytest.raises(ConfigError) as info:
        validate_config(bad)
    message = str(info.value)
    assert "survey.location: cannot look at " in message
    assert "(5000 characters)" not in message  # the repository prefix counts too
    assert "characters) (File name too long)" in message and len(message) < 400


def test_relative_paths_resolve_against_the_given_checkout(repo, tmp_path, test_config_raw):
    """Relative survey paths are checked against the checkout running the workflow (``base``),
    not the one the package is installed from."""
    import shutil

    (tmp_path / "resources" / "hips").mkdir(parents=True)
    validate_config(test_config_raw, base=repo)
    with pytest.raises(ConfigError) as info:
        validate_config(test_config_raw, base=tmp_path)
    assert f"no HiPS survey at {tmp_path}/resources/hips/DSS2Red" in str(info.value)
    for name in ("DSS2Red", "POSS2-HorseHead"):
        shutil.copytree(repo / "resources" / "hips" / name, tmp_path / "resources" / "hips" / name)
    shutil.copytree(repo / "resources" / "frames", tmp_path / "resources" / "frames")
    validate_config(test_config_raw, base=tmp_path)


def test_far_epoch_announces_the_catalog_move_with_its_cost(repo):
    """An epoch of 1900 made each forward_catalog job propagate silently for > 9 min: the
    workflow now says so before any job, with the expected cost (docs/errors.md row 76)."""
    from asteroid_ml.simulation.forward import catalog_move_warning

    catalog = repo / "resources" / "neo" / "neos-2020.csv"
    assert (
        catalog_move_warning({"epoch_jd_tdb": 2459000.5, "hazard": {"catalog_shards": 2}}, catalog)
        == ""
    )
    line = catalog_move_warning(
        {"epoch_jd_tdb": 2415021.0, "hazard": {"catalog_shards": 2}}, catalog
    )
    assert "lies up to 121 yr from the element epochs" in line
    assert "about 17 min per job" in line


def test_ranking_horizon_beyond_the_forward_window_is_refused(test_config_raw):
    bad = _set(test_config_raw, "hazard.ranking.horizons_years", [4, 50])
    with pytest.raises(ConfigError, match=r"hazard.ranking.horizons_years: \[50\] leave no start"):
        validate_config(bad)
    bad = _set(test_config_raw, "hazard.ranking.trend_years", 100)
    with pytest.raises(ConfigError, match="hazard.ranking.trend_years: 100 yr of history"):
        validate_config(bad)
