"""Detection as surveys do it: difference images, sep candidates, sequences, survey metrics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from asteroid_ml.config import section_with_defaults
from asteroid_ml.dataset.injection import PSF, render_trail
from asteroid_ml.detection.candidates import detect, filtered_noise_ratio, gaussian_kernel, label
from asteroid_ml.detection.difference import difference_image, sources
from asteroid_ml.detection.epochs import ArtefactRates, Mover, simulate_epochs
from asteroid_ml.detection.evaluate import completeness_limits, stamp_metrics
from asteroid_ml.detection.sequences import LinkSettings, link
from asteroid_ml.detection.survey_model import SurveyModel
from asteroid_ml.detection.workflow import survey_model

NO_ARTEFACTS = ArtefactRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.5, (6.0, 60.0), 0.3)


def _default_rates() -> ArtefactRates:
    """The schema's default artefact rates (the only home of those numbers)."""
    return ArtefactRates.from_config(DETECTION["artefacts"])


#: The schema's detection section (the only home of its defaults).
DETECTION = section_with_defaults("detection", {})
MODEL = replace(
    survey_model({"detection": DETECTION}, 0.805), fwhm_arcsec=2.4, zero_point_mag=31.2,
    sky_sigma=500.0, exposure_s=30.0, cadence_min=10.0, n_epochs=4,
    saturation_counts=float("inf"),  # no star of these tests saturates, unless one says so
)  # fmt: skip


def _campaign(**values):
    """The schema's campaign settings, at one binning and with as many evaluation
    realisations as training ones, with ``values`` changed."""
    from asteroid_ml.detection.campaign import CampaignSettings

    settings = CampaignSettings.from_config(DETECTION)
    return replace(settings, **{"binnings": (1,), "eval_realisations": None, **values})


def _sky(seed: int, size: int = 128) -> np.ndarray:
    """A reference: sky level, noise and a dozen stars of the reference PSF, in the rows
    above 95 (the fakes below stay clear of the stars' subtraction residuals)."""
    rng = np.random.default_rng(seed)
    image = 5000.0 + rng.normal(0.0, MODEL.sky_sigma, (size, size))
    psf = PSF("gaussian", MODEL.fwhm_px)
    for _ in range(12):
        x, y = rng.uniform(8, size - 8), rng.uniform(95, size - 8)
        image += MODEL.flux(rng.uniform(15.0, 18.0)) * render_trail(image.shape, x, y, 0, 0, psf)
    return image


def test_limiting_magnitude_formula():
    """m_lim = ZP - 2.5 log10(5 sigma sqrt(4 pi) s): hand-computed for the test survey."""
    s = MODEL.fwhm_px / 2.3548200450309493 * 1.3
    expected = 31.2 - 2.5 * np.log10(5 * 500.0 * np.sqrt(4 * np.pi) * s)
    assert MODEL.limiting_magnitude() == pytest.approx(expected, abs=1e-9)
    assert MODEL.limiting_magnitude(snr=10) == pytest.approx(expected - 2.5 * np.log10(2))


def test_the_threshold_is_on_the_measured_noise_of_the_filtered_image():
    """White noise: the filtered noise is what independent pixels give (ratio 1). Noise
    correlated by a known Gaussian g: the ratio is sqrt(sum (g*k)^2) / (sigma_pixel
    sqrt(sum k^2)), computed from the kernels alone (4.51 for these widths)."""
    from scipy import ndimage, signal

    rng = np.random.default_rng(5)
    kernel = gaussian_kernel(2.4)
    # 1024 px: ~14,000 independent PSF areas, so the measured noise is good to ~1 %
    white = rng.normal(0.0, 1.0, (1024, 1024))
    assert filtered_noise_ratio(white, 1.0, kernel) == pytest.approx(1.0, abs=0.03)
    smoothing = gaussian_kernel(1.5)
    correlated = ndimage.convolve(white, smoothing, mode="wrap")
    pixel_sigma = float(np.sqrt(np.sum(smoothing**2)))
    both = signal.convolve2d(smoothing, kernel)
    expected = np.sqrt(np.sum(both**2)) / (pixel_sigma * np.sqrt(np.sum(kernel**2)))
    assert expected == pytest.approx(4.51, abs=0.01)
    ratio = filtered_noise_ratio(correlated, pixel_sigma, kernel)
    assert ratio == pytest.approx(expected, rel=0.03)


def test_a_fake_brighter_than_the_limit_is_found_at_its_true_position():
    reference = _sky(1)
    mag = MODEL.limiting_magnitude() - 1.5
    mover = Mover("fake", 40.0, 50.0, 1.5, 0.8, mag)
    rng = np.random.default_rng(2)
    epochs = simulate_epochs(reference, MODEL, [mover], NO_ARTEFACTS, rng)
    stars = sources(reference)
    for e, science in enumerate(epochs.science):
        diff = difference_image(reference, science, MODEL, stars)
        found = detect(diff, MODEL)
        truth = epochs.truth[(epochs.truth["epoch"] == e) & (epochs.truth["kind"] == "mover")]
        x, y = float(truth["x"].iloc[0]), float(truth["y"].iloc[0])
        distance = np.hypot(found["x"] - x, found["y"] - y)
        assert distance.min() < 1.0, (e, found[["x", "y"]], x, y)
        real, kind, obj, _ = label(found, epochs.truth, e, MODEL.fwhm_px, stars, epochs.offset[e])
        k = int(np.argmin(distance.to_numpy()))
        assert real[k] == 1 and kind[k] == "mover" and obj[k] == "fake"


def test_too_few_stars_fall_back_on_the_detector_solution():
    """Two stars: too few to register on. Aligned at the reference seeing (no fallback), the
    difference shows both stars; on the whole detector's solution (the true offset and
    seeing, blurred by its precision) they subtract to a fraction of that."""
    from asteroid_ml.detection.difference import detector_solution, register

    rng = np.random.default_rng(7)
    reference = 5000.0 + rng.normal(0.0, MODEL.sky_sigma, (96, 96))
    psf = PSF("gaussian", MODEL.fwhm_px)
    star_xy = [(30.0, 40.0), (65.0, 60.0)]
    for x, y in star_xy:
        reference += MODEL.flux(16.0) * render_trail(reference.shape, x, y, 0, 0, psf)
    stars = sources(reference)
    assert len(stars) == 2
    epochs = simulate_epochs(reference, MODEL, [], NO_ARTEFACTS, np.random.default_rng(8))
    near = np.zeros(reference.shape, bool)
    for x, y in star_xy:
        yy, xx = np.ogrid[:96, :96]
        near |= (xx - x - epochs.offset[0][0]) ** 2 + (yy - y - epochs.offset[0][1]) ** 2 < 36
    solution = detector_solution(
        epochs.offset[0], epochs.seeing_ratio[0], MODEL, np.random.default_rng(9)
    )
    aligned = difference_image(reference, epochs.science[0], MODEL, stars)
    fallback = difference_image(reference, epochs.science[0], MODEL, stars, solution)
    assert aligned.registration == register(stars, sources(epochs.science[0]))
    assert not aligned.registration.detector and aligned.registration.seeing_ratio == 1.0
    assert fallback.registration.detector and fallback.registration.n_stars == 2
    assert fallback.registration.dx == solution.dx
    rms = [float(np.sqrt(np.mean(d.difference[near] ** 2))) for d in (aligned, fallback)]
    assert rms[1] < rms[0] / 4, rms
    # With enough stars the measured registration is used, not the fallback.
    many = _sky(1)
    many_epochs = simulate_epochs(many, MODEL, [], NO_ARTEFACTS, np.random.default_rng(3))
    measured = register(sources(many), sources(many_epochs.science[0]), solution)
    assert measured.n_stars >= 3 and not measured.detector and measured.dx != solution.dx


def test_the_detector_solution_is_the_truth_blurred_by_its_precision():
    from dataclasses import replace

    from asteroid_ml.detection.difference import detector_solution

    exact = replace(MODEL, solution_astrometric_sigma_px=0.0, solution_seeing_frac=0.0)
    sol = detector_solution((0.3, -0.2), 1.25, exact, np.random.default_rng(0))
    assert (sol.dx, sol.dy, sol.seeing_ratio, sol.detector) == (0.3, -0.2, 1.25, True)
    rng = np.random.default_rng(1)
    draws = [detector_solution((0.3, -0.2), 1.25, MODEL, rng) for _ in range(4000)]
    dx = np.array([d.dx for d in draws]) - 0.3
    ratio = np.array([d.seeing_ratio for d in draws]) / 1.25 - 1.0
    # rms within 5 % of the configured precision (4,000 draws: ~1.1 % standard error)
    assert np.std(dx) == pytest.approx(MODEL.solution_astrometric_sigma_px, rel=0.05)
    assert np.std(ratio) == pytest.approx(MODEL.solution_seeing_frac, rel=0.05)


def test_completeness_falls_across_the_limit_and_m50_matches_the_formula():
    """Fakes around the limit on real-noise sky: m50 within 0.5 mag of the formula, and the
    completeness within m50 +- 0.5 mag between 0.2 and 0.8."""
    model = SurveyModel(**{**vars(MODEL), "n_epochs": 1})
    m_lim = model.limiting_magnitude()
    mags, found = [], []
    rng = np.random.default_rng(3)
    reference = _sky(4)
    stars = sources(reference)
    for _ in range(40):
        movers = [
            Mover(f"m{k}", 20.0 + 30.0 * (k % 3), 20.0 + 30.0 * (k // 3), 0.5, 0.0,
                  float(rng.uniform(m_lim - 2.0, m_lim + 1.5)))
            for k in range(9)
        ]  # fmt: skip
        epochs = simulate_epochs(reference, model, movers, NO_ARTEFACTS, rng)
        diff = difference_image(reference, epochs.science[0], model, stars)
        candidates = detect(diff, model)
        for m in movers:
            mags.append(m.mag)
            x, y = m.x0 + epochs.offset[0][0], m.y0 + epochs.offset[0][1]
            found.append(bool(np.any(np.hypot(candidates["x"] - x, candidates["y"] - y) < 2.0)))
    mags, found = np.array(mags), np.array(found)
    limits = completeness_limits(mags, found)
    assert abs(limits["m50_mag"] - m_lim) < 0.5, (limits, m_lim)
    near = np.abs(mags - limits["m50_mag"]) <= 0.5
    assert 0.2 <= found[near].mean() <= 0.8
    assert found[mags < m_lim - 1.5].mean() > 0.95
    assert found[mags > m_lim + 1.0].mean() < 0.1


def _detections(rows):
    return pd.DataFrame(rows, columns=["index", "epoch", "t_min", "x_ref", "y_ref"])


def test_a_cosmic_ray_in_one_epoch_does_not_make_a_sequence():
    """A mover in 4 epochs, cosmic rays in single epochs (one 1.2 px off the mover's path),
    a hot pixel that stays put: one sequence, the mover's, without any of them."""
    rows = [(k, k, 10.0 * k, 20.0 + 5.0 * k, 30.0 + 2.0 * k) for k in range(4)]  # the mover
    rows.append((10, 2, 20.0, 31.0, 33.3))  # cosmic ray beside the mover's epoch-2 position
    rows.append((11, 1, 10.0, 60.0, 60.0))  # a lone cosmic ray
    rows += [(20 + k, k, 10.0 * k, 80.0, 80.0) for k in range(4)]  # hot pixel: no motion
    sequences = link(_detections(rows), LinkSettings(min_detections=3))
    assert list(sequences["members"]) == [(0, 1, 2, 3)]
    # cosmic rays alone: one per epoch, scattered: nothing
    rays = [
        (30 + k, k, 10.0 * k, x, y)
        for k, (x, y) in enumerate([(5, 5), (90, 12), (40, 70), (7, 99)])
    ]
    assert link(_detections(rays), LinkSettings(min_detections=3)).empty


def test_the_gate_not_the_fit_tolerance_decides_which_detections_are_tried():
    """Detections at t = 0, 10, 30 min on x = 20 + t, the middle one 2.5 px off: it lies 2.5 px
    from the line of the other two (the closest any pair's line comes), while the fit of all
    three has rms 0.463 x 2.5 = 1.16 px (hand-computed), within the 2-px tolerance. A 2-px gate
    never tries it; the 3-px gate links the three."""
    rows = [(0, 0, 0.0, 20.0, 40.0), (1, 1, 10.0, 32.5, 40.0), (2, 3, 30.0, 50.0, 40.0)]
    assert link(_detections(rows), LinkSettings(gate_px=2.0)).empty
    linked = link(_detections(rows), LinkSettings(gate_px=3.0))
    assert list(linked["members"]) == [(0, 1, 2)]
    assert linked["rms_px"].iloc[0] == pytest.approx(0.4629 * 2.5, rel=1e-3)


def test_a_better_fitting_bogus_line_through_one_detection_does_not_take_it():
    """A mover at t = 0, 10, 20 min whose middle detection is 1.5 px off (fit rms
    sqrt(0.5) = 0.707 px, hand-computed) and a bogus line through that detection fitting
    exactly: both are sequences (they share one detection). Keeping one per detection, the
    better fit took the mover's detection and the mover was lost."""
    rows = [(0, 0, 0.0, 20.0, 40.0), (1, 1, 10.0, 30.0, 41.5), (2, 2, 20.0, 40.0, 40.0)]
    rows += [(10, 0, 0.0, 10.0, 61.5), (12, 2, 20.0, 50.0, 21.5)]  # on a line through 1
    linked = link(_detections(rows)).set_index("members")
    assert sorted(linked.index) == [(0, 1, 2), (10, 1, 12)]
    assert linked.loc[[(0, 1, 2)], "rms_px"].iloc[0] == pytest.approx(np.sqrt(0.5))
    assert linked.loc[[(10, 1, 12)], "rms_px"].iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_a_sequence_scores_the_median_of_its_detections():
    """One badly scored detection neither sinks a mover's sequence nor lifts a bogus one."""
    from asteroid_ml.detection.sequences import score_sequences

    scores = pd.Series([0.95, 0.02, 0.9, 0.97, 0.05, 0.03, 0.8, 0.6, 0.4, 0.1])
    sequences = pd.DataFrame({"members": [(0, 1, 2), (3, 4, 5), (6, 7, 8, 9)]})
    assert score_sequences(sequences, scores) == pytest.approx([0.9, 0.05, 0.5])


def test_stamp_metrics_equal_hand_computed_values():
    """Val fields set the threshold (99 % recall of 4 reals -> the lowest real score 0.6);
    on test: 3 reals, 5 bogus."""
    val = [(1, 0.9), (1, 0.8), (1, 0.7), (1, 0.6), (0, 0.65), (0, 0.1)]
    test = [(1, 0.95), (1, 0.61), (1, 0.5), (0, 0.9), (0, 0.7), (0, 0.2), (0, 0.1), (0, 0.05)]
    kinds = ["noise", "cosmic_ray", "noise", "noise", "star_residual"]
    frame = pd.DataFrame(
        [dict(split="val", real=r, score=s, kind="mover" if r else "noise") for r, s in val]
        + [dict(split="test", real=r, score=s, kind="mover") for r, s in test if r]
        + [dict(split="test", real=0, score=s, kind=k) for (_, s), k in zip(test[3:], kinds, strict=True)]
    ).assign(field=[0] * 6 + [1, 1, 1, 1, 1, 2, 2, 2], peak_ratio=0.05, reference_flux_ratio=0.0,
             reference_distance=50.0, negative_fraction=0.0)  # fmt: skip
    # the test bogus (rows 9-13): a cosmic ray (sharp), a residual on a star, a dipole
    frame.loc[10, "peak_ratio"] = 0.3
    frame.loc[11, ["peak_ratio", "reference_flux_ratio", "reference_distance"]] = [0.3, 5.0, 2.0]
    frame.loc[12, ["reference_flux_ratio", "negative_fraction"]] = [5.0, 0.5]  # a star 50 px away
    metrics = stamp_metrics(frame, frame["score"].to_numpy(), 0.99, 200, 7, "hand")
    assert metrics["threshold_at_target_recall"] == pytest.approx(0.6)
    # passed on test: reals 0.95, 0.61 (0.5 missed); bogus 0.9 (noise), 0.7 (cosmic ray)
    assert metrics["recall_at_threshold"] == pytest.approx(2 / 3)
    assert metrics["fdr_at_target_recall"] == pytest.approx(2 / 4)
    # the survey's own stream (the 5 bogus) in over out; with the 3 fakes: 8 in, 4 out
    assert metrics["candidate_reduction_at_target_recall"] == pytest.approx(5 / 2)
    assert metrics["candidate_reduction_with_fakes"] == pytest.approx(8 / 4)
    assert metrics["max_reduction_with_fakes"] == pytest.approx(8 / 3)
    # 2 of 5 bogus pass: Wilson 95 % interval of 0.4 is [0.1176, 0.7693] (hand-computed)
    assert metrics["candidate_reduction_ci95"] == pytest.approx([1 / 0.7693, 1 / 0.1176], rel=1e-3)
    # on a stream with 5 % reals: 1 / (0.05 * 2/3 + 0.95 * 2/5)
    assert metrics["reduction_at_real_fraction"]["0.05"] == pytest.approx(
        1 / (0.05 * 2 / 3 + 0.95 * 0.4)
    )
    # at the test set's own real fraction (3 of 8) it is the measured reduction
    from asteroid_ml.detection.evaluate import reduction_at_real_fraction

    assert reduction_at_real_fraction(2 / 3, 2 / 5, 3 / 8) == pytest.approx(8 / 4)
    by_kind = metrics["false_positive_rate_by_kind"]
    assert by_kind["noise"]["n"] == 3 and by_kind["noise"]["passed"] == 1
    assert by_kind["cosmic_ray"]["false_positive_rate"] == 1.0
    assert by_kind["star_residual"]["false_positive_rate"] == 0.0
    mix = {row["observable_class"]: row for row in metrics["bogus_mix"]}
    assert {k: mix[k]["n"] for k in mix} == {"dipole": 1, "on_star": 1, "sharp": 1, "point_like": 2}
    assert mix["sharp"]["passed"] == 1 and mix["point_like"]["passed"] == 1  # 0.7 and 0.9
    assert mix["point_like"]["share"] == pytest.approx(2 / 5)
    # test field 1: reals 0.95, 0.61, 0.5 and bogus 0.9, 0.7 -> FDR 2/4; field 2: no pass
    fields = metrics["field_bootstrap"]
    assert fields["n_fields"] == 2
    assert fields["by_field"]["1"]["fdr"] == pytest.approx(0.5)
    assert fields["by_field"]["1"]["recall"] == pytest.approx(2 / 3)
    assert fields["by_field"]["2"]["false_positive_rate"] == 0.0


def test_field_bootstrap_spans_the_fields_where_a_wilson_interval_would_not():
    """Two test fields of 10 reals and 10 bogus, every real kept; field 0 keeps no bogus,
    field 1 all of them. Pooled, the FDR is 10/30; a Wilson interval over the 40 candidates
    would be about 0.20-0.50. Drawing whole fields, the resamples are {0, 0} (FDR 0), {1, 1}
    (0.5) and {0, 1} (1/3): the interval is [0, 0.5], the two fields' own values."""
    from asteroid_ml.detection.evaluate import field_intervals

    labels = np.array(([1] * 10 + [0] * 10) * 2)
    kept = np.array([True] * 10 + [False] * 10 + [True] * 20)
    fields = np.repeat([0, 1], 20)
    out = field_intervals(labels, kept, fields, 1000, 3, "two fields")
    assert out["fdr_ci95"] == pytest.approx([0.0, 0.5])
    assert out["recall_ci95"] == pytest.approx([1.0, 1.0])
    assert out["by_field"]["0"]["candidate_reduction"] == float("inf")
    assert out["by_field"]["1"]["candidate_reduction"] == pytest.approx(1.0)
    # the same draws for the same seed and name; another name, another stream
    again = field_intervals(labels, kept, fields, 1000, 3, "two fields")
    assert again == out


def test_sequence_metrics_equal_hand_computed_values():
    """At the detection threshold 0.6 two val movers are kept; on test a mover at 0.8 is kept, one
    at 0.5 missed, one whose detections do not line up is missed (not linked), a bogus line at
    0.7 passes and two (0.2, 0.1) do not, and a mover seen twice plus a stray detection on its
    path is a sequence of that mover (2 of 3), though not findable (2 epochs), and one that
    moves 1.5 px in 4 epochs is too slow to be a mover (not findable, counted apart)."""
    from asteroid_ml.detection.evaluate import sequence_metrics

    rows = []

    def track(split, field, mover, y, epochs, score, step=4.0):
        for e in epochs:
            rows.append(dict(split=split, field=field, realisation=0, epoch=e, t_min=10.0 * e,
                             x_ref=20.0 + step * e, y_ref=y, mover_id=mover, real=int(mover != ""),
                             score=score))  # fmt: skip

    # One field per track (links are made per field), except where tracks must meet: evenly
    # spaced parallel tracks in one field would line up across tracks.
    track("val", 0, "v1", 20.0, range(4), 0.9)
    track("val", 1, "v2", 80.0, range(3), 0.6)
    track("test", 2, "t1", 20.0, range(4), 0.8)
    track("test", 3, "t2", 60.0, (1, 2, 3), 0.5)
    track("test", 4, "", 100.0, (0, 1, 2), 0.7)  # bogus detections that line up
    track("test", 5, "", 140.0, (0, 2, 3), 0.2)
    track("test", 6, "", 180.0, range(4), 0.9, step=0.0)  # a stationary source: no sequence
    track("test", 7, "", 220.0, (1, 2, 3), 0.1, step=-4.0)
    track("test", 8, "t3", 260.0, (0, 1), 0.9)
    track("test", 8, "t3", 260.0, (2,), 0.9, step=10.0)  # 12 px off the line of the first two
    track("test", 9, "t4", 300.0, (0, 1), 0.9)
    track("test", 9, "", 300.0, (2,), 0.9)  # a stray detection on t4's path
    track("test", 10, "t5", 340.0, range(4), 0.9, step=0.5)  # 1.5 px in 30 min: too slow
    table = pd.DataFrame(rows)
    table.insert(0, "candidate_id", np.arange(len(table)))
    scores = table.pop("score").to_numpy()
    m = sequence_metrics(table, scores, 0.6, 0.99, LinkSettings(), 200, 7)
    assert m["threshold_at_target_recall"] == 0.6
    assert (m["val_findable_movers"], m["val_movers_kept"]) == (2, 2)  # v1 0.9, v2 0.6
    # findable on test: t1, t2, t3 (>= 3 epochs); t2 below the threshold, t3 not linked
    assert (m["findable_movers"], m["movers_missed"]) == (3, 2)
    assert (m["movers_not_linked"], m["movers_below_threshold"], m["movers_too_slow"]) == (1, 1, 1)
    assert (m["sequences"], m["sequences_passed"], m["bogus_sequences"]) == (6, 3, 3)
    assert m["fdr_at_target_recall"] == pytest.approx(1 / 3)
    # the survey's own sequences (3 bogus) in over out (1); with the fakes' 3: 6 in, 3 out
    assert m["candidate_reduction_at_target_recall"] == pytest.approx(3.0)
    assert m["sequences_screened_fewer_fraction"] == pytest.approx(2 / 3)
    assert m["candidate_reduction_with_fakes"] == pytest.approx(2.0)
    assert m["sequences_screened_fewer_with_fakes"] == pytest.approx(0.5)
    assert m["max_screened_fewer_with_fakes"] == pytest.approx(0.5)
    # A lower operating point (0.45) keeps t2 (0.5); the bogus line at 0.2 still does not pass.
    low = sequence_metrics(table, scores, 0.45, 0.99, LinkSettings(), 200, 7)
    assert (low["movers_missed"], low["movers_below_threshold"]) == (1, 0)
    assert (low["sequences_passed"], low["bogus_sequences"]) == (4, 3)
    assert low["val_movers_kept"] == 2
    high = sequence_metrics(
        table, scores, 0.7, 0.99, LinkSettings(), 200, 7
    )  # v2 (0.6) is below it
    assert high["val_movers_kept"] == 1 and high["movers_below_threshold"] == 1  # t2 only
    # per field: t1 (field 2) kept, t2 (field 3) and t3 (field 8) missed
    by_field = m["field_bootstrap"]["by_field"]
    assert by_field["2"]["movers_kept"] == 1.0 and by_field["3"]["movers_kept"] == 0.0
    assert by_field["8"]["movers_kept"] == 0.0
    assert by_field["4"]["fdr"] == 1.0  # the bogus line at 0.7 passes


def test_the_shipped_1_arcsec_survey_reads_at_its_native_scale(repo):
    """resources/hips/POSS2-HorseHead: checksums hold, cutouts are finite at 0.805"/px."""
    from asteroid_ml.hips.checks import listed_files
    from asteroid_ml.hips.extract import extract_cutouts
    from asteroid_ml.hips.survey import open_survey

    folder = repo / "resources" / "hips" / "POSS2-HorseHead"
    assert len(listed_files(folder)) >= 10
    survey = open_survey(folder)
    batch = extract_cutouts(survey, np.array([85.275]), np.array([-2.458]), 128, order=9)
    assert batch.images.shape == (1, 128, 128) and np.isfinite(batch.images).all()
    assert batch.pixel_scale_deg * 3600 == pytest.approx(0.805, abs=0.002)


def test_a_campaign_is_reproducible_bit_for_bit():
    """Same seed, same fields: identical candidates, stamps and movers (random streams are
    keyed by seed, field and realisation)."""
    from asteroid_ml.detection.campaign import run_campaign

    references = np.stack([_sky(11), _sky(12), _sky(13)])
    population = pd.DataFrame({
        "object_id": ["a", "b"], "population": ["impactor", "background"],
        "V_mag": [24.0, 26.0], "rate_arcsec_min": [1.0, 3.0], "pa_deg": [30.0, 200.0],
    })  # fmt: skip
    settings = _campaign(field_px=128, realisations=2, edge_margin_px=8)
    runs = [
        run_campaign(references, population, MODEL, settings, _default_rates(), 5) for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])
    pd.testing.assert_frame_equal(runs[0][2], runs[1][2])
    assert set(runs[0][0]["split"]) == {"train", "val", "test"}
    assert len(runs[0][2]) == 3 * 2 * settings.movers_per_field
    # val and test fields get their own number of realisations; the train field's draws
    # are unchanged by it
    more = _campaign(field_px=128, realisations=2, eval_realisations=3, edge_margin_px=8)
    candidates, _, movers = run_campaign(references, population, MODEL, more, _default_rates(), 5)
    # two objects, six field realisations: objects repeat, mover ids do not
    assert movers["mover_id"].is_unique and movers["object_id"].nunique() == 2
    per_split = movers.groupby("split")["realisation"].nunique().to_dict()
    assert per_split == {"train": 2, "val": 3, "test": 3}
    train = runs[0][0]["split"] == "train"
    pd.testing.assert_frame_equal(
        candidates[candidates["split"] == "train"]
        .drop(columns="candidate_id")
        .reset_index(drop=True),
        runs[0][0][train].drop(columns="candidate_id").reset_index(drop=True),
    )


def test_a_binned_field_keeps_its_flux_and_limit_with_a_narrower_psf_in_pixels():
    """Binning 2 x 2: the counts are conserved, the pixel scale and one pixel's noise double,
    the 5-sigma limit stays, the PSF is half as wide in pixels; and a campaign drawn with
    binnings (1, 2) holds both, its binned realisations on half-size fields."""
    from asteroid_ml.detection.campaign import binned, run_campaign

    reference = _sky(11)
    settings = _campaign(field_px=128, realisations=2, edge_margin_px=8)
    ref, model, coarse = binned(reference, MODEL, settings, 2)
    assert ref.shape == (64, 64) and coarse.field_px == 64
    assert ref.sum() == pytest.approx(reference.sum(), rel=1e-12)
    assert ref[0, 0] == pytest.approx(reference[:2, :2].sum())
    assert model.pixel_scale_arcsec == 2 * MODEL.pixel_scale_arcsec
    assert model.fwhm_px == pytest.approx(MODEL.fwhm_px / 2)
    assert model.limiting_magnitude() == pytest.approx(MODEL.limiting_magnitude(), abs=1e-12)
    assert binned(reference, MODEL, settings, 1)[0] is reference

    population = pd.DataFrame({
        "object_id": ["a"], "population": ["impactor"], "V_mag": [24.0],
        "rate_arcsec_min": [1.0], "pa_deg": [30.0],
    })  # fmt: skip
    both = _campaign(field_px=128, realisations=4, edge_margin_px=8, binnings=(1, 2))
    candidates, _, movers = run_campaign(
        np.stack([_sky(11), _sky(12), _sky(13)]), population, MODEL, both, _default_rates(), 5
    )
    assert set(movers["binning"]) == {1, 2}
    scales = candidates.groupby("binning")["pixel_scale_arcsec"].first()
    assert scales[2] == pytest.approx(2 * scales[1])
    assert candidates.loc[candidates["binning"] == 2, ["x", "y"]].max().max() < 64


def test_stamps_are_stored_in_half_precision_within_the_noise():
    """float16 on disk: finite, and within 0.05 % (relative) of the float32 stamp."""
    from asteroid_ml.detection.candidates import STAMP_STORAGE_DTYPE, stamps_for_storage

    rng = np.random.default_rng(3)
    stamps = (rng.normal(size=(5, 3, 32, 32)) * 30).astype(np.float32)
    stamps[0, 0, 0, 0] = 1e6  # beyond float16's range: clipped, not inf
    stored = stamps_for_storage(stamps)
    assert stored.dtype == STAMP_STORAGE_DTYPE and np.isfinite(stored).all()
    back = stored.astype(np.float32)
    ok = np.abs(stamps) < 6e4
    assert np.all(np.abs(back[ok] - stamps[ok]) <= 5e-4 * np.abs(stamps[ok]) + 1e-7)


def test_triplet_scores_do_not_depend_on_orientation():
    """The CNN's score is the mean over the 8 dihedral transforms of a triplet, so turning or
    flipping every stamp leaves it unchanged; training turns each triplet on its own."""
    import torch

    from asteroid_ml.detection.models import _DihedralCollate, score_triplets, triplet_cnn
    from asteroid_ml.models.datamodules import dihedral

    torch.manual_seed(0)
    model = triplet_cnn({**DETECTION, "cnn_depth": 5, "cnn_width": 4, "cnn_hidden": 8}, 1.0, 32)
    model = model.eval()
    stamps = np.random.default_rng(1).normal(size=(6, 3, 32, 32)).astype(np.float32)
    scores = score_triplets(model, stamps)
    for k in (1, 5):
        turned = np.ascontiguousarray(dihedral(stamps, k))
        assert np.allclose(score_triplets(model, turned), scores, atol=1e-6)
    batch = [(torch.from_numpy(s), torch.tensor(1.0)) for s in np.repeat(stamps[:1], 32, axis=0)]
    x, y = _DihedralCollate(np.random.default_rng(2))(batch)
    assert x.shape == (32, 3, 32, 32) and y.shape == (32,)
    # one triplet, 32 copies: each copy gets its own transform, so several differ
    distinct = {tuple(np.round(img[0, :2, :2].numpy().ravel(), 4)) for img in x}
    assert len(distinct) >= 4


def test_candidates_near_the_edge_have_no_whole_stamp():
    from asteroid_ml.detection.campaign import inside_stamp_margin
    from asteroid_ml.detection.candidates import STAMP

    half = STAMP // 2
    x = np.array([half, half - 1, 100.0, 200 - half, 200 - half + 1, 50.0])
    y = np.array([50.0, 50.0, half - 0.6, 50.0, 50.0, 200 - half + 0.4])
    assert list(inside_stamp_margin(x, y, (200, 200))) == [True, False, False, True, False, True]


def test_candidates_on_known_hot_pixels_and_columns_are_masked():
    from asteroid_ml.detection.campaign import on_bad_pixels

    defects = pd.DataFrame({"kind": ["hot_pixel", "hot_column", "cosmic_ray"],
                            "x": [10.0, 50.0, 80.0], "y": [20.0, np.nan, 80.0]})  # fmt: skip
    x = np.array([11.5, 12.5, 10.0, 51.9, 52.1, 80.0])
    y = np.array([21.0, 20.0, 30.0, 5.0, 5.0, 80.0])
    assert list(on_bad_pixels(x, y, defects)) == [True, False, False, True, False, False]


def test_fdr_at_a_real_fraction_by_hand():
    from asteroid_ml.detection.evaluate import fdr_at_real_fraction

    # 1 % reals, recall 0.99, FPR 0.0132 (the CNN at its val threshold): FDR ~0.57
    assert fdr_at_real_fraction(0.99, 0.0132, 0.01) == pytest.approx(
        0.99 * 0.0132 / (0.01 * 0.99 + 0.99 * 0.0132)
    )
    assert fdr_at_real_fraction(0.99, 0.0132, 0.01) == pytest.approx(0.569, abs=1e-3)
    assert fdr_at_real_fraction(1.0, 0.0, 0.5) == 0.0


def test_a_saturated_pixel_bleeds_its_charge_along_the_column():
    """One pixel at 3x the full well in an empty column: it and the pixels above and below
    it hold the full well each (the excess 2x splits between them), charge is kept, and the
    neighbouring columns see nothing. At the column's end the charge goes the one way left."""
    from asteroid_ml.detection.epochs import saturate

    image = np.zeros((9, 5))
    image[4, 2] = 3000.0
    out = saturate(image, 1000.0)
    assert out[:, 2].tolist() == [0, 0, 0, 1000, 1000, 1000, 0, 0, 0]
    assert out.sum() == pytest.approx(3000.0) and out[:, [0, 1, 3, 4]].sum() == 0
    edge = np.zeros((9, 5))
    edge[0, 1] = 2500.0
    assert saturate(edge, 1000.0)[:, 1].tolist() == [1000, 1000, 500, 0, 0, 0, 0, 0, 0]
    assert saturate(image, float("inf")).tolist() == image.tolist()


def test_the_template_and_the_epochs_carry_the_sources_shot_noise():
    """Sky-limited: the sky's noise is its own shot noise, so a sky of 10,000 counts with
    sigma 500 has 0.04 e-/count, and a source adding 30,000 counts doubles the noise. The
    template of 16 exposures has a quarter of one exposure's noise, independent of it."""
    from asteroid_ml.detection.epochs import effective_gain, make_template, shot_noise_sigma

    gain = effective_gain(10_000.0, 500.0)
    assert gain == pytest.approx(0.04)
    assert shot_noise_sigma(np.array([0.0, 30_000.0, -50.0]), 500.0, gain) == pytest.approx(
        [500.0, 1000.0, 500.0]
    )
    assert effective_gain(0.0, 500.0) == float("inf")
    flat = np.full((200, 200), 10_000.0)
    model = replace(MODEL, template_exposures=16)
    template = make_template(flat, model, np.random.default_rng(1))
    assert np.std(template - flat) == pytest.approx(500.0 / 4, rel=0.02)
    epochs = simulate_epochs(flat, model, [], NO_ARTEFACTS, np.random.default_rng(2))
    noise = epochs.science[0] - flat
    assert np.std(noise) == pytest.approx(500.0, rel=0.02)
    assert abs(np.corrcoef((template - flat).ravel(), noise.ravel())[0, 1]) < 0.02
