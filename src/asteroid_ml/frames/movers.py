"""``find-movers``: the moving objects of a night of frames of one field.

Candidates of every frame (:mod:`asteroid_ml.frames.candidates`) are scored by a saved
classifier (:mod:`asteroid_ml.detection.saved`); those at or above its val-chosen
threshold, and not masked, are linked into straight-line, constant-rate sequences by the
detection stage's linker (:func:`asteroid_ml.detection.sequences.link`) on mid-exposure
times. A sequence is reported when the median of its detections' scores passes the same
threshold, as in the simulated detection stage.

Rates are in arcsec per minute. ``pa_deg`` is the direction of motion: with a celestial
WCS, the position angle (north through east); without one, measured in the registration
frame's pixels from +y towards -x (north through east when north is up and east left).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asteroid_ml.constants import GAUSSIAN_FWHM_PER_SIGMA
from asteroid_ml.detection.sequences import LinkSettings, link, score_sequences
from asteroid_ml.frames.candidates import DifferenceSettings, make_templates, night_candidates
from asteroid_ml.frames.night import FrameSetInputs, Night, check_inputs, prepare_night

log = logging.getLogger(__name__)

#: Columns of ``movers.csv`` (one row per detection of a reported sequence; ``linked``:
#: found by the linker, else attributed to its track) and of ``sequences.csv``;
#: ``x_px``/``y_px`` are 0-based pixels of that frame's own image.
MOVER_COLUMNS = ("file", "sequence_id", "x_px", "y_px", "mjd_mid", "flux", "snr", "score",
                 "linked")  # fmt: skip
SEQUENCE_COLUMNS = ("sequence_id", "n_detections", "n_linked", "rate_arcsec_min", "pa_deg",
                    "score", "rms_px", "line_p_value", "mjd_first", "mjd_last")  # fmt: skip
#: A sequence whose detections sit on template stars this many times brighter is a star's
#: residual (:func:`on_stars`).
STAR_FLUX_RATIO = 3.0
FRAME_COLUMNS = ("file", "mjd_mid", "used", "reason", "n_matched", "residual_rms_px",
                 "photometric_scale", "sky_rms", "n_candidates", "n_masked", "n_passed")  # fmt: skip


@dataclass(frozen=True)
class FindSettings:
    """The ``frames`` config section, as the pipeline reads it (schema: every default)."""

    min_frames: int
    reference_frames: int
    snr_threshold: float
    saturation_adu: float
    saturation_grow_px: float
    link: LinkSettings
    min_detection_fraction: float
    link_p_value: float

    @classmethod
    def from_config(cls, section) -> FindSettings:
        return cls(
            min_frames=section["min_frames"], reference_frames=section["reference_frames"],
            snr_threshold=section["snr_threshold"], saturation_adu=section["saturation_adu"],
            saturation_grow_px=section["saturation_grow_px"],
            link=LinkSettings(section["min_detections"], section["link_tolerance_px"],
                              section["min_motion_px"], section["link_gate_px"]),
            min_detection_fraction=section["min_detection_fraction"],
            link_p_value=section["link_p_value"],
        )  # fmt: skip

    def min_detections(self, n_frames: int) -> int:
        """Detections a sequence needs on a night of ``n_frames`` usable frames."""
        return max(self.link.min_detections, math.ceil(self.min_detection_fraction * n_frames))


def motion(night: Night, vx: float, vy: float) -> tuple[float, float]:
    """(rate arcsec/min, direction deg) of a grid motion (px/min); see the module doc."""
    if night.wcs is not None:
        y0, x0 = (s / 2.0 for s in night.registered.shape[1:])
        c = night.wcs.pixel_to_world([x0, x0 + vx], [y0, y0 + vy])
        rate = float(c[0].separation(c[1]).arcsec)
        return rate, float(c[0].position_angle(c[1]).deg % 360.0)
    rate = math.hypot(vx, vy) * night.pixel_scale_arcsec
    return rate, math.degrees(math.atan2(-vx, vy)) % 360.0


def detector_fixed(candidates: pd.DataFrame, sequences: pd.DataFrame) -> np.ndarray:
    """Sequences that move on the detector (the straight-line fit of the frames' own pixels)
    by less than half as much as on the sky (the registration grid): most of their motion
    is the telescope's drift carrying a warm pixel, a dust shadow or a column defect across
    the sky. A solar-system object moves on the detector by its own motion plus the drift;
    one whose motion happens to cancel the drift is lost to this rule (give frames taken
    at the sidereal rate)."""
    table = candidates.set_index("index")
    fixed = np.zeros(len(sequences), bool)
    for i, members in enumerate(sequences["members"]):
        rows = table.loc[list(members)]
        on_detector = _travel(rows, "x_px", "y_px")
        fixed[i] = on_detector < 0.5 * _travel(rows, "x_ref", "y_ref")
    return fixed


def _travel(rows: pd.DataFrame, x: str, y: str) -> float:
    """How far (px) the straight-line fit of positions ``x``, ``y`` moves over the rows' span."""
    t = rows["t_min"].to_numpy()
    vx = np.polyfit(t, rows[x].to_numpy(), 1)[0]
    vy = np.polyfit(t, rows[y].to_numpy(), 1)[0]
    return float(np.hypot(vx, vy) * (t.max() - t.min()))


def on_stars(candidates: pd.DataFrame, sequences: pd.DataFrame, fwhm_px: float) -> np.ndarray:
    """Sequences that sit on template stars: the median of their detections lies within one
    FWHM of a star of the template (``reference_distance``) that is at least
    :data:`STAR_FLUX_RATIO` times brighter in the detection's core
    (``reference_flux_ratio``). These are a bright star's subtraction residual, which
    wanders by a few pixels over a night (differential refraction, seeing); a mover
    passing a star is on it for a few frames only, which the median ignores."""
    table = candidates.set_index("index")
    flags = np.zeros(len(sequences), bool)
    for i, members in enumerate(sequences["members"]):
        rows = table.loc[list(members)]
        flags[i] = (rows["reference_distance"].median() <= fwhm_px
                    and rows["reference_flux_ratio"].median() >= STAR_FLUX_RATIO)  # fmt: skip
    return flags


def astrometric_sigma_px(snr: np.ndarray, fwhm_px: float, registration_rms_px: np.ndarray):
    """Per-axis position error (px) of a detection on the registration grid: the centroid
    error of a Gaussian PSF in sky-limited noise, sqrt(2) sigma_psf / SNR (King 1983,
    PASP 95, 163), and its frame's registration residual (rms over matched stars, both
    axes, so / sqrt(2) per axis), in quadrature."""
    centroid = math.sqrt(2.0) * fwhm_px / GAUSSIAN_FWHM_PER_SIGMA / np.maximum(snr, 1e-3)
    return np.hypot(centroid, np.asarray(registration_rms_px) / math.sqrt(2.0))


def line_p_value(members: pd.DataFrame, sigma_px: np.ndarray) -> float:
    """Probability that detections of one object moving at a constant rate scatter about
    their straight-line fit (x and y against ``t_min``) by at least as much as
    ``members`` (x_ref, y_ref) do, given each detection's per-axis error ``sigma_px``:
    the chi-square survival function with 2n - 4 degrees of freedom."""
    from scipy.stats import chi2

    t = members["t_min"].to_numpy(float)
    chi = 0.0
    for axis in ("x_ref", "y_ref"):
        v = members[axis].to_numpy(float)
        residual = v - np.polyval(np.polyfit(t, v, 1), t)
        chi += float(np.sum((residual / sigma_px) ** 2))
    dof = 2 * len(members) - 4
    return float(chi2.sf(chi, dof)) if dof > 0 else 1.0


def link_night(
    night: Night, candidates: pd.DataFrame, scores: np.ndarray, threshold: float,
    settings: FindSettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Sequences of the passing, unmasked candidates; (sequences, their detections)."""
    ok = (scores >= threshold) & (candidates["masked"].to_numpy() == "")
    passing = candidates[ok]
    need = settings.min_detections(len(night.frames))
    link_settings = LinkSettings(need, settings.link.tolerance_px, settings.link.min_motion_px,
                                 settings.link.gate_px)  # fmt: skip
    sequences = link(passing[["epoch", "t_min", "x_ref", "y_ref", "index"]], link_settings)
    if sequences.empty:
        return pd.DataFrame(columns=SEQUENCE_COLUMNS), pd.DataFrame(columns=MOVER_COLUMNS)
    by_id = pd.Series(scores, index=candidates["index"].to_numpy())
    seq_scores = score_sequences(sequences, by_id)
    not_movers = detector_fixed(candidates, sequences) | on_stars(
        candidates, sequences, night.fwhm_px
    )
    # One object's detections scatter about its line by their position errors, no more: the
    # test of the fit (a chi-square) instead of a fixed tolerance in pixels.
    table = candidates.set_index("index")
    registration_rms = np.array([a.residual_rms_px for a in night.alignments])
    p_values = np.array([
        line_p_value(rows, astrometric_sigma_px(rows["snr"].to_numpy(float), night.fwhm_px,
                                                registration_rms[rows["epoch"].to_numpy(int)]))
        for rows in (table.loc[list(m)] for m in sequences["members"])
    ])  # fmt: skip
    sequences = sequences.assign(score=seq_scores, line_p_value=p_values)[
        (seq_scores >= threshold) & ~not_movers & (p_values >= settings.link_p_value)
    ]
    sequences = sequences.sort_values(["n", "score"], ascending=[False, False]).reset_index(
        drop=True
    )
    rows, details = [], []
    unmasked = candidates[candidates["masked"].to_numpy() == ""]
    for sid, seq in enumerate(sequences.itertuples()):
        linked = table.loc[list(seq.members)]
        attributed = attribute(unmasked, linked, settings.link.gate_px)
        members = pd.concat([linked, table.loc[attributed]]).sort_values("t_min")
        t = members["t_min"].to_numpy()
        vx = np.polyfit(t, members["x_ref"].to_numpy(), 1)[0]
        vy = np.polyfit(t, members["y_ref"].to_numpy(), 1)[0]
        rate, pa = motion(night, vx, vy)
        mjd = [night.frames[e].mjd_mid for e in members["epoch"]]
        rows.append(dict(sequence_id=sid, n_detections=len(members), n_linked=seq.n,
                         rate_arcsec_min=rate, pa_deg=pa, score=seq.score, rms_px=seq.rms_px,
                         line_p_value=seq.line_p_value, mjd_first=min(mjd), mjd_last=max(mjd)))  # fmt: skip
        for (idx, det), m in zip(members.iterrows(), mjd, strict=True):
            details.append(dict(
                file=night.frames[int(det["epoch"])].path.name, sequence_id=sid,
                x_px=det["x_px"], y_px=det["y_px"], mjd_mid=m, flux=det["flux"],
                snr=det["snr"], score=by_id.loc[idx], linked=idx in seq.members,
                epoch=int(det["epoch"]), x_ref=det["x_ref"], y_ref=det["y_ref"], index=int(idx),
            ))  # fmt: skip
    return pd.DataFrame(rows, columns=SEQUENCE_COLUMNS), pd.DataFrame(details)


def attribute(unmasked: pd.DataFrame, linked: pd.DataFrame, gate_px: float) -> list[int]:
    """Candidates of the frames where a reported sequence has no linked detection that lie
    within ``gate_px`` of its straight-line track (whatever their score; the nearest per
    frame): the sequence's detections through cloud, where single detections score low.
    MOPS calls this attribution. Returns their ``index`` values."""
    t = linked["t_min"].to_numpy()
    fx = np.polyfit(t, linked["x_ref"].to_numpy(), 1)
    fy = np.polyfit(t, linked["y_ref"].to_numpy(), 1)
    found = []
    others = unmasked[~unmasked["epoch"].isin(linked["epoch"])]
    for _, group in others.groupby("epoch"):
        te = float(group["t_min"].iloc[0])
        d = np.hypot(group["x_ref"] - np.polyval(fx, te), group["y_ref"] - np.polyval(fy, te))
        if d.min() <= gate_px:
            found.append(int(group["index"].iloc[int(np.argmin(d.to_numpy()))]))
    return found


def frame_table(
    night: Night, checked_lights, candidates: pd.DataFrame, passed: np.ndarray
) -> pd.DataFrame:
    """One row per light frame: used or why not, registration and photometry."""
    skipped = {p: reason for p, reason in night.skipped}
    used = {f.path: k for k, f in enumerate(night.frames)}
    rows = []
    for frame in checked_lights:
        k = used.get(frame.path)
        row = dict(file=frame.path.name, mjd_mid=frame.mjd_mid, used=k is not None,
                   reason=skipped.get(frame.path, ""))  # fmt: skip
        if k is not None:
            mine = (candidates["epoch"] == k).to_numpy()
            row.update(
                n_matched=night.alignments[k].n_matched,
                residual_rms_px=night.alignments[k].residual_rms_px,
                photometric_scale=float(night.scales[k]), sky_rms=float(night.sky_rms[k]),
                n_candidates=int(mine.sum()),
                n_masked=int((candidates.loc[mine, "masked"] != "").sum()),
                n_passed=int(passed[mine].sum()),
            )  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


@dataclass
class FindResult:
    """Everything :func:`run_find_movers` computed (the evaluation with fakes reuses it)."""

    night: Night
    settings: DifferenceSettings
    templates: list
    noise: np.ndarray
    candidates: pd.DataFrame
    stamps: np.ndarray
    scores: np.ndarray
    threshold: float
    sequences: pd.DataFrame
    detections: pd.DataFrame
    frames: pd.DataFrame
    seconds: dict


def frames_above(result: FindResult, sequence_id: int, snr: float, gate_px: float) -> int:
    """Frames where sep found a candidate of at least ``snr`` within ``gate_px`` of reported
    sequence ``sequence_id``'s fitted track (masked or not, whatever its score): the frames
    where that object was detectable, against which its detection count is judged."""
    det = result.detections[result.detections["sequence_id"] == sequence_id]
    cand, t = result.candidates, result.night.t_min
    epochs = det["epoch"].to_numpy(int)
    fx, fy = np.polyfit(t[epochs], det["x_ref"], 1), np.polyfit(t[epochs], det["y_ref"], 1)
    count = 0
    for k in range(len(result.night.frames)):
        mine = cand[(cand["epoch"] == k) & (cand["snr"] >= snr)]
        d = np.hypot(mine["x_ref"] - np.polyval(fx, t[k]), mine["y_ref"] - np.polyval(fy, t[k]))
        count += bool(len(mine) and d.min() <= gate_px)
    return count


def run_find_movers(inputs: FrameSetInputs, settings: FindSettings, detector) -> FindResult:
    """The whole chain on one night, in memory. ``detector``: a loaded saved classifier, or
    the path of one (loaded after the frames are checked, so that bad frames are reported
    first)."""
    clock = time.perf_counter()
    seconds = {}

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    checked = check_inputs(inputs, settings.min_frames, settings.saturation_adu)
    if isinstance(detector, (str, Path)):
        from asteroid_ml.detection.saved import load_detector

        detector = load_detector(detector)
    lap("read_and_check")
    night = prepare_night(checked, settings.min_frames, settings.saturation_grow_px)
    lap("calibrate_and_register")
    diff_settings = DifferenceSettings(
        settings.reference_frames, settings.snr_threshold,
        float(detector.card["survey_model"]["limit_mag"]),
    )  # fmt: skip
    templates = make_templates(night, diff_settings)
    candidates, stamps, noise = night_candidates(night, diff_settings, templates)
    lap("difference_and_detect")
    scores = detector.score(stamps, candidates) if len(candidates) else np.zeros(0)
    lap("score")
    threshold = detector.threshold
    sequences, detections = link_night(night, candidates, scores, threshold, settings)
    lap("link")
    passed = (scores >= threshold) & (candidates["masked"].to_numpy() == "")
    frames = frame_table(night, checked.lights, candidates, passed)
    return FindResult(night, diff_settings, templates, noise, candidates, stamps, scores, threshold, sequences,
                      detections, frames, seconds)  # fmt: skip


def write_find_movers(result: FindResult, out_dir: str | Path) -> None:
    """``movers.csv``, ``sequences.csv``, ``frames.csv`` and ``movers.png`` in ``out_dir``."""
    from asteroid_ml.figures.frames import plot_movers
    from asteroid_ml.figures.style import save_figure
    from asteroid_ml.io import atomic_output

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    movers = result.detections.reindex(columns=list(MOVER_COLUMNS))
    if result.night.wcs is not None and len(result.detections):
        sky = result.night.wcs.pixel_to_world(
            result.detections["x_ref"], result.detections["y_ref"]
        )
        movers = movers.assign(ra_deg=sky.ra.deg, dec_deg=sky.dec.deg)
    for name, table in (("movers.csv", movers), ("sequences.csv", result.sequences),
                        ("frames.csv", result.frames)):  # fmt: skip
        with atomic_output(out / name) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6f")
    night = result.night
    detections = result.detections
    if len(detections):
        detections = detections.assign(t_min=night.t_min[detections["epoch"].to_numpy(int)])
    fig = plot_movers(night.registered[night.reference_index], result.sequences, detections,
                      result.stamps, title=night.frames[night.reference_index].path.name)  # fmt: skip
    save_figure(fig, out / "movers.png", out / "movers.pdf", dpi=150)
