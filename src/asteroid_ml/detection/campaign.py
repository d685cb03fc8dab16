"""A detection campaign: fields of a real survey, movers from the simulated population at
magnitudes around the survey limit, epochs, difference images, candidates and their labels.

Output (see :func:`run_campaign`): one row per candidate (features, labels, positions),
its stamp triplet, and one row per injected mover (its population V, injected magnitude,
rate, and in how many epochs the detection step found it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.detection.candidates import STAMP, detect, features, label, triplets
from asteroid_ml.detection.difference import detector_solution, difference_image, sources
from asteroid_ml.detection.epochs import ArtefactRates, Mover, make_template, simulate_epochs
from asteroid_ml.detection.survey_model import SurveyModel
from asteroid_ml.seeds import rng_for

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class CampaignSettings:
    """``realisations``: independent epoch sets (movers, noise, seeing, artefacts) per train
    sky field; ``eval_realisations`` per val and test field (None: as many). Sky fields, not
    realisations, are split, so no test sky was seen in training. The evaluation fields get
    more realisations because the operating points (a quantile of the val reals' scores)
    and the test rates are sample-size limited, while the CNN is limited by sky seen.
    Injected magnitudes are uniform in [m_lim - below, m_lim + above] (fakes around the
    limit, as surveys measure their efficiency). ``binnings``: the pixel binnings a field
    realisation is simulated at, one drawn per realisation (:func:`binned`)."""

    field_px: int
    realisations: int
    eval_realisations: int | None
    movers_per_field: int
    mag_below_limit: float
    mag_above_limit: float
    split_fractions: tuple[float, float, float]
    edge_margin_px: int
    binnings: tuple[int, ...]

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> CampaignSettings:
        """From a validated ``detection`` section (the schema holds the defaults)."""
        fractions = section["split_fractions"]
        return cls(
            field_px=int(section["field_px"]), realisations=int(section["realisations"]),
            eval_realisations=section["eval_realisations"],
            movers_per_field=int(section["movers_per_field"]),
            mag_below_limit=float(section["mag_below_limit"]),
            mag_above_limit=float(section["mag_above_limit"]),
            split_fractions=tuple(float(fractions[s]) for s in SPLITS),
            edge_margin_px=int(section["edge_margin_px"]), binnings=tuple(section["binnings"]),
        )  # fmt: skip

    def realisations_of(self, split: str) -> int:
        if split == "train" or self.eval_realisations is None:
            return self.realisations
        return self.eval_realisations


def field_splits(n_fields: int, fractions: tuple[float, float, float], seed: int) -> list[str]:
    """Each sky field's split (a seeded shuffle; every split gets at least one field)."""
    order = rng_for(seed, "detection_field_split").permutation(n_fields)
    n_val = max(1, round(fractions[1] * n_fields))
    n_test = max(1, round(fractions[2] * n_fields))
    split = ["train"] * n_fields
    for k in order[:n_val]:
        split[k] = "val"
    for k in order[n_val : n_val + n_test]:
        split[k] = "test"
    return split


def draw_movers(
    rng: np.random.Generator, population: pd.DataFrame, model: SurveyModel,
    settings: CampaignSettings, field: int, realisation: int,
) -> tuple[list[Mover], list[dict]]:  # fmt: skip
    """Movers for one field realisation: rate and position angle of a random population
    object, a magnitude around the limit; placed so that the whole track stays inside. A
    mover's id names its object, field, realisation and slot (one object may be drawn in
    several realisations: the id must still be unique).

    Objects whose track over the epochs is longer than the field cannot be placed; they are
    redrawn (up to 50 times), and the fraction of the population this excludes is
    reported by :func:`run_campaign`.
    """
    m_lim = model.limiting_magnitude()
    span_min = (model.n_epochs - 1) * model.cadence_min
    margin = settings.edge_margin_px
    room = settings.field_px - 2 * margin
    movers, rows = [], []
    for k in range(settings.movers_per_field):
        for _ in range(50):
            obj = population.iloc[int(rng.integers(len(population)))]
            speed = obj.rate_arcsec_min / model.pixel_scale_arcsec  # px per minute
            pa = math.radians(obj.pa_deg)
            # north up, east left: PA 90 (east) moves towards -x
            vx, vy = -math.sin(pa) * speed, math.cos(pa) * speed
            dx, dy = vx * span_min, vy * span_min
            if abs(dx) < room and abs(dy) < room:
                break
        else:
            continue
        x0 = margin + rng.uniform(0, room - abs(dx)) + max(-dx, 0)
        y0 = margin + rng.uniform(0, room - abs(dy)) + max(-dy, 0)
        mag = float(rng.uniform(m_lim - settings.mag_below_limit, m_lim + settings.mag_above_limit))
        mover = Mover(f"{obj.object_id}@f{field}r{realisation}m{k}", x0, y0, vx, vy, mag)
        movers.append(mover)
        rows.append(dict(
            mover_id=mover.object_id, object_id=obj.object_id, population=obj.population,
            population_v_mag=float(obj.V_mag), injected_mag=mag,
            rate_arcsec_min=float(obj.rate_arcsec_min), pa_deg=float(obj.pa_deg),
        ))  # fmt: skip
    return movers, rows


def run_field(
    reference: np.ndarray, model: SurveyModel, movers: list[Mover], rates: ArtefactRates,
    rng: np.random.Generator, calibration_rng: np.random.Generator | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:  # fmt: skip
    """Epochs, differences, candidates of one field realisation: (candidate table, stamps).

    ``calibration_rng`` draws the whole detector's solution of every epoch (used where the
    field has too few stars to register on); without it such epochs are taken as aligned.
    """
    reference = reference.astype(np.float64)
    epochs = simulate_epochs(reference, model, movers, rates, rng, sources(reference))
    # What the pipeline has: a template with its own noise, and the stars found on it.
    template = make_template(reference, model, rng)
    stars = sources(template)
    template_saturated = template >= model.saturation_counts
    tables, stamps, edge_counts, mask_counts, saturated_counts = [], [], [], [], []
    for e, science in enumerate(epochs.science):
        fallback = None
        if calibration_rng is not None:  # drawn for every epoch: a fixed stream
            fallback = detector_solution(
                epochs.offset[e], epochs.seeing_ratio[e], model, calibration_rng
            )
        diff = difference_image(template, science, model, stars, fallback)
        found = detect(diff, model)
        # Candidates within half a stamp of the field edge would get zero-padded stamps, and
        # almost only bogus lie there (movers are placed edge_margin_px inside): the padding
        # alone would mark them. They are left out for reals and bogus alike, and counted.
        inside = inside_stamp_margin(found["x"], found["y"], science.shape)
        edge_counts.append(int((~inside).sum()))
        # A survey masks its known hot pixels and columns (from darks and flats) before
        # detection: candidates on them are counted, not classified.
        masked = on_bad_pixels(found["x"], found["y"], epochs.truth[epochs.truth["epoch"] == e])
        mask_counts.append(int((inside & masked).sum()))
        # ... and its saturated pixels and bleed trails, in the epoch or the template
        saturated = near_mask(
            found["x"], found["y"], epochs.saturated[e] | template_saturated,
            model.saturation_grow_px,
        )  # fmt: skip
        saturated_counts.append(int((inside & ~masked & saturated).sum()))
        found = found[inside & ~masked & ~saturated].reset_index(drop=True)
        st = triplets(diff, found)
        feats = features(diff, found, st, model, stars)
        fwhm = model.fwhm_px * epochs.seeing_ratio[e]
        real, kind, obj, mag = label(found, epochs.truth, e, fwhm, stars, epochs.offset[e])
        tables.append(feats.assign(
            epoch=e, t_min=epochs.times_min[e], x=found["x"].to_numpy(), y=found["y"].to_numpy(),
            x_ref=found["x"].to_numpy() - diff.registration.dx,
            y_ref=found["y"].to_numpy() - diff.registration.dy,
            real=real, kind=kind, mover_id=obj, injected_mag=mag,
        ))  # fmt: skip
        stamps.append(st)
    table = pd.concat(tables, ignore_index=True)
    table.attrs["edge_excluded"] = int(sum(edge_counts))
    table.attrs["bad_pixel_masked"] = int(sum(mask_counts))
    table.attrs["saturation_masked"] = int(sum(saturated_counts))
    return table, np.concatenate(stamps) if stamps else np.zeros((0, 3, STAMP, STAMP), np.float32)


#: Half-width (px) of the bad-pixel mask around a hot pixel or column: the defect itself
#: plus the centroid scatter of its detection on the difference image. Not physics.
BAD_PIXEL_GROW_PX = 2.0


def on_bad_pixels(x: Any, y: Any, defects: pd.DataFrame) -> np.ndarray:
    """Candidates on the detector's known defects (``defects``: truth rows of kind
    ``hot_pixel`` (x, y) and ``hot_column`` (x), in the epoch's frame), within
    :data:`BAD_PIXEL_GROW_PX`."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    hit = np.zeros(len(x), bool)
    for row in defects.itertuples():
        near_x = np.abs(x - row.x) <= BAD_PIXEL_GROW_PX
        if row.kind == "hot_column":
            hit |= near_x
        elif row.kind == "hot_pixel":
            hit |= near_x & (np.abs(y - row.y) <= BAD_PIXEL_GROW_PX)
    return hit


def near_mask(x: Any, y: Any, mask: np.ndarray, grow_px: float) -> np.ndarray:
    """Candidates on ``mask`` grown by ``grow_px`` (binary dilation, as the real frames'
    saturation mask is grown; x = column, 0-based)."""
    from scipy import ndimage

    if not mask.any():
        return np.zeros(len(np.asarray(x)), bool)
    grown = ndimage.binary_dilation(mask, iterations=max(1, int(round(grow_px))))
    ny, nx = mask.shape
    cx = np.clip(np.rint(np.asarray(x, float)).astype(int), 0, nx - 1)
    cy = np.clip(np.rint(np.asarray(y, float)).astype(int), 0, ny - 1)
    return grown[cy, cx]


def inside_stamp_margin(x: Any, y: Any, shape: tuple[int, int]) -> np.ndarray:
    """Candidates whose whole stamp (:data:`STAMP` px, centred on the nearest pixel) lies on
    the image: no zero padding."""
    half = STAMP // 2
    cx, cy = np.rint(np.asarray(x, float)), np.rint(np.asarray(y, float))
    ny, nx = shape
    return (cx >= half) & (cx + half <= nx) & (cy >= half) & (cy + half <= ny)


def binned(
    reference: np.ndarray, model: SurveyModel, settings: CampaignSettings, factor: int
) -> tuple[np.ndarray, SurveyModel, CampaignSettings]:
    """A field as a survey with ``factor`` x coarser pixels sees it: the reference's counts
    summed in ``factor`` x ``factor`` blocks (:func:`astropy.nddata.block_reduce`), the
    pixel scale ``factor`` x larger, the noise of one pixel ``factor`` x larger (the sum
    of factor^2 sky-limited pixels), and the full well factor^2 x larger (saturated pixels
    summed). The limiting magnitude is unchanged; the PSF is
    ``factor`` x narrower in pixels. Lengths in pixels (misregistration, the whole
    detector's astrometric precision, the field) scale with it."""
    if factor == 1:
        return reference, model, settings
    from astropy.nddata import block_reduce

    side = (reference.shape[0] // factor) * factor, (reference.shape[1] // factor) * factor
    ref = block_reduce(reference[: side[0], : side[1]], factor, func=np.sum)
    coarse = replace(
        model, pixel_scale_arcsec=model.pixel_scale_arcsec * factor,
        sky_sigma=model.sky_sigma * factor,
        saturation_counts=model.saturation_counts * factor**2,
        astrometric_sigma_px=model.astrometric_sigma_px / factor,
        solution_astrometric_sigma_px=model.solution_astrometric_sigma_px / factor,
    )  # fmt: skip
    return ref, coarse, replace(settings, field_px=side[0] // factor)


def run_campaign(
    references: np.ndarray, population: pd.DataFrame, model: SurveyModel,
    settings: CampaignSettings, rates: ArtefactRates, seed: int,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:  # fmt: skip
    """Every realisation of every sky field (``references``: (n_fields, S, S) real cutouts).

    Returns (candidates, stamps (n, 3, 32, 32) float32, movers). Random streams are keyed by
    (seed, field, realisation), so the output does not depend on the order fields run in.
    """
    splits = field_splits(len(references), settings.split_fractions, seed)
    tables, stamps, mover_rows = [], [], []
    edge_excluded = bad_pixel_masked = saturation_masked = 0
    for f, reference in enumerate(references):
        for r in range(settings.realisations_of(splits[f])):
            # its own stream: adding a binning leaves the other realisations' draws as they were
            factor = int(rng_for(seed, "detection_binning", f, r).choice(settings.binnings))
            ref, field_model, field_settings = binned(reference, model, settings, factor)
            rng = rng_for(seed, "detection_field", f, r)
            movers, rows = draw_movers(rng, population, field_model, field_settings, f, r)
            calibration = rng_for(seed, "detector_solution", f, r)
            table, st = run_field(ref, field_model, movers, rates, rng, calibration)
            edge_excluded += table.attrs.get("edge_excluded", 0)
            bad_pixel_masked += table.attrs.get("bad_pixel_masked", 0)
            saturation_masked += table.attrs.get("saturation_masked", 0)
            table = table.assign(field=f, realisation=r, split=splits[f], binning=factor,
                                 pixel_scale_arcsec=field_model.pixel_scale_arcsec)  # fmt: skip
            found = table[table["real"] == 1].groupby("mover_id")["epoch"].nunique()
            for row in rows:
                row.update(field=f, realisation=r, split=splits[f], binning=factor,
                           epochs_detected=int(found.get(row["mover_id"], 0)))  # fmt: skip
            tables.append(table)
            stamps.append(st)
            mover_rows += rows
        log.info("detection field %d/%d: %d candidates so far", f + 1, len(references),
                 sum(len(t) for t in tables))  # fmt: skip
    candidates = pd.concat(tables, ignore_index=True)
    candidates.insert(0, "candidate_id", np.arange(len(candidates)))
    # kept in the Parquet metadata
    candidates.attrs.update(
        edge_excluded=int(edge_excluded), bad_pixel_masked=int(bad_pixel_masked),
        saturation_masked=int(saturation_masked),
    )  # fmt: skip
    log.info("left out (not classified): %d candidates within half a stamp of a field edge, "
             "%d on the bad-pixel mask, %d on saturated pixels", edge_excluded,
             bad_pixel_masked, saturation_masked)  # fmt: skip
    return candidates, np.concatenate(stamps), pd.DataFrame(mover_rows)
