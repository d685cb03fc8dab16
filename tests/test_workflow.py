"""End to end: the whole DAG on config/test.yaml in a temporary working directory.

One snakemake run (module-scoped fixture) feeds every assertion; the assertions
check content against the config (counts, shapes, columns, value ranges), not
only that files exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asteroid_ml.registry import MODELS, model_names

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TIMEOUT_S = 900


def snakemake(workdir: Path, *args: str, timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess:
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(REPO / "config" / "test.yaml"),
        *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.fixture(scope="module")
def test_config() -> dict:
    from asteroid_ml.config import load_config

    return load_config(REPO / "config" / "test.yaml")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    result = snakemake(workdir, "--cores", "2")
    if result.returncode != 0:
        pytest.fail(f"snakemake failed:\n{result.stderr[-6000:]}")
    return workdir


def test_simulation_shards(run_dir, test_config):
    for population in ("impactor", "background"):
        n = test_config["simulation"][population]["n"]
        shards = sorted((run_dir / "results" / "sim" / population).glob("shard-*.parquet"))
        assert len(shards) == test_config["simulation"][population]["shards"]
        table = pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)
        assert len(table) == n
        assert table["object_id"].is_unique
        assert set(table["population"]) == {population}
        assert table[["a_au", "e", "i_deg"]].notna().all().all()
        assert ((table["e"] >= 0) & (table["a_au"] > 0)).all()
        if population == "impactor":
            assert (table["impact_jd_tdb"] > test_config["epoch_jd_tdb"]).all()
            assert table["impact_speed_kms"].between(11.0, 75.0).all()


def test_ephemerides_cover_every_object(run_dir, test_config):
    files = sorted((run_dir / "results" / "ephemerides").glob("*/shard-*.parquet"))
    eph = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    n_objects = sum(test_config["simulation"][p]["n"] for p in ("impactor", "background"))
    assert eph["object_id"].nunique() == n_objects
    assert eph["ra_deg"].between(0, 360).all() and eph["dec_deg"].between(-90, 90).all()
    assert (eph["delta_au"] > 0).all() and (eph["rate_arcsec_min"] >= 0).all()


def test_cutouts_match_targets(run_dir, test_config):
    targets = pd.read_parquet(run_dir / "results" / "cutouts" / "targets.parquet")
    size = test_config["survey"]["cutout_size"]
    total = 0
    for shard in range(test_config["survey"]["shards"]):
        images = np.load(run_dir / "results" / "cutouts" / f"shard-{shard:04d}.npy", mmap_mode="r")
        manifest = pd.read_parquet(run_dir / "results" / "cutouts" / f"shard-{shard:04d}.parquet")
        assert images.dtype == np.float32 and images.shape == (len(manifest), size, size)
        expected = targets.loc[targets["cutout_shard"] == shard, "target_id"].sort_values()
        assert manifest["target_id"].tolist() == expected.tolist()
        # real sky pixels: finite and not constant
        finite = np.isfinite(images)
        assert finite.mean() > 0.9
        assert float(np.nanstd(images)) > 0
        total += len(manifest)
    assert total == len(targets)


def test_dataset(run_dir):
    root = run_dir / "results" / "dataset"
    manifest = pd.read_parquet(root / "manifest.parquet")
    card = json.loads((root / "card.json").read_text())
    for split in ("train", "val", "test"):
        rows = manifest[manifest["split"] == split]
        images = np.load(root / f"{split}.npy", mmap_mode="r")
        assert images.shape[0] == len(rows)
        assert sorted(rows["index_in_split"]) == list(range(len(rows)))
    objects = manifest.dropna(subset=["object_id"])
    objects = objects[objects["object_id"] != ""]
    assert (objects.groupby("object_id")["split"].nunique() == 1).all(), "object in two splits"
    assert set(manifest["label"]) == {0, 1}
    assert json.dumps(card)  # readable
    elements = pd.read_parquet(root / "elements.parquet")
    assert set(elements["label"]) == {0, 1}


def test_evaluation_metrics(run_dir):
    for model in ("stamp_cnn", "stamp_rf", "impactor_mlp", "impactor_rf"):
        metrics = json.loads((run_dir / "results" / "eval" / model / "metrics.json").read_text())
        for key in ("accuracy", "roc_auc", "pr_auc", "fdr_at_target_recall"):
            assert 0.0 <= metrics[key] <= 1.0, (model, key, metrics[key])
        cm = np.asarray(metrics["confusion_matrix"])
        assert cm.shape == (2, 2) and cm.sum() == metrics["n"]
        # every thresholded key at the val split's threshold (no test-chosen threshold)
        assert metrics["threshold_from"] == "val split"
        assert 0.0 <= metrics["recall_at_threshold"] <= 1.0
    # the models learn even on the tiny test set (chance is 0.5)
    for model, floor in (("stamp_cnn", 0.75), ("stamp_rf", 0.75), ("impactor_mlp", 0.9)):
        metrics = json.loads((run_dir / "results" / "eval" / model / "metrics.json").read_text())
        assert metrics["roc_auc"] > floor, (model, metrics["roc_auc"])
    summary = pd.read_csv(run_dir / "results" / "eval" / "summary.csv")
    assert list(summary["model"]) == list(MODELS)
    real = pd.read_parquet(run_dir / "results" / "eval" / "hoi_real_catalog.parquet")
    assert len(real) > 4000 and real["pha"].sum() > 300


def test_detection_stage(run_dir, test_config):
    """Candidates from sep on difference images, each with its triplet and a label; the three
    detection models in summary.csv with the survey metrics, and m50 in their metrics.json."""
    from asteroid_ml.detection.candidates import BOGUS_LABELS, FEATURES, STAMP

    root = run_dir / "results" / "detection"
    candidates = pd.read_parquet(root / "candidates.parquet")
    stamps = np.load(root / "stamps.npy", mmap_mode="r")
    assert stamps.shape == (len(candidates), 3, STAMP, STAMP)
    assert set(FEATURES) <= set(candidates.columns)
    assert set(candidates["kind"]) <= {"mover", *BOGUS_LABELS}
    assert (candidates["real"] == (candidates["kind"] == "mover")).all()
    assert 0 < candidates["real"].mean() < 0.6
    assert set(candidates["split"]) == {"train", "val", "test"}
    # no sky field in two splits
    assert (candidates.groupby("field")["split"].nunique() == 1).all()
    n_epochs = test_config["detection"]["n_epochs"]
    assert set(candidates["epoch"]) == set(range(n_epochs))
    # no candidate within half a stamp of a field edge: no zero padding, so a classifier that
    # sees only the padded fraction of a stamp is at chance (those left out are counted)
    from asteroid_ml.evaluation.metrics import rank_auc

    assert candidates.attrs["edge_excluded"] > 0
    # hot pixels and columns are on the bad-pixel mask: counted, not classified
    assert candidates.attrs["bad_pixel_masked"] > 0
    # the plate's saturated stars saturate in the epochs and the template: masked, counted
    assert candidates.attrs["saturation_masked"] > 0
    hot = candidates["kind"].isin(["hot_pixel", "hot_column"])
    assert hot.sum() <= 0.02 * (candidates["real"] == 0).sum(), candidates["kind"].value_counts()
    padded = (np.asarray(stamps[:, 0]) == 0).mean(axis=(1, 2))
    assert rank_auc(candidates["real"].to_numpy(), padded) == pytest.approx(0.5, abs=0.02)
    summary = pd.read_csv(run_dir / "results" / "eval" / "summary.csv").set_index("model")
    for model in ("detector_cnn", "detector_rf", "detector_sequence"):
        row = summary.loc[model]
        assert row["candidate_reduction_at_target_recall"] >= 1.0
        metrics = json.loads((run_dir / "results" / "eval" / model / "metrics.json").read_text())
        assert "val fields" in metrics["threshold_from"], model
        assert 0.0 <= row["fdr_at_target_recall"] <= 1.0
        assert metrics["task"] == "detection" and "m50_mag" in metrics
        # intervals by bootstrap over the test fields, which hold the pooled value
        fields = metrics["field_bootstrap"]
        test_fields = candidates.loc[candidates["split"] == "test", "field"].nunique()
        if model == "detector_sequence":  # fields without a sequence have none to draw
            assert 1 <= fields["n_fields"] <= test_fields, fields
        else:
            assert fields["n_fields"] == test_fields and len(fields["by_field"]) == test_fields
        low, high = fields["fdr_ci95"]
        assert low <= row["fdr_at_target_recall"] <= high, (model, fields)
    for model in ("detector_cnn", "detector_rf"):
        metrics = json.loads((run_dir / "results" / "eval" / model / "metrics.json").read_text())
        # the detection step's m50 lies within 1 mag of the survey model's limit
        assert (
            abs(
                metrics["completeness"]["detection_step"]["m50_mag"]
                - metrics["survey"]["limit_mag"]
            )
            < 1.0
        )
        assert set(metrics["false_positive_rate_by_kind"]) == set(BOGUS_LABELS)


def test_saved_detectors_score_like_the_trained_ones(run_dir):
    """The saved detector_cnn (Lightning checkpoint) and detector_rf (joblib), loaded from
    their files, score every candidate bit for bit as the models trained in memory did
    (scores.parquet), and their cards hold the val-chosen threshold of metrics.json."""
    from asteroid_ml.detection.saved import load_detector

    root = run_dir / "results"
    candidates = pd.read_parquet(root / "detection" / "candidates.parquet")
    stamps = np.load(root / "detection" / "stamps.npy").astype(np.float32)
    scores = pd.read_parquet(root / "detection" / "scores.parquet")
    import torch

    threads = torch.get_num_threads()
    for name in ("detector_cnn", "detector_rf"):
        saved = load_detector(root / "models" / name / MODELS[name].filename)
        # bit for bit at the job's thread count (1); other counts sum in another order
        torch.set_num_threads(1)
        try:
            fresh = saved.score(stamps, candidates)
        finally:
            torch.set_num_threads(threads)
        assert np.array_equal(fresh, scores[name].to_numpy()), name
        other = saved.score(stamps, candidates)
        assert np.abs(other - scores[name].to_numpy()).max() <= 5e-7, name
        metrics = json.loads((root / "eval" / name / "metrics.json").read_text())
        assert saved.threshold == metrics["threshold_at_target_recall"]
        assert saved.card["training_data"]["n_train"] == int((candidates["split"] == "train").sum())


def test_real_frames_rows(run_dir):
    """The shipped M13 frames went through find-movers and the fakes evaluation: two rows
    (the simulation-trained CNN, the CNN trained on the frames), fakes found by sep, no
    false sequence on a minute of a globular cluster."""
    summary = pd.read_csv(run_dir / "results" / "eval" / "real_frames_summary.csv")
    assert list(summary["trained_on"]) == ["simulation", "real frames"]
    assert (summary["frames"] == "M13-blue").all()
    assert (summary["n_fakes"] > 0).all() and (summary["false_sequences"] == 0).all()
    frames = pd.read_csv(run_dir / "results" / "frames" / "M13-blue" / "frames.csv")
    assert len(frames) == 5 and frames["used"].all()
    # the test cells' real bogus by observable class, for each CNN: counts agree with the row
    from asteroid_ml.detection.evaluate import OBSERVABLE_CLASSES

    mix = pd.read_csv(run_dir / "results" / "frames" / "M13-blue" / "bogus_mix.csv")
    for trained_on, part in mix.groupby("trained_on"):
        assert list(part["observable_class"]) == list(OBSERVABLE_CLASSES)
        row = summary.set_index("trained_on").loc[trained_on]
        assert part["n"].sum() == row["n_bogus"]


def test_real_catalog_summary_holds_every_impactor_model_and_baseline(run_dir):
    eval_dir = run_dir / "results" / "eval"
    summary = pd.read_csv(eval_dir / "real_catalog_summary.csv")
    expected = {(m, label) for m in model_names("impactor") for label in ("pha", "future_approach")}
    assert set(zip(summary["model"], summary["label"], strict=True)) == expected
    assert (summary["n"] == 4226).all()
    pha = summary[summary["label"] == "pha"]
    assert (pha["n_positive"] == 363).all()
    for _, row in summary.iterrows():
        assert row["recall_ci95_low"] <= row["recall"] <= row["recall_ci95_high"], row
        assert 0.0 <= row["flagged_fraction"] <= 1.0
    # the minimum-future-MOID baseline defines the physics label: it ranks it perfectly
    future = summary[(summary["label"] == "future_approach")].set_index("model")
    assert future.loc["impactor_moid_future", "roc_auc"] == pytest.approx(1.0, abs=1e-3)
    approachers = pd.read_csv(eval_dir / "future_approachers.csv")
    assert (approachers["moid_now_au"] > 0.05).all() and (approachers["future_approach"] == 1).all()
    assert "first_approach" in approachers.columns


def test_hazard_ranking_table(run_dir):
    """The ranking table of the test config (a 10-yr window: horizons 4 and 8 yr): every
    population and model, the catalog's MOID-now positives counted apart (2,359 of the
    4,226 real NEOs have MOID <= 0.05 au at the epoch), intervals around their values."""
    from asteroid_ml.evaluation.ranking import BASELINES, RANKING_COLUMNS

    table = pd.read_csv(run_dir / "results" / "eval" / "hazard_ranking.csv")
    assert list(table.columns) == RANKING_COLUMNS
    assert sorted(table["horizon_years"].unique()) == [4, 8]
    apart = table[table["population"] == "real_neo_moid_now_at_or_below_limit"]
    assert (apart["n"] == 2359).all() and (apart["n_positive"] == 2359).all()
    real = table[table["population"] == "real_neo"]
    assert (real["n"] == 4226 - 2359).all()
    assert set(BASELINES) <= set(real["model"])
    ranked = table.dropna(subset=["roc_auc"])
    assert (ranked["roc_auc_ci95_low"] <= ranked["roc_auc"] + 1e-9).all()
    assert (ranked["roc_auc"] <= ranked["roc_auc_ci95_high"] + 1e-9).all()
    assert (run_dir / "results" / "models" / "hazard_ranking" / "model.joblib").stat().st_size > 0


def test_clone_tables(run_dir):
    """Clones against JPL's 3-sigma ranges (225 approaches of 2020 wider than 1e-4 au) and the
    top future approachers as clone clouds (test config: 20 clones, 2 objects)."""
    from asteroid_ml.simulation.clones import APPROACHER_COLUMNS, UNCERTAINTY_COLUMNS

    calibration = pd.read_csv(run_dir / "results" / "validation" / "cad_uncertainty.csv")
    assert list(calibration.columns) == UNCERTAINTY_COLUMNS and len(calibration) == 225
    assert (calibration["jpl_range_au"] > 1e-4).all() and (calibration["clones"] == 20).all()
    nominal = calibration["clones_dist_nominal_au"] / calibration["jpl_dist_au"] - 1
    assert np.abs(nominal).median() < 1e-5
    clouds = pd.read_csv(run_dir / "results" / "eval" / "approacher_clones.csv")
    assert list(clouds.columns[: len(APPROACHER_COLUMNS)]) == APPROACHER_COLUMNS
    assert len(clouds) == 2 and (clouds["clones"] == 20).all()
    probabilities = clouds[[c for c in clouds.columns if c.startswith("p_")]].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_summary_page_quotes_the_runs_own_tables(run_dir):
    """results/summary.md: a section per stage the test config runs, each impactor model's
    ROC-AUC and every hazard-ranking AUC as the tables hold them, with their intervals."""
    from asteroid_ml.evaluation.summary import SOURCES

    text = (run_dir / "results" / "summary.md").read_text()
    for title in ("Close approaches against JPL", "Impactor models on the simulated test split",
                  "Detection on the simulated test fields", "Hazard ranking",
                  "Impactor models on the real NEO catalog", "The triplet CNN on real frames"):  # fmt: skip
        assert f"## {title}" in text, title
    summary = pd.read_csv(run_dir / "results" / "eval" / "summary.csv")
    for row in summary[summary["task"] == "impactor"].itertuples():
        assert f"| {row.model} | {row.n} |" in text and f"| {row.roc_auc:.3g} |" in text
    ranking = pd.read_csv(run_dir / "results" / "eval" / "hazard_ranking.csv").dropna(
        subset=["roc_auc"]
    )
    for row in ranking.itertuples():
        assert f"| {row.roc_auc_ci95_low:.3g}-{row.roc_auc_ci95_high:.3g} |" in text
    for source in SOURCES.values():
        assert f"--cores all {source}`" in text, source


def test_figures_are_pngs_and_pdfs(run_dir):
    figures = run_dir / "results" / "figures"
    pngs = sorted(figures.glob("*.png"))
    assert len(pngs) >= 10, [p.name for p in pngs]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pdf = png.with_suffix(".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-"


def test_report_and_second_run(run_dir):
    report = run_dir / "results" / "report.html"
    result = snakemake(run_dir, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    assert len(html) > 100_000
    again = snakemake(run_dir, "--cores", "2", "--dry-run")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
    assert "intermediate file(s) missing" not in again.stderr
    # an intermediate deleted by hand: still "Nothing to be done" (Snakemake's rule), but
    # the run says which files are missing and how to rebuild them
    shard = run_dir / "results" / "sim" / "background" / "shard-0000.parquet"
    kept = shard.read_bytes()
    shard.unlink()
    try:
        gone = snakemake(run_dir, "--cores", "2", "--dry-run")
    finally:
        shard.write_bytes(kept)
    assert "Nothing to be done" in gone.stdout + gone.stderr
    assert (
        "note: 1 intermediate file(s) missing while later results exist (rules simulate)"
        in gone.stderr
    )
    assert "snakemake --cores 2 results/sim/background/shard-0000.parquet" in gone.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    result = snakemake(tmp_path, "--cores", "1", "--config", "seed=abc", timeout=120)
    assert result.returncode != 0
    assert "seed: 'abc' is not of type 'integer'" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_nested_config_override_keeps_its_type(tmp_path):
    """`--config 'figures={"dpi": 150}'`: Snakemake hands the nested 150 over as '150';
    the workflow gives it back its YAML type, so the documented override validates."""
    result = snakemake(tmp_path, "--dry-run", "--config", 'figures={"dpi": 150}', timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "is not of type" not in result.stdout + result.stderr


def test_shipped_files_are_not_outputs():
    # results/ is for outputs only: nothing under it is tracked by git
    tracked = subprocess.run(
        ["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked in ([], ["results/.gitkeep"])


def test_config_edit_reruns_exactly_the_rules_that_read_it(run_dir):
    """Each rule declares the config sections it reads as a param: editing
    training.impactor.max_epochs reruns the impactor MLP and what depends on it, not
    the simulation, cutouts, detector or the forest (which does not read it)."""
    extra = run_dir / "edit.yaml"
    extra.write_text("training:\n  impactor:\n    max_epochs: 7\n")
    test_yaml = str(REPO / "config" / "test.yaml")
    edited = snakemake(run_dir, "--cores", "2", "--dry-run", "--configfile", test_yaml, str(extra))
    assert edited.returncode == 0, edited.stderr[-3000:]
    text = edited.stdout + edited.stderr
    jobs = re.findall(r"^rule (\w+):", text, flags=re.M)
    assert {"train_impactor", "evaluate_model", "hoi_real_catalog"} <= set(jobs), jobs
    untouched = {"simulate", "cutouts", "assemble_dataset", "train_detector", "baseline_impactor"}
    assert not untouched & set(jobs), jobs
    assert "Params have changed" in text
