"""Precise Earth close approaches (validated against JPL's data in :mod:`.cad_validation`).

Propagation (REBOUND IAS15, a 15th-order adaptive integrator; see the notes for
why not an AMUSE code here): Sun, the eight planets, Earth and Moon as separate
bodies with DE440 GM values, initial conditions from astropy's built-in
ephemeris in the barycentric ecliptic-J2000 frame, asteroids as massless test
particles, plus the Sun's first-order post-Newtonian (Schwarzschild) term on all
bodies. Two modes:

* ``"reset"`` (default): every ``reset_days`` the massive bodies are put back on the
  ephemeris, so that Earth does not drift from its true position over years
  (a free N-body Earth drifts thousands of km per decade);
* ``"free"``: one N-body integration over the whole span.

Close approaches are found by sampling the geocentric radial velocity r·v of all
particles (a minimum of distance is a sign change from - to +) and refining each
bracket with Brent's method on r·v, re-integrating the particle with the massive
bodies from the bracket start. Distances below Earth's radius (impacts) are
reported like any other approach.
"""

from __future__ import annotations

import ctypes
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import erfa
import numpy as np
import pandas as pd

from asteroid_ml.simulation.rebound_support import integrate
from asteroid_ml.simulation.solar_system import (
    AU_KM,
    BODIES,
    DAY_S,
    EARTH_INDEX,
    EPHEMERIS_END_JD,
    EPHEMERIS_START_JD,
    GM_AU3_D2,
    GM_SUN,
    barycentric_states,
    elements_to_state,
)

log = logging.getLogger(__name__)

#: JD (TDB) span (AD 1900-2100) over which ERFA's Earth series epv00 is accurate.
EARTH_SERIES_JD = (2415020.5, 2488069.5)

N_MASSIVE = len(BODIES)
ELEMENT_KEYS = ("a", "e", "i", "om", "w", "ma")
APPROACH_COLUMNS = ["des", "jd_tdb", "cd", "dist_au", "v_rel_kms"]
#: doubles per reb_particle struct (x..az, m, r, then three pointers)
_PARTICLE_DOUBLES = 14


@dataclass(frozen=True)
class PropagationSettings:
    """Settings of the precise propagation.

    ``mode``: "reset" or "free"; ``reset_days``: interval of the ephemeris resets;
    ``sample_days``: spacing of the r·v samples used to bracket minima (must be
    shorter than half the duration of any approach, ~days at 0.05 au);
    ``gr``: include the Sun's 1PN term; ``time_tol_days``: root tolerance.
    """

    mode: str = "reset"
    reset_days: float = 20.0
    sample_days: float = 0.125
    gr: bool = True
    time_tol_days: float = 1e-7


# --- force model ------------------------------------------------------------------------


def _particle_array(sim: Any) -> np.ndarray:
    """A NumPy view (N, 14) on REBOUND's particle structs (x, y, z, vx, vy, vz, ax, ay, az, m...)."""
    n = sim.N
    addr = ctypes.addressof(sim._particles.contents)
    buf = (ctypes.c_double * (n * _PARTICLE_DOUBLES)).from_address(addr)
    return np.ctypeslib.as_array(buf).reshape(n, _PARTICLE_DOUBLES)


def make_simulation(
    t: float,
    massive_pos: np.ndarray,
    massive_vel: np.ndarray,
    test_pos: np.ndarray,
    test_vel: np.ndarray,
    gr: bool = True,
) -> Any:
    """A REBOUND IAS15 simulation (au, day, G = 1, masses = GM) at time ``t`` (JD TDB)."""
    import rebound

    sim = rebound.Simulation()
    sim.G = 1.0
    sim.integrator = "ias15"
    sim.t = t
    for j, body in enumerate(BODIES):
        sim.add(
            m=GM_AU3_D2[body],
            x=massive_pos[j, 0],
            y=massive_pos[j, 1],
            z=massive_pos[j, 2],
            vx=massive_vel[j, 0],
            vy=massive_vel[j, 1],
            vz=massive_vel[j, 2],
        )
    for k in range(len(test_pos)):
        sim.add(
            m=0.0,
            x=test_pos[k, 0],
            y=test_pos[k, 1],
            z=test_pos[k, 2],
            vx=test_vel[k, 0],
            vy=test_vel[k, 1],
            vz=test_vel[k, 2],
        )
    sim.N_active = N_MASSIVE
    sim.testparticle_type = 0
    if gr:
        from asteroid_ml.simulation.gr_kernel import sun_gr_callback  # numba: only when used

        # Assigned as a C function pointer: REBOUND calls it without entering Python.
        # (The rebound setter would wrap it in a Python callback.) Kept on the simulation
        # object so that the pointer lives as long as the simulation.
        sim._afp = sun_gr_callback()
        sim._additional_forces = sim._afp
        sim.force_is_velocity_dependent = 1
    return sim


def _state(sim: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _particle_array(sim)
    return p[:, 0:3].copy(), p[:, 3:6].copy()


# --- propagation and minimum search ---------------------------------------------------------


@dataclass
class _Bracket:
    particle: int
    t_a: float  # earlier time
    t_b: float  # later time
    massive_pos: np.ndarray
    massive_vel: np.ndarray
    pos: np.ndarray
    vel: np.ndarray


def _geocentric_rv(pos: np.ndarray, vel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = pos[N_MASSIVE:] - pos[EARTH_INDEX]
    v = vel[N_MASSIVE:] - vel[EARTH_INDEX]
    return np.einsum("ij,ij->i", r, v), np.linalg.norm(r, axis=1)


def _minima_between(
    prev: tuple[float, np.ndarray, np.ndarray, np.ndarray],
    now: tuple[float, np.ndarray, np.ndarray, np.ndarray],
    distance: np.ndarray,
    direction: float,
    gate: float,
) -> list[_Bracket]:
    """Brackets of the particles whose geocentric r·v changed from - to + (in real time)
    between two samples ``(t, pos, vel, r·v)`` and that are within ``gate`` au now."""
    t_prev, p0, v0, f0 = prev
    t_now, p1, v1, f1 = now
    if direction > 0:
        hits = np.flatnonzero((f0 < 0) & (f1 >= 0) & (distance < gate))
    else:
        hits = np.flatnonzero((f1 < 0) & (f0 >= 0) & (distance < gate))
    early = (t_now, p1, v1) if direction < 0 else (t_prev, p0, v0)
    late_t = t_prev if direction < 0 else t_now
    return [
        _Bracket(
            int(k),
            early[0],
            late_t,
            early[1][:N_MASSIVE].copy(),
            early[2][:N_MASSIVE].copy(),
            early[1][N_MASSIVE + k].copy(),
            early[2][N_MASSIVE + k].copy(),
        )
        for k in hits
    ]


def _leg(
    t0: float,
    t1: float,
    massive_pos: np.ndarray,
    massive_vel: np.ndarray,
    pos: np.ndarray,
    vel: np.ndarray,
    settings: PropagationSettings,
    max_dist_au: float,
    window: tuple[float, float] | None = None,
) -> list[_Bracket]:
    """Integrate test particles from t0 to t1 (either direction); brackets of distance minima.

    Distances are sampled only inside ``window`` (lo, hi) (default: the whole leg);
    outside it the particles are just carried along.
    """
    direction = 1.0 if t1 >= t0 else -1.0
    span = abs(t1 - t0)
    if span == 0 or len(pos) == 0:
        return []
    lo, hi = window if window is not None else (min(t0, t1), max(t0, t1))
    if settings.mode == "reset":
        n_seg = max(1, int(np.ceil(span / settings.reset_days - 1e-12)))
    elif settings.mode == "free":
        n_seg = 1
    else:
        raise ValueError(f"close approach mode must be 'reset' or 'free', got {settings.mode!r}")
    seg_edges = t0 + direction * np.minimum(np.arange(n_seg + 1) * span / n_seg, span)
    if settings.mode == "reset" and n_seg > 1:
        # One vectorised ephemeris call for all resets (astropy's per-call overhead dominates).
        edge_pos, edge_vel = barycentric_states(seg_edges[1:-1])
    brackets: list[_Bracket] = []
    prev: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    cur_pos, cur_vel = pos, vel
    # Generous distance gate for refinement: minima can be deeper than sampled values.
    gate = max_dist_au * 1.5 + 0.02
    for s in range(n_seg):
        ta, tb = seg_edges[s], seg_edges[s + 1]
        if settings.mode == "reset" or s == 0:
            if s > 0:
                massive_pos, massive_vel = edge_pos[s - 1], edge_vel[s - 1]
            sim = make_simulation(ta, massive_pos, massive_vel, cur_pos, cur_vel, settings.gr)
        # Part of this segment inside the window, in the direction of integration.
        ua, ub = max(min(ta, tb), lo), min(max(ta, tb), hi)
        samples: np.ndarray = np.empty(0)
        if ua >= ub:  # nothing to sample in this segment
            prev = None
        else:
            sa, sb = (ua, ub) if direction > 0 else (ub, ua)
            if sa != ta:
                integrate(sim, sa, exact_finish_time=1)
                prev = None
            n_samp = max(1, int(np.ceil(abs(sb - sa) / settings.sample_days)))
            samples = sa + (sb - sa) * np.arange(1, n_samp + 1) / n_samp
        n_samp = len(samples)
        for k_samp, t_next in enumerate(samples):
            if prev is None:
                p0, v0 = _state(sim)
                f0, _ = _geocentric_rv(p0, v0)
                prev = (sim.t, p0, v0, f0)
            # Samples fall on step boundaries (no step truncation) except at segment ends.
            # (REBOUND integrates backward when asked for a time already passed: skip those.)
            last = k_samp == n_samp - 1
            if direction * (t_next - sim.t) <= 0 and not last:
                continue
            integrate(sim, t_next, exact_finish_time=int(last))
            p1, v1 = _state(sim)
            f1, d1 = _geocentric_rv(p1, v1)
            brackets += _minima_between(prev, (sim.t, p1, v1, f1), d1, direction, gate)
            prev = (sim.t, p1, v1, f1)
        if direction * (tb - sim.t) > 0:
            integrate(sim, tb, exact_finish_time=1)
        cur_pos, cur_vel = _state(sim)
        cur_pos, cur_vel = cur_pos[N_MASSIVE:], cur_vel[N_MASSIVE:]
        massive_pos, massive_vel = _state(sim)
        massive_pos, massive_vel = massive_pos[:N_MASSIVE], massive_vel[:N_MASSIVE]
    return brackets


def _refine(bracket: _Bracket, settings: PropagationSettings) -> tuple[float, float, float]:
    """Time (JD TDB), distance (au) and relative speed (au/day) of the minimum in a bracket.

    Newton's method on f(t) = r·v (geocentric) with f' ≈ v² + r·a_Earth, on one
    IAS15 integration that hops forward and backward inside the bracket; the
    neglected tidal terms only slow convergence (factor ~0.05 per step).
    """
    sim = make_simulation(
        bracket.t_a,
        bracket.massive_pos,
        bracket.massive_vel,
        bracket.pos[None],
        bracket.vel[None],
        settings.gr,
    )
    mu_e = GM_AU3_D2["earth"]

    def geo() -> tuple[np.ndarray, np.ndarray]:
        p, v = _state(sim)
        return p[N_MASSIVE] - p[EARTH_INDEX], v[N_MASSIVE] - v[EARTH_INDEX]

    t = bracket.t_a
    r, v = geo()
    for _ in range(50):
        rn = float(np.linalg.norm(r))
        f = float(np.dot(r, v))
        fprime = float(np.dot(v, v)) - mu_e / rn
        step = -f / fprime if fprime > 0 else 0.5 * (bracket.t_b - t)
        t_new = min(max(t + step, bracket.t_a), bracket.t_b)
        if abs(t_new - t) < settings.time_tol_days:
            break
        integrate(sim, t_new, exact_finish_time=1)
        t = t_new
        r, v = geo()
    return t, float(np.linalg.norm(r)), float(np.linalg.norm(v))


def propagate_close_approaches(
    pos: np.ndarray,
    vel: np.ndarray,
    epoch_jd_tdb: float,
    start_jd_tdb: float,
    end_jd_tdb: float,
    max_dist_au: float = 0.05,
    settings: PropagationSettings | None = None,
) -> pd.DataFrame:
    """Close approaches of test particles given barycentric ecliptic states at the epoch.

    Returns a DataFrame with ``particle`` (row index), ``jd_tdb``, ``dist_au`` and
    ``v_rel_kms``, sorted by particle and time.
    """
    settings = settings or PropagationSettings()
    if end_jd_tdb <= start_jd_tdb:
        raise ValueError(f"end ({end_jd_tdb}) must be after start ({start_jd_tdb})")
    if start_jd_tdb < EPHEMERIS_START_JD or end_jd_tdb > EPHEMERIS_END_JD:
        raise ValueError(
            f"window JD {start_jd_tdb:.1f}..{end_jd_tdb:.1f} (TDB) leaves AD 1000..3000, the "
            "span of the built-in planetary ephemeris"
        )
    m_pos, m_vel = barycentric_states(epoch_jd_tdb)
    brackets = []
    # Sample a day beyond the window so that minima at its edges are bracketed.
    window = (start_jd_tdb - 1.0, end_jd_tdb + 1.0)
    if end_jd_tdb + 1.0 > epoch_jd_tdb:
        brackets += _leg(
            epoch_jd_tdb, end_jd_tdb + 1.0, m_pos, m_vel, pos, vel, settings, max_dist_au, window
        )
    if start_jd_tdb - 1.0 < epoch_jd_tdb:
        brackets += _leg(
            epoch_jd_tdb, start_jd_tdb - 1.0, m_pos, m_vel, pos, vel, settings, max_dist_au, window
        )
    rows = []
    for b in brackets:
        t, d, v = _refine(b, settings)
        if d <= max_dist_au and start_jd_tdb <= t <= end_jd_tdb:
            rows.append((b.particle, t, d, v * AU_KM / DAY_S))
    table = pd.DataFrame(rows, columns=["particle", "jd_tdb", "dist_au", "v_rel_kms"])
    return table.sort_values(["particle", "jd_tdb"], ignore_index=True)


def propagate_states(
    pos: np.ndarray,
    vel: np.ndarray,
    t0_jd_tdb: float,
    t1_jd_tdb: float,
    settings: PropagationSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Heliocentric ecliptic states (au, au/day) of test particles moved from ``t0`` to ``t1``
    (JD TDB, either direction) with IAS15, the planets put back on the ephemeris every
    ``settings.reset_days``."""
    settings = settings or PropagationSettings()
    span = abs(t1_jd_tdb - t0_jd_tdb)
    if span == 0 or len(pos) == 0:
        return np.array(pos, dtype=float), np.array(vel, dtype=float)
    direction = 1.0 if t1_jd_tdb > t0_jd_tdb else -1.0
    n_seg = max(1, int(np.ceil(span / settings.reset_days - 1e-12)))
    edges = t0_jd_tdb + direction * np.minimum(np.arange(n_seg + 1) * span / n_seg, span)
    massive_pos, massive_vel = barycentric_states(edges)
    sun = BODIES.index("sun")
    cur_pos = np.asarray(pos, dtype=float) + massive_pos[0, sun]
    cur_vel = np.asarray(vel, dtype=float) + massive_vel[0, sun]
    for s in range(n_seg):
        sim = make_simulation(
            edges[s], massive_pos[s], massive_vel[s], cur_pos, cur_vel, settings.gr
        )
        integrate(sim, edges[s + 1], exact_finish_time=1)
        p, v = _state(sim)
        cur_pos, cur_vel = p[N_MASSIVE:], v[N_MASSIVE:]
    return cur_pos - massive_pos[-1, sun], cur_vel - massive_vel[-1, sun]


def calendar_tdb(jd_tdb: np.ndarray) -> list[str]:
    """'YYYY-MM-DD HH:MM' (TDB, rounded to the minute) for Julian dates."""
    from astropy import units as u
    from astropy.time import Time

    if len(jd_tdb) == 0:
        return []
    t = Time(np.asarray(jd_tdb, dtype=float), format="jd", scale="tdb")
    return [s[:16].replace("T", " ") for s in (t + 30.0 * u.s).isot]


def _elements_frame(elements: pd.DataFrame | Mapping[str, Any], epoch_jd_tdb: Any) -> pd.DataFrame:
    if isinstance(elements, pd.DataFrame):
        frame = elements.copy()
    elif all(np.ndim(v) == 0 for v in elements.values()):
        frame = pd.DataFrame([dict(elements)])  # one object given as scalars
    else:
        frame = pd.DataFrame(dict(elements))
    missing = [k for k in ELEMENT_KEYS if k not in frame.columns]
    if missing:
        raise ValueError(f"elements: missing field(s) {missing} (need {', '.join(ELEMENT_KEYS)})")
    if "epoch" not in frame.columns:
        if epoch_jd_tdb is None:
            raise ValueError("elements: no 'epoch' column and no epoch_jd_tdb given")
        frame["epoch"] = epoch_jd_tdb
    if "des" not in frame.columns:
        frame["des"] = [f"obj{k}" for k in range(len(frame))]
    for k in (*ELEMENT_KEYS, "epoch"):
        values = pd.to_numeric(frame[k], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"elements: {k} of {frame['des'].iloc[row]!r} (row {row}) is not a finite number: "
                f"{frame[k].iloc[row]}"
            )
        frame[k] = values.astype(float)
    checks = (
        ("a", frame["a"] > 0, "a > 0 au"),
        ("e", (frame["e"] >= 0) & (frame["e"] < 1), "0 <= e < 1"),
        ("i", (frame["i"] >= 0) & (frame["i"] <= 180), "0 <= i <= 180 deg"),
        ("epoch", (frame["epoch"] >= EPHEMERIS_START_JD) & (frame["epoch"] <= EPHEMERIS_END_JD),
         "an epoch between AD 1000 and AD 3000 (the built-in ephemeris)"),
    )  # fmt: skip
    for key, ok, rule in checks:
        if not ok.all():
            row = int(np.flatnonzero(~ok.to_numpy())[0])
            raise ValueError(
                f"elements: {key} = {frame[key].iloc[row]:g} of {frame['des'].iloc[row]!r} "
                f"(row {row}): need {rule}"
            )
    return frame


def find_close_approaches(
    elements: pd.DataFrame | Mapping[str, Any],
    start_jd_tdb: float,
    end_jd_tdb: float,
    max_dist_au: float = 0.05,
    epoch_jd_tdb: float | None = None,
    settings: PropagationSettings | None = None,
) -> pd.DataFrame:
    """Earth close approaches of objects with heliocentric ecliptic-J2000 elements.

    ``elements``: columns (or keys) ``a`` (au), ``e``, ``i``, ``om``, ``w``, ``ma``
    (deg), optional ``epoch`` (JD TDB; else ``epoch_jd_tdb``) and ``des``.
    Returns one row per approach: ``des``, ``jd_tdb``, ``cd`` ('YYYY-MM-DD HH:MM',
    TDB), ``dist_au`` (geocentric, centre to centre) and ``v_rel_kms``.
    """
    frame = _elements_frame(elements, epoch_jd_tdb)
    span = (min(start_jd_tdb, frame["epoch"].min()), max(end_jd_tdb, frame["epoch"].max()))
    if span[0] < EARTH_SERIES_JD[0] or span[1] > EARTH_SERIES_JD[1]:
        log.warning(
            "close approaches over JD %.1f..%.1f: outside 1900-2100 astropy's Earth (ERFA epv00) "
            "is extrapolated, so dates and distances are approximate there",
            *span,
        )
    with warnings.catch_warnings():
        # ERFA warns on every call outside 1900-2100; said once above instead.
        warnings.simplefilter("ignore", erfa.ErfaWarning)
        return _find_close_approaches(frame, start_jd_tdb, end_jd_tdb, max_dist_au, settings)


def _find_close_approaches(
    frame: pd.DataFrame,
    start_jd_tdb: float,
    end_jd_tdb: float,
    max_dist_au: float,
    settings: PropagationSettings | None,
) -> pd.DataFrame:
    out = []
    for epoch, group in frame.groupby("epoch", sort=True):
        pos, vel = elements_to_state(
            group["a"], group["e"], group["i"], group["om"], group["w"], group["ma"], GM_SUN
        )
        sun_pos, sun_vel = barycentric_states(float(epoch), bodies=("sun",))
        found = propagate_close_approaches(
            pos + sun_pos[0],
            vel + sun_vel[0],
            float(epoch),
            start_jd_tdb,
            end_jd_tdb,
            max_dist_au,
            settings,
        )
        found.insert(0, "des", group["des"].to_numpy()[found["particle"].to_numpy(dtype=int)])
        out.append(found.drop(columns="particle"))
    table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=APPROACH_COLUMNS)
    table = table.astype({"des": str, "jd_tdb": float, "dist_au": float, "v_rel_kms": float})
    table["cd"] = calendar_tdb(table["jd_tdb"].to_numpy())
    return table.sort_values(["jd_tdb", "des"], ignore_index=True)[APPROACH_COLUMNS]


def load_catalog(path: str | os.PathLike[str]) -> pd.DataFrame:
    """SBDB-style CSV -> elements frame with ``des`` (the ``pdes`` column if present)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"catalog not found: {path}")
    try:
        # designations are text: a blank one must not turn '2101' into 2101.0
        cat = pd.read_csv(path, low_memory=False, dtype={"pdes": str, "des": str})
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path}: empty file, not an SBDB-style CSV catalog") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not an SBDB-style CSV catalog (binary or Parquet?)") from exc
    missing = [k for k in (*ELEMENT_KEYS, "epoch") if k not in cat.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    des_col = "pdes" if "pdes" in cat.columns else ("des" if "des" in cat.columns else None)
    if des_col is None:
        raise ValueError(f"{path}: need a 'pdes' or 'des' column")
    cat = cat.rename(columns={des_col: "des"})
    blank = cat["des"].isna() | (cat["des"].astype(str).str.strip() == "")
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0])
        raise ValueError(f"{path}: column {des_col!r}, row {row + 2}: empty designation")
    cat["des"] = cat["des"].astype(str).str.strip()
    twice = cat["des"].duplicated(keep=False)
    if twice.any():
        rows = np.flatnonzero(twice.to_numpy()) + 2
        raise ValueError(f"{path}: designation {cat['des'][twice].iloc[0]!r} appears more than "
                         f"once (rows {', '.join(map(str, rows[:5]))})")  # fmt: skip
    if cat.empty:
        raise ValueError(f"{path}: the catalog has no rows")
    for column in (*ELEMENT_KEYS, "epoch"):
        values = pd.to_numeric(cat[column], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}: column {column!r}, row {row + 2} ({cat['des'].iloc[row]}): "
                f"{cat[column].iloc[row]!r} is not a number"
            )
        cat[column] = values
    return cat


def parse_elements(text: str) -> dict[str, float]:
    """Elements from ``a=..,e=..,i=..,om=..,w=..,ma=..`` (au, deg); errors name ``--elements``."""
    values: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"--elements: expected key=value, got {part!r}")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in ELEMENT_KEYS:
            raise ValueError(f"--elements: unknown element {key!r} (use {', '.join(ELEMENT_KEYS)})")
        try:
            values[key] = float(value)
        except ValueError as exc:
            raise ValueError(f"--elements: {key}={value!r} is not a number") from exc
    missing = [k for k in ELEMENT_KEYS if k not in values]
    if missing:
        raise ValueError(f"--elements: missing {', '.join(missing)}")
    return values


def parse_iso_tdb(text: str, option: str) -> float:
    """JD (TDB) of an ISO date; errors name the command-line ``option``."""
    from astropy.time import Time

    try:
        return float(Time(text, scale="tdb").jd)
    except ValueError as exc:
        raise ValueError(f"{option}: cannot parse {text!r} as an ISO date") from exc
