"""Paper figures: every figure renders from inputs shaped like the stage contracts,
same inputs give the same PNG bytes, and the numbers a figure shows are right."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asteroid_ml import figures
from asteroid_ml.dataset.card import NEGATIVE_KINDS
from asteroid_ml.evaluation.metrics import Z_68, binned_fraction
from asteroid_ml.evaluation.metrics import strict_json as figures_strict_json
from asteroid_ml.registry import MODELS as REGISTRY
from asteroid_ml.registry import model_names

MODELS = ("stamp_cnn", "stamp_rf", "impactor_mlp", "impactor_rf")
DSS2_TILES = np.array(
    [
        304,
        335,
        336,
        368,
        399,
        400,
        432,
        448,
        449,
        450,
        451,
        454,
        456,
        457,
        460,
        463,
        647,
        653,
        658,
        659,
        660,
        661,
        662,
        663,
        664,
        665,
    ]
)


# ----------------------------------------------------------------------------- synthetic inputs
def synthetic_elements(rng: np.random.Generator, n: int, population: str) -> pd.DataFrame:
    a = rng.uniform(0.7, 3.0, n)
    q = rng.uniform(0.3, 1.25, n) if population != "real" else rng.uniform(0.1, 1.3, n)
    e = np.clip(1 - q / a, 0, 0.97)
    return pd.DataFrame(
        {
            "object_id": [f"{population[:3]}{k:05d}" for k in range(n)],
            "population": population,
            "a_au": a,
            "e": e,
            "i_deg": np.abs(rng.normal(0, 12 if population != "impactor" else 6, n)),
        }
    )


def synthetic_targets(rng: np.random.Generator, n: int = 400) -> pd.DataFrame:
    from cdshealpix import nested

    tiles = rng.choice(DSS2_TILES, n)
    ra, dec = nested.healpix_to_lonlat(tiles.astype(np.uint64), 3)
    kind = np.where(np.arange(n) % 2 == 0, "positive", "negative")
    source = np.where(
        kind == "positive", np.where(rng.random(n) < 0.2, "ephemeris", "resampled"), "resampled"
    )
    return pd.DataFrame(
        {
            "target_id": np.arange(n, dtype=np.int64),
            "kind": kind,
            "object_id": np.where(kind == "positive", [f"o{k}" for k in range(n)], ""),
            "population": np.where(kind == "positive", "background", ""),
            "obs_index": np.where(kind == "positive", 0, -1),
            "ra_deg": ra.deg + rng.uniform(-2, 2, n),
            "dec_deg": dec.deg + rng.uniform(-2, 2, n),
            "sky_source": source,
            "tile": tiles,
            "cutout_shard": np.arange(n) % 2,
        }
    )


def synthetic_split(
    rng: np.random.Generator, n: int = 60, size: int = 32
) -> tuple[np.ndarray, pd.DataFrame]:
    kinds = ["asteroid"] * (n // 2) + list(np.resize(NEGATIVE_KINDS, n - n // 2))
    label = np.array([1 if k == "asteroid" else 0 for k in kinds])
    snr = np.where(label == 1, rng.uniform(2, 60, n), np.nan)
    images = rng.normal(1000, 20, (n, size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    for k in np.flatnonzero(label == 1):  # a short trail whose peak scales with the SNR
        trail = np.exp(-((yy - size / 2) ** 2) / 2) * (np.abs(xx - size / 2) < 4)
        images[k] += (snr[k] * 20 / 6 * trail).astype(np.float32)
    images[np.array(kinds) == "hot_column", :, 5] += 400
    images[0, :2, :2] = np.nan  # blank corner, as at a survey edge
    manifest = pd.DataFrame(
        {
            "sample_id": np.arange(n) * 3 + 7,
            "split": "test",
            "index_in_split": np.arange(n),
            "label": label,
            "kind": kinds,
            "snr": snr,
            "mag": np.where(label == 1, 22 - np.log10(snr) * 2.5, np.nan),
        }
    )
    return images, manifest


def synthetic_lightning_csv(rng: np.random.Generator, epochs: int = 8) -> pd.DataFrame:
    rows = []
    for ep in range(epochs):
        for step in range(3):
            rows.append(
                {
                    "epoch": ep,
                    "step": ep * 3 + step,
                    "train_loss": 0.7 * np.exp(-ep / 3) + 0.05 * rng.random(),
                    "val_loss": np.nan,
                }
            )
        rows.append(
            {
                "epoch": ep,
                "step": ep * 3 + 2,
                "train_loss": np.nan,
                "val_loss": 0.65 * np.exp(-ep / 4) + 0.1 + 0.01 * ep,
            }
        )
    return pd.DataFrame(rows)


def synthetic_predictions(rng: np.random.Generator, model: str, n: int = 600) -> pd.DataFrame:
    label = (rng.random(n) < 0.4).astype(int)
    good = 2.5 if model.endswith(("cnn", "mlp")) else 1.5
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + good * (2 * label - 1))))
    frame = pd.DataFrame({"label": label, "score": score})
    if model.startswith("stamp"):
        snr = np.where(label == 1, np.exp(rng.uniform(np.log(1), np.log(100), n)), np.nan)
        frame["score"] = np.where(
            label == 1, 1 / (1 + np.exp(-(np.log(snr) * 2 - 3 + rng.normal(0, 0.5, n)))), score
        )
        frame["sample_id"] = np.arange(n)
        frame["kind"] = np.where(label == 1, "asteroid", "empty")
        frame["snr"] = snr
        frame["mag"] = np.where(
            label == 1, 23 - 2.5 * np.log10(np.nan_to_num(snr, nan=1.0)), np.nan
        )
        frame["trail_length_px"] = 3.0
    else:
        frame["object_id"] = [f"x{k}" for k in range(n)]
    return frame


def metrics_from_predictions(model: str, frame: pd.DataFrame, target_recall: float = 0.99) -> dict:
    """A metrics.json shaped like the evaluate stage's (computed here with scikit-learn)."""
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    y, s = frame["label"].to_numpy(), frame["score"].to_numpy()
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    threshold = float(np.sort(s[y == 1])[int(np.floor((1 - target_recall) * (y == 1).sum()))])
    pred = s >= 0.5
    cm = [
        [int(((y == 0) & ~pred).sum()), int(((y == 0) & pred).sum())],
        [int(((y == 1) & ~pred).sum()), int(((y == 1) & pred).sum())],
    ]
    return {
        "model": model,
        "task": REGISTRY[model].task,
        "n": len(y),
        "accuracy": float((pred == y).mean()),
        "per_class": {
            "0": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": int((y == 0).sum())},
            "1": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": int((y == 1).sum())},
        },
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "confusion_matrix": cm,
        "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "pr_curve": {"precision": precision.tolist(), "recall": recall.tolist()},
        "target_recall": target_recall,
        "threshold_at_target_recall": threshold,
        "recall_at_threshold": float((s[y == 1] >= threshold).mean()),
    }


def synthetic_hoi_catalog(rng: np.random.Generator, n: int = 500) -> pd.DataFrame:
    pha = rng.random(n) < 0.1
    moid = np.where(pha, rng.uniform(1e-4, 0.05, n), rng.uniform(1e-3, 0.5, n))
    score = np.clip(1 / (1 + np.exp(-(-np.log10(moid) - 1.8) * 3)) + rng.normal(0, 0.05, n), 0, 1)
    return pd.DataFrame(
        {
            "des": [f"2020 A{k}" for k in range(n)],
            "full_name": "",
            "pha": pha,
            "H_mag": rng.uniform(16, 26, n),
            "a_au": 1.5,
            "e": 0.4,
            "i_deg": 10.0,
            "moid_au": moid,
            "score": score,
            "flagged": score >= 0.5,
        }
    )


def synthetic_cad(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    dist = rng.uniform(0.001, 0.3, n)
    rel = 10 ** rng.normal(-6, 1, n) * rng.choice([-1, 1], n)
    dt = 10 ** rng.normal(-1.5, 0.8, n) * rng.choice([-1, 1], n)
    rel[0] = 0.0  # exact agreement must not break the log axis
    return pd.DataFrame(
        {
            "des": [f"d{k}" for k in range(n)],
            "jpl_jd_tdb": 2459000.5 + np.arange(n),
            "jpl_dist_au": dist,
            "our_jd_tdb": 2459000.5 + np.arange(n) + dt / 1440,
            "our_dist_au": dist * (1 + rel),
            "rel_dist_err": rel,
            "dt_min": dt,
            "v_rel_kms": 10.0,
            "jpl_v_rel_kms": 10.0,
        }
    )


def all_synthetic_figures(seed: int = 1) -> dict[str, figures.Figure]:
    """Every figure from synthetic inputs (used by the tests and to look at the figures)."""
    rng = np.random.default_rng(seed)
    preds = {m: synthetic_predictions(rng, m) for m in MODELS}
    metrics = {m: metrics_from_predictions(m, p) for m, p in preds.items()}
    images, manifest = synthetic_split(rng)
    det = ("stamp_cnn", "stamp_rf")
    return {
        "orbital_elements": figures.plot_orbital_elements(
            synthetic_elements(rng, 300, "impactor"),
            synthetic_elements(rng, 600, "background"),
            synthetic_elements(rng, 800, "real"),
        ),
        "sky_map": figures.plot_sky_map(synthetic_targets(rng), DSS2_TILES, 3, "equatorial"),
        "example_cutouts": figures.plot_example_cutouts(images, manifest),
        "training_curves": figures.plot_training_curves(
            {
                "stamp_cnn": synthetic_lightning_csv(rng),
                "impactor_mlp": synthetic_lightning_csv(rng, 20),
            }
        ),
        "roc_pr": figures.plot_roc_pr(metrics),
        "confusion_matrices": figures.plot_confusion_matrices(metrics),
        "score_histograms": figures.plot_score_histograms(preds, metrics),
        "completeness": figures.plot_completeness(
            {m: preds[m] for m in det}, {m: metrics[m]["threshold_at_target_recall"] for m in det}
        ),
        "hoi_real_catalog": figures.plot_hoi_real_catalog(synthetic_hoi_catalog(rng), 0.42),
        "close_approach_validation": figures.plot_close_approach_validation(synthetic_cad(rng)),
        "clone_calibration": figures.plot_clone_calibration(synthetic_clones(rng)),
        "hazard": figures.plot_hazard(*synthetic_hazard(rng)),
        "detection_completeness": figures.plot_detection_completeness(synthetic_detection(rng)),
        "impactor_visibility": figures.plot_impactor_visibility(
            synthetic_visibility(rng), 20.8, 'a 0.8"/px survey', 2459000.5
        ),
    }


def synthetic_clones(rng: np.random.Generator) -> pd.DataFrame:
    """cad_uncertainty.csv-like rows: clones' ranges scattered around JPL's."""
    jpl = 10 ** rng.uniform(-4, -1.5, 50)
    t_jpl = 10 ** rng.uniform(-0.3, 3, 50)
    return pd.DataFrame({"jpl_range_au": jpl, "clones_range_au": jpl * 10 ** rng.normal(0.3, 0.4, 50),
                         "jpl_t_sigma_min": t_jpl, "clones_t_sigma_min": t_jpl * 10 ** rng.normal(1, 0.5, 50)})  # fmt: skip


def synthetic_detection(rng: np.random.Generator) -> dict:
    """metrics.json of the two detection classifiers, computed by the detection stage's own
    functions on a synthetic candidate set (real movers fade across m = 20.8)."""
    from asteroid_ml.detection.candidates import BOGUS_LABELS
    from asteroid_ml.detection.evaluate import mover_completeness, stamp_metrics

    n_movers, n_bogus = 60, 400
    movers = pd.DataFrame({
        "mover_id": [f"m{k}" for k in range(n_movers)], "injected_mag": rng.uniform(18, 22, n_movers),
        "rate_arcsec_min": rng.uniform(0.1, 10, n_movers), "split": rng.choice(["val", "test"], n_movers),
    })  # fmt: skip
    rows = []
    for m in movers.itertuples():
        for e in range(4):
            if rng.random() < 1 / (1 + np.exp((m.injected_mag - 20.8) / 0.3)):
                rows.append(dict(mover_id=m.mover_id, epoch=e, real=1, kind="mover", split=m.split))
    for _ in range(n_bogus):
        rows.append(dict(mover_id="", epoch=int(rng.integers(4)), real=0, split=rng.choice(["val", "test"]),
                         kind=str(rng.choice(BOGUS_LABELS))))  # fmt: skip
    candidates = pd.DataFrame(rows).assign(
        field=lambda t: np.arange(len(t)) % 3, peak_ratio=0.05, reference_flux_ratio=0.0,
        reference_distance=50.0, negative_fraction=0.0,
    )  # fmt: skip
    out = {}
    for model, good in (("detector_cnn", 3.0), ("detector_rf", 1.5)):
        score = 1 / (
            1 + np.exp(-(rng.normal(0, 1, len(candidates)) + good * (2 * candidates["real"] - 1)))
        )
        m = stamp_metrics(candidates, score.to_numpy(), 0.99, 100, 1, model)
        m["completeness"] = mover_completeness(movers, candidates, score.to_numpy(),
                                               m["threshold_at_target_recall"], 4)  # fmt: skip
        m["m50_mag"] = m["completeness"]["after_model"]["m50_mag"]
        m["survey"] = {"limit_mag": 20.79, "pixel_scale_arcsec": 0.805}
        out[model] = json.loads(json.dumps(figures_strict_json(m)))
    return out


def synthetic_visibility(rng: np.random.Generator, n: int = 800) -> pd.DataFrame:
    impactor = rng.random(n) < 0.4
    h = rng.uniform(16, 28, n)
    return pd.DataFrame({
        "population": np.where(impactor, "impactor", "background"), "H_mag": h,
        "V_mag": h + rng.uniform(2, 12, n),
        "impact_jd_tdb": np.where(impactor, 2459000.5 + 365.25 * 10 ** rng.uniform(-0.3, 3.3, n), np.nan),
    })  # fmt: skip


def synthetic_hazard(rng: np.random.Generator, n: int = 400):
    """A real-catalog summary, scores and forward runs as rule real_catalog_summary writes them."""
    des = [f"obj{k}" for k in range(n)]
    now = 10 ** rng.uniform(-4, -0.5, n)
    forward = pd.DataFrame(
        {"des": des, "moid_now_au": now, "moid_min_au": now * rng.uniform(0.01, 1.0, n)}
    )
    forward["future_approach"] = (forward["moid_min_au"] <= 0.05).astype(int)
    scores = pd.DataFrame({"des": des, "pha": (now <= 0.05) & (rng.random(n) < 0.2)})
    rows = [
        {"model": m, "label": label, "roc_auc": rng.uniform(0.5, 1.0), "recall": 0.9,
         "recall_ci95_low": 0.85, "recall_ci95_high": 0.95}
        for m in model_names("impactor") for label in ("pha", "future_approach")
    ]  # fmt: skip
    return pd.DataFrame(rows), scores, forward, 0.05


# ----------------------------------------------------------------------------- tests
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_png_and_pdf_bytes_are_reproducible(tmp_path):
    """Same inputs, two independent renders: identical PNG and PDF bytes (images and text)."""
    digests = []
    for attempt in range(2):
        rng = np.random.default_rng(5)
        images, manifest = synthetic_split(rng, n=24)
        fig = figures.plot_example_cutouts(images, manifest, n_per_class=4)
        png, pdf = tmp_path / f"ex{attempt}.png", tmp_path / f"ex{attempt}.pdf"
        figures.save_figure(fig, png, pdf, dpi=72)
        digests.append((_sha256(png), _sha256(pdf)))
    assert digests[0] == digests[1]
    # and a different input changes the bytes (the comparison can fail)
    images, manifest = synthetic_split(np.random.default_rng(6), n=24)
    figures.save_figure(
        figures.plot_example_cutouts(images, manifest, n_per_class=4),
        tmp_path / "other.png",
        tmp_path / "other.pdf",
        dpi=72,
    )
    assert _sha256(tmp_path / "other.png") != digests[0][0]


@pytest.mark.slow
def test_every_figure_renders_and_is_byte_reproducible(tmp_path):
    first = all_synthetic_figures()
    assert set(first) == set(figures.FIGURES)
    for name, fig in first.items():
        figures.save_figure(fig, tmp_path / f"{name}.png", tmp_path / f"{name}.pdf", dpi=80)
    again = all_synthetic_figures()  # rebuilt from scratch: new Figure objects, same inputs
    for name, fig in again.items():
        figures.save_figure(fig, tmp_path / f"{name}-2.png", tmp_path / f"{name}-2.pdf", dpi=80)
        png1, png2 = tmp_path / f"{name}.png", tmp_path / f"{name}-2.png"
        assert png1.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert _sha256(png1) == _sha256(png2), f"{name}: PNG bytes differ between two renders"
        assert _sha256(tmp_path / f"{name}.pdf") == _sha256(tmp_path / f"{name}-2.pdf"), name
        pdf = (tmp_path / f"{name}.pdf").read_bytes()
        assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf
        assert b"Software" not in png1.read_bytes()
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_png_size_follows_width_and_dpi(tmp_path):
    from PIL import Image

    fig = figures.plot_close_approach_validation(synthetic_cad(np.random.default_rng(0)))
    figures.save_figure(fig, tmp_path / "c.png", tmp_path / "c.pdf", dpi=100)
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == (round(figures.PAGE_WIDTH_IN * 100), round(2.3 * 100))


def test_style_does_not_leak_and_ignores_user_rc():
    import matplotlib

    before = matplotlib.rcParams["font.size"]
    with matplotlib.rc_context({"font.size": 23, "font.family": "serif"}):
        fig = figures.plot_confusion_matrices(
            {"stamp_cnn": {"task": "detector", "confusion_matrix": [[5, 1], [2, 7]]}}
        )
        texts = [t for t in fig.axes[0].texts if "\n" in t.get_text()]
        assert {t.get_fontsize() for t in texts} == {6.5}
        assert fig.axes[0].xaxis.label.get_fontsize() == figures.STYLE["axes.labelsize"]
        assert fig.axes[0].xaxis.label.get_fontfamily() == ["sans-serif"]
    assert matplotlib.rcParams["font.size"] == before


def test_confusion_matrix_cells_show_counts_and_row_fractions():
    fig = figures.plot_confusion_matrices(
        {"impactor_mlp": {"task": "impactor", "confusion_matrix": [[90, 10], [1, 3]]}}
    )
    texts = sorted(t.get_text() for t in fig.axes[0].texts if "\n" in t.get_text())
    assert texts == sorted(["90\n90.0%", "10\n10.0%", "1\n25.0%", "3\n75.0%"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["background", "impactor"]


def test_completeness_curve_values_and_wilson_interval():
    values = np.array([1.0, 1.5, 2.5, 2.6, 2.7, 2.8])
    detected = np.array([False, False, True, True, True, False])
    p, lo, hi, n = binned_fraction(values, detected, [1.0, 2.0, 3.0, 4.0], Z_68)
    np.testing.assert_array_equal(n, [2, 4, 0])
    np.testing.assert_allclose(p[:2], [0.0, 0.75])
    assert np.isnan(p[2])
    # Wilson 68 % interval for 3/4: centre (0.75 + 1/8) / 1.25 = 0.7, half-width sqrt(3/64 + 1/64) / 1.25
    np.testing.assert_allclose([lo[1], hi[1]], [0.7 - 0.2, 0.7 + 0.2])
    assert lo[0] == pytest.approx(0.0) and 0 < hi[0] < 1


def test_epoch_losses_average_per_epoch_over_split_rows():
    table = pd.DataFrame(
        {
            "epoch": [0, 0, 0, 1, 1],
            "step": [0, 1, 1, 2, 2],
            "train_loss": [1.0, 0.5, np.nan, 0.2, np.nan],
            "val_loss": [np.nan, np.nan, 0.9, np.nan, 0.4],
        }
    )
    losses = figures.epoch_losses(table)
    np.testing.assert_allclose(losses["train_loss"], [0.75, 0.2])
    np.testing.assert_allclose(losses["val_loss"], [0.9, 0.4])
    with pytest.raises(ValueError, match="val_loss"):
        figures.epoch_losses(table.drop(columns="val_loss"))


def test_example_selection_is_deterministic_and_spans_snr():
    images, manifest = synthetic_split(np.random.default_rng(3))
    pos, neg = figures.select_examples(manifest, 6)
    pos2, neg2 = figures.select_examples(
        manifest.sample(frac=1, random_state=5), 6
    )  # row order must not matter
    assert list(pos.sample_id) == list(pos2.sample_id) and list(neg.sample_id) == list(
        neg2.sample_id
    )
    positives = manifest[manifest.label == 1]
    assert pos.snr.iloc[0] == positives.snr.min() and pos.snr.iloc[-1] == positives.snr.max()
    assert list(pos.snr) == sorted(pos.snr)
    assert list(neg.kind[:5]) == list(NEGATIVE_KINDS)


def test_asinh_stretch_uses_robust_noise_and_blanks_to_zero():
    rng = np.random.default_rng(0)
    img = rng.normal(100.0, 5.0, (64, 64))
    img[10, 10] = 100.0 + 5.0 * 2.0 * np.sinh(3.0)  # a source at asinh level 3
    img[0, 0] = np.nan
    out = figures.asinh_stretch(img)
    assert out[0, 0] == 0.0
    assert out[10, 10] == pytest.approx(3.0, abs=0.1)
    assert np.median(out) == pytest.approx(0.0, abs=0.02)
    assert 1.4826 * np.median(np.abs(out - np.median(out))) == pytest.approx(
        np.arcsinh(0.5), rel=0.1
    )


def test_tile_outlines_match_healpix_vertices():
    from cdshealpix import nested

    outlines = figures.tile_outlines(np.array([304, 665]), 3, "equatorial", points_per_edge=4)
    lon, lat = nested.vertices(np.array([304, 665], dtype=np.uint64), 3)
    for (ra, dec), vlon, vlat in zip(outlines, lon.deg, lat.deg, strict=True):
        assert ra.shape == (17,)
        corners = np.stack([ra[::4][:4], dec[::4][:4]], axis=1)
        expected = np.stack([vlon, vlat], axis=1)
        for corner in corners:  # every outline corner is a HEALPix vertex (order may differ)
            sep = np.hypot(
                (corner[0] - expected[:, 0] + 180) % 360 - 180, corner[1] - expected[:, 1]
            )
            assert sep.min() < 1e-6
    # Base cell 4 of a galactic HiPS is centred on the Galactic Centre (l = b = 0).
    from astropy.coordinates import SkyCoord

    ra, dec = figures.tile_outlines(np.array([4]), 0, "galactic")[0]
    mean = SkyCoord(ra[:-1], dec[:-1], unit="deg").cartesian.xyz.value.mean(axis=1)
    centre = SkyCoord(*mean, representation_type="cartesian", frame="icrs").galactic
    assert (centre.l.wrap_at("180d").deg, centre.b.deg) == pytest.approx((0.0, 0.0), abs=0.05)


def test_real_neo_elements_from_jpl_csv():
    path = Path(__file__).resolve().parents[1] / "resources" / "neo" / "neos-2020.csv"
    if not path.exists():
        pytest.skip("resources/neo/neos-2020.csv not shipped yet")
    real = figures.real_neo_elements(pd.read_csv(path, low_memory=False))
    assert len(real) == 4226
    toro = real.iloc[0]
    assert toro.a_au == pytest.approx(1.367586471676899) and toro.i_deg == pytest.approx(
        9.383132281270342
    )
    np.testing.assert_allclose(real.q_au, real.a_au * (1 - real.e), rtol=1e-6)


def test_loaders_read_contract_files_and_cli(tmp_path):
    """The file loaders and ``asteroid-ml figure`` on files written as the stages write them."""
    from asteroid_ml.cli import main
    from asteroid_ml.io import save_npy, write_json, write_parquet

    rng = np.random.default_rng(2)
    metric_paths, pred_paths = [], []
    for model in MODELS:
        preds = synthetic_predictions(rng, model)
        (tmp_path / "eval" / model).mkdir(parents=True)
        write_parquet(preds, tmp_path / "eval" / model / "predictions.parquet")
        write_json(
            metrics_from_predictions(model, preds), tmp_path / "eval" / model / "metrics.json"
        )
        metric_paths.append(str(tmp_path / "eval" / model / "metrics.json"))
        pred_paths.append(str(tmp_path / "eval" / model / "predictions.parquet"))
    images, manifest = synthetic_split(rng)
    save_npy(images, tmp_path / "test.npy")
    other = manifest.assign(split="train")
    write_parquet(pd.concat([other, manifest]), tmp_path / "manifest.parquet")
    config = {"figures": {"dpi": 60}}
    figures.make_figure(
        "example_cutouts",
        {"images": str(tmp_path / "test.npy"), "manifest": str(tmp_path / "manifest.parquet")},
        config,
        tmp_path / "ex.png",
        tmp_path / "ex.pdf",
    )
    figures.make_figure(
        "completeness",
        {"metrics": metric_paths[:2], "predictions": pred_paths[:2]},
        config,
        tmp_path / "co.png",
        tmp_path / "co.pdf",
    )
    assert (tmp_path / "ex.png").stat().st_size > 1000 and (
        tmp_path / "co.pdf"
    ).stat().st_size > 1000
    with pytest.raises(ValueError, match="unknown figure"):
        figures.make_figure("nope", {}, config, tmp_path / "n.png", tmp_path / "n.pdf")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        figures.make_figure(
            "roc_pr",
            {"metrics": [str(tmp_path / "missing.json")]},
            config,
            tmp_path / "r.png",
            tmp_path / "r.pdf",
        )
    write_parquet(synthetic_cad(rng).drop(columns="dt_min"), tmp_path / "cad.parquet")
    with pytest.raises(ValueError, match="dt_min"):
        figures.make_figure(
            "close_approach_validation",
            {"comparison": str(tmp_path / "cad.parquet")},
            config,
            tmp_path / "v.png",
            tmp_path / "v.pdf",
        )

    args = [
        "figure",
        "roc_pr",
        "--inputs",
        *[f"metrics={p}" for p in metric_paths],
        "--output-png",
        str(tmp_path / "roc.png"),
        "--output-pdf",
        str(tmp_path / "roc.pdf"),
        "--dpi",
        "60",
    ]
    assert main(args) == 0
    assert (tmp_path / "roc.png").exists()
    assert (
        json.loads((tmp_path / "eval" / "stamp_cnn" / "metrics.json").read_text())["task"]
        == "detector"
    )


def test_sky_map_loader_with_shipped_survey(tmp_path):
    hips = pytest.importorskip("asteroid_ml.hips")
    survey_dir = Path(__file__).resolve().parents[1] / "resources" / "hips" / "DSS2Red"
    if not survey_dir.exists():
        pytest.skip("resources/hips/DSS2Red not shipped yet")
    survey = hips.open_survey(str(survey_dir))
    np.testing.assert_array_equal(survey.available_tiles(), DSS2_TILES)
    targets = synthetic_targets(np.random.default_rng(4), 100)
    from asteroid_ml.io import write_parquet

    write_parquet(targets, tmp_path / "targets.parquet")
    figures.make_figure(
        "sky_map",
        {"targets": str(tmp_path / "targets.parquet"), "survey": str(survey_dir)},
        {"figures": {"dpi": 60}, "survey": {"location": str(survey_dir)}},
        tmp_path / "s.png",
        tmp_path / "s.pdf",
    )
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_example_selection_prefers_cutouts_without_blank_pixels():
    _, manifest = synthetic_split(np.random.default_rng(3))
    manifest["blank_fraction"] = np.where(manifest["sample_id"] % 2 == 0, 0.3, 0.0)
    pos, neg = figures.select_examples(manifest, 3)
    assert (pos.blank_fraction == 0).all() and (neg.blank_fraction == 0).all()
    manifest["blank_fraction"] = 0.5  # nothing complete: fall back to all cutouts
    pos, _ = figures.select_examples(manifest, 3)
    assert len(pos) == 3


def test_hoi_legend_reports_counts_and_flagged_fractions():
    catalog = pd.DataFrame(
        {
            "pha": [True, True, False, False, False, False],
            "score": [0.9, 0.1, 0.8, 0.2, 0.1, 0.05],
            "moid_au": [0.01, 0.02, 0.1, 0.2, 0.3, 0.4],
        }
    )
    fig = figures.plot_hoi_real_catalog(catalog, threshold=0.5)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["Non-PHAs (4; 25.0% flagged)", "PHAs (2; 50.0% flagged)", "Threshold (0.5)"]
