"""Orbit-uncertainty clones, calibrated against JPL's 3-sigma close-approach ranges.

Rule ``clone_calibration``. A predicted approach carries its uncertainty: each catalog
object is replaced by ``hazard.clones.n`` clones drawn from its elements and the
catalog's one-sigma columns (``sigma_a``, ``sigma_e``, ``sigma_i``, ``sigma_om``,
``sigma_w``, ``sigma_ma``). The catalog ships **no covariance**: the draws are
independent per element (a diagonal covariance). Real orbit solutions correlate a and
the mean anomaly strongly (an error in a is an error in the mean motion, which moves
the object along its track), so the diagonal draw misplaces the along-track spread; the
calibration below measures by how much.

For every 2020 approach of ``resources/neo/cad-2020.json`` of an object whose elements
have the run epoch and whose JPL 3-sigma distance range (``dist_max - dist_min``) is
wider than ``hazard.clones.min_jpl_range_au``, the clones are moved with the precise
propagator (REBOUND IAS15, planets on the ephemeris) from the epoch to JPL's nominal
time of the approach; each clone's closest approach then follows from its geocentric
state there on a straight line (t* = t - r.v/|v|^2, d* = |r + v (t* - t)|), valid while
t* - t is small beside the encounter's duration (hours to days at 0.05 au). The clones'
3-sigma range is their 0.135-99.865 % distance range, their time sigma the standard
deviation of t*.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.simulation.close_approach import propagate_states
from asteroid_ml.simulation.solar_system import (
    GM_SUN,
    YEAR_D,
    barycentric_states,
    elements_to_state,
)

log = logging.getLogger(__name__)

#: Catalog columns of the one-sigma uncertainties, element by element (au, -, deg).
SIGMA_COLUMNS = {
    "a": "sigma_a", "e": "sigma_e", "i": "sigma_i", "om": "sigma_om", "w": "sigma_w",
    "ma": "sigma_ma",
}  # fmt: skip

#: How clones are drawn (:func:`draw_clones`).
CLONE_PARAMETERS = ("cometary", "keplerian", "along_track")

#: Columns of ``results/validation/cad_uncertainty.csv``.
UNCERTAINTY_COLUMNS = [
    "des", "jd", "jpl_dist_au", "jpl_dist_min_au", "jpl_dist_max_au", "jpl_range_au",
    "jpl_t_sigma_min", "clones", "clones_dist_nominal_au", "clones_dist_min_au",
    "clones_dist_max_au", "clones_range_au", "clones_t_sigma_min", "range_ratio",
]  # fmt: skip

#: Percentiles of a Gaussian 3-sigma interval.
THREE_SIGMA_PERCENTILES = (0.135, 99.865)

MINUTES_PER_DAY = 1440.0


def parse_t_sigma(text: str) -> float:
    """JPL CAD's ``t_sigma_f`` (``'< 00:01'``, ``'00:12'``, ``'2_03:20'``: days_HH:MM) in
    minutes; ``'< 00:01'`` reads as 0.5."""
    value = str(text).strip()
    if value.startswith("<"):
        return 0.5
    match = re.fullmatch(r"(?:(\d+)_)?(\d+):(\d+)", value)
    if not match:
        raise ValueError(f"cannot read t_sigma_f {text!r} (expected [D_]HH:MM)")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return days * MINUTES_PER_DAY + hours * 60.0 + minutes


def draw_clones(
    row: Mapping[str, Any],
    n: int,
    rng: np.random.Generator,
    epoch_jd_tdb: float,
    parameters: str = "cometary",
) -> pd.DataFrame:
    """``n`` element sets (a, e, i, om, w, ma at ``epoch_jd_tdb``): the nominal first, then
    independent Gaussian draws (diagonal covariance) of ``parameters``:

    * ``"cometary"``: q, e, tp, i, Ω, ω (JPL's own fit parameters; ``sigma_q``,
      ``sigma_tp``), the mean anomaly then follows from tp and the drawn mean motion;
    * ``"keplerian"``: a, e, i, Ω, ω, M (``sigma_a``, ``sigma_ma``);
    * ``"along_track"``: tp alone (``sigma_tp``), the other elements nominal: the one
      direction short arcs leave loosest, without the other marginal sigmas.
    """

    def draw(key: str, sigma: str) -> np.ndarray:
        values = float(row[key]) + float(row[sigma]) * rng.standard_normal(n)
        values[0] = float(row[key])
        return values

    if parameters == "keplerian":
        out = {key: draw(key, sigma) for key, sigma in SIGMA_COLUMNS.items()}
        out["e"] = np.clip(out["e"], 0.0, 1.0 - 1e-9)
        return pd.DataFrame(out)
    if parameters not in CLONE_PARAMETERS:
        raise ValueError(f"clone parameters must be one of {CLONE_PARAMETERS}, got {parameters!r}")
    if parameters == "along_track":
        q, e = np.full(n, float(row["q"])), np.full(n, float(row["e"]))
        tp = draw("tp", "sigma_tp")
        angles = {k: np.full(n, float(row[k])) for k in ("i", "om", "w")}
    else:
        q, e, tp = (
            draw("q", "sigma_q"),
            np.clip(draw("e", "sigma_e"), 0.0, 1.0 - 1e-9),
            draw("tp", "sigma_tp"),
        )
        angles = {k: draw(k, f"sigma_{k}") for k in ("i", "om", "w")}
    a = q / (1.0 - e)
    mean_motion = np.degrees(np.sqrt(GM_SUN / a**3))  # deg/day
    ma = np.mod(mean_motion * (epoch_jd_tdb - tp), 360.0)
    ma[0] = float(row["ma"])
    a[0] = float(row["a"])
    return pd.DataFrame({"a": a, "e": e, **angles, "ma": ma})


def linear_closest_approach(
    pos: np.ndarray, vel: np.ndarray, earth_pos: np.ndarray, earth_vel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Time offset (days) and distance (au) of the closest approach on a straight line from
    heliocentric states and the Earth's, at one time."""
    r = pos - earth_pos
    v = vel - earth_vel
    dt = -np.einsum("ij,ij->i", r, v) / np.einsum("ij,ij->i", v, v)
    return dt, np.linalg.norm(r + v * dt[:, None], axis=1)


def clone_approach(
    row: Mapping[str, Any], jd_tdb: float, epoch_jd_tdb: float, n: int,
    rng: np.random.Generator, parameters: str = "cometary",
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Times (JD TDB) and distances (au) of the closest approach of ``n`` clones of one
    catalog object (elements at ``epoch_jd_tdb``) near JPL's time ``jd_tdb``."""
    el = draw_clones(row, n, rng, epoch_jd_tdb, parameters)
    pos, vel = elements_to_state(el["a"], el["e"], el["i"], el["om"], el["w"], el["ma"])
    pos, vel = propagate_states(np.asarray(pos), np.asarray(vel), epoch_jd_tdb, jd_tdb)
    bodies_pos, bodies_vel = barycentric_states(jd_tdb, bodies=("sun", "earth"))
    dt, dist = linear_closest_approach(
        pos, vel, bodies_pos[1] - bodies_pos[0], bodies_vel[1] - bodies_vel[0]
    )
    return jd_tdb + dt, dist


def calibrate_against_cad(
    catalog: pd.DataFrame,
    cad: pd.DataFrame,
    epoch_jd_tdb: float,
    settings: Mapping[str, Any],
    seed: int,
    max_dist_au: float = 0.05,
) -> pd.DataFrame:
    """One row per JPL approach of 2020 (:data:`UNCERTAINTY_COLUMNS`): JPL's 3-sigma range
    and time sigma beside the clones'. ``catalog``: :func:`load_catalog` rows with the
    sigma columns; ``settings``: the ``hazard.clones`` section."""
    from asteroid_ml.seeds import rng_for, stable_int

    at_epoch = catalog[np.isclose(catalog["epoch"], epoch_jd_tdb, rtol=0.0, atol=1e-6)]
    at_epoch = at_epoch.drop_duplicates("des").set_index("des")
    ref = cad[(cad["dist"] <= max_dist_au) & cad["des"].isin(at_epoch.index)].copy()
    ref["range"] = ref["dist_max"] - ref["dist_min"]
    ref = ref[ref["range"] > float(settings["min_jpl_range_au"])].reset_index(drop=True)
    n = int(settings["n"])
    log.info("clone calibration: %d approaches, %d clones each", len(ref), n)
    rows = []
    for k, approach in ref.iterrows():
        rng = rng_for(seed, "clones", stable_int(approach["des"]) % 2**32, int(approach["jd"]))
        times, dist = clone_approach(
            at_epoch.loc[approach["des"]],
            float(approach["jd"]),
            epoch_jd_tdb,
            n,
            rng,
            str(settings["parameters"]),
        )
        low, high = np.percentile(dist, THREE_SIGMA_PERCENTILES)
        rows.append(
            {
                "des": approach["des"], "jd": float(approach["jd"]),
                "jpl_dist_au": float(approach["dist"]),
                "jpl_dist_min_au": float(approach["dist_min"]),
                "jpl_dist_max_au": float(approach["dist_max"]),
                "jpl_range_au": float(approach["range"]),
                "jpl_t_sigma_min": parse_t_sigma(approach["t_sigma_f"]),
                "clones": n, "clones_dist_nominal_au": float(dist[0]),
                "clones_dist_min_au": float(low), "clones_dist_max_au": float(high),
                "clones_range_au": float(high - low),
                "clones_t_sigma_min": float(np.std(times) * MINUTES_PER_DAY),
                "range_ratio": float((high - low) / approach["range"]),
            }
        )  # fmt: skip
        if (k + 1) % 25 == 0:
            log.info("clone calibration: %d / %d approaches", k + 1, len(ref))
    return pd.DataFrame(rows, columns=UNCERTAINTY_COLUMNS)


def write_calibration(
    config: Mapping[str, Any], catalog_path: str, cad_path: str, out_csv: str
) -> pd.DataFrame:
    """Rule ``clone_calibration``: :func:`calibrate_against_cad` on the shipped catalog and
    CAD table, written to ``out_csv``."""
    from asteroid_ml.io import atomic_output
    from asteroid_ml.simulation.cad_validation import load_cad
    from asteroid_ml.simulation.close_approach import load_catalog

    elements = load_catalog(catalog_path)
    missing = [c for c in ("q", "tp", *SIGMA_COLUMNS.values(), "sigma_q", "sigma_tp")
               if c not in elements.columns]  # fmt: skip
    if missing:
        raise ValueError(f"{catalog_path}: missing column(s) {missing} (needed for clones)")
    table = calibrate_against_cad(
        elements, load_cad(cad_path), float(config["epoch_jd_tdb"]), config["hazard"]["clones"],
        int(config["seed"]), float(config["hazard"]["moid_au"]),
    )  # fmt: skip
    ratio = table["range_ratio"]
    log.info(
        "clone calibration (%s): %d approaches, %.0f %% within a factor 2 of JPL's 3-sigma "
        "range, median ratio %.2f", config["hazard"]["clones"]["parameters"], len(table),
        100 * float(((ratio >= 0.5) & (ratio <= 2)).mean()), float(ratio.median()),
    )  # fmt: skip
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table


#: Columns of ``results/eval/approacher_clones.csv`` besides the per-horizon probabilities
#: ``p_moid_below_within_{H}yr``.
APPROACHER_COLUMNS = [
    "des", "clones", "window_end_jd_tdb", "p_moid_below_in_window",
    "moid_first_below_year_p05", "moid_first_below_year_p50", "moid_first_below_year_p95",
    "nominal_moid_first_below_year", "p_encounter_below_in_window", "encounter_year_p50",
]  # fmt: skip


def _year(jd: np.ndarray) -> np.ndarray:
    """Julian-year calendar approximation (J2000 + (JD - 2451545) / YEAR_D), for summaries."""
    return 2000.0 + (np.asarray(jd, dtype=float) - 2451545.0) / YEAR_D


def approacher_clones(
    config: Mapping[str, Any], rows: pd.DataFrame, n: int, seed: int
) -> pd.DataFrame:
    """Clones of catalog objects (``rows``: :func:`load_catalog` rows with the sigma
    columns) run forward over the impact window with the population engine
    (:func:`asteroid_ml.simulation.forward.forward_run_with_track`): the probability that
    the Earth MOID reaches ``hazard.moid_au`` within each ranking horizon and within the
    window, the spread of the first such date, and of a recorded Earth encounter closer
    than the limit (the code's record holds encounters within ~0.03 au only)."""
    from asteroid_ml.seeds import rng_for, stable_int
    from asteroid_ml.simulation.forward import forward_run_with_track

    epoch = float(config["epoch_jd_tdb"])
    limit = float(config["hazard"]["moid_au"])
    window_end = epoch + float(config["simulation"]["impactor"]["window_end_years"]) * YEAR_D
    parameters = str(config["hazard"]["clones"]["parameters"])
    pos, vel, owner = [], [], []
    for k, row in rows.reset_index(drop=True).iterrows():
        rng = rng_for(seed, "approacher_clones", stable_int(str(row["des"])) % 2**32)
        el = draw_clones(row, n, rng, float(row["epoch"]), parameters)
        p, v = elements_to_state(el["a"], el["e"], el["i"], el["om"], el["w"], el["ma"])
        p, v = propagate_states(np.asarray(p), np.asarray(v), float(row["epoch"]), epoch)
        pos.append(p)
        vel.append(v)
        owner += [k] * n
    table, _ = forward_run_with_track(config, np.concatenate(pos), np.concatenate(vel))
    owner = np.asarray(owner)
    horizons = [float(h) for h in config["hazard"]["ranking"]["horizons_years"]]
    out = []
    for k, row in rows.reset_index(drop=True).iterrows():
        mine = table[owner == k]
        first = mine["moid_first_below_jd_tdb"].to_numpy()
        reached = np.isfinite(first)
        met = mine["encounter_min_au"].to_numpy() <= limit
        years = _year(first[reached])
        entry = {
            "des": row["des"], "clones": n, "window_end_jd_tdb": window_end,
            "p_moid_below_in_window": float(reached.mean()),
            "moid_first_below_year_p05": float(np.percentile(years, 5)) if reached.any() else np.nan,
            "moid_first_below_year_p50": float(np.percentile(years, 50)) if reached.any() else np.nan,
            "moid_first_below_year_p95": float(np.percentile(years, 95)) if reached.any() else np.nan,
            "nominal_moid_first_below_year": float(_year(first[0])) if reached[0] else np.nan,
            "p_encounter_below_in_window": float(met.mean()),
            "encounter_year_p50": float(np.median(_year(mine["encounter_min_jd_tdb"].to_numpy()[met])))
            if met.any() else np.nan,
        }  # fmt: skip
        for h in horizons:
            entry[f"p_moid_below_within_{h:g}yr"] = float(
                np.mean(reached & (first <= epoch + h * YEAR_D))
            )
        out.append(entry)
    columns = APPROACHER_COLUMNS + [f"p_moid_below_within_{h:g}yr" for h in horizons]
    return pd.DataFrame(out, columns=columns)


def write_approacher_clones(
    config: Mapping[str, Any], catalog_path: str, approachers_csv: str, out_csv: str,
    n: int | None = None, seed: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Rule ``approacher_clones``: :func:`approacher_clones` for the top
    ``hazard.verify_top_n`` future approachers of ``future_approachers.csv``."""
    from asteroid_ml.io import atomic_output
    from asteroid_ml.simulation.close_approach import load_catalog

    top = pd.read_csv(approachers_csv, dtype={"des": str})["des"].head(
        int(config["hazard"]["verify_top_n"])
    )
    catalog = load_catalog(catalog_path)
    rows = catalog.set_index("des").loc[top].reset_index()
    table = approacher_clones(
        config, rows, int(n or config["hazard"]["clones"]["n"]),
        int(config["seed"] if seed is None else seed),
    )  # fmt: skip
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table
