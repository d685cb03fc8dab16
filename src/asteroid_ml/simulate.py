"""Population simulation with AMUSE: known impactors and a non-impacting background.

Impactors (Hefele et al. 2020, A&A 634, A45): every impactor gets an impact epoch
drawn uniformly from a window after the observation epoch and a launch from Earth's
surface: by default (``launch_model: flux``) that of an Earth-hitting member of the
background model, drawn with probability proportional to its Öpik impact rate
(:mod:`asteroid_ml.impact_flux`); or (``isotropic``) a random surface point, a
truncated log-normal speed and impact angles distributed as sin 2θ (Shoemaker's
isotropic-flux law). It is then integrated *backward* to the observation epoch by time reversal:
all velocities are flipped, the system is integrated forward in reversed time
τ = t_start - t, and velocities are flipped back at the end.

The integration runs in two phases (see :func:`_launch_phase`):

1. *Launch phase*, precise: from the start of the hand-over interval that contains
   the impact, the massive bodies as they are in the AMUSE code are copied into
   a REBOUND IAS15 integration, the particle is launched from Earth's surface at its
   exact impact epoch and followed through the deep part of Earth's potential
   until the end of the interval (at most ``handover_days``).
2. *Population phase*, AMUSE: the particle is added to the AMUSE gravity code
   (Mercury by default: hybrid symplectic with close-encounter handling) at the
   hand-over time and integrated with all others to the observation epoch.

Windows reaching past AD 3000 (the end of astropy's built-in ephemeris) start the
backward runs from a free forward run of the planets (:func:`planet_track`).

The AMUSE code is stepped through the same global grid of hand-over times in
every shard, so the planets follow the same trajectory whatever the shard
split, and every object's random stream is keyed by (seed, population, object
index) only.

Background: a documented parametric NEO model drawn at the observation epoch
(:func:`draw_background_elements`), integrated forward over the impact window
with the same AMUSE code; objects that hit a massive body within the window
(:meth:`GravityCode.collisions`) are redrawn from the object's own random stream.

Outputs: one Parquet file per shard, columns as in the README stage table,
heliocentric ecliptic-J2000 osculating elements and state at the epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asteroid_ml.config import EPHEMERIS_END_JD, simulation_problems
from asteroid_ml.impact_flux import (
    V_EARTH_CIRC_KMS,
    encounter_frame,
    opik_encounter_velocity,
    opik_impact_rate,
    surface_crossing,
)
from asteroid_ml.mercury_encounters import close_encounter_minima
from asteroid_ml.seeds import rng_for, stage_key
from asteroid_ml.solar_system import (
    AU_KM,
    BODIES,
    DAY_S,
    EARTH_RADIUS_AU,
    GM_AU3_D2,
    GM_SUN,
    RADIUS_KM,
    YEAR_D,
    barycentric_states,
    elements_to_state,
    state_to_elements,
)

log = logging.getLogger(__name__)

POPULATIONS = ("impactor", "background")
ID_PREFIX = {"impactor": "imp", "background": "bkg"}
KMS_TO_AUD = DAY_S / AU_KM
EARTH_INDEX = BODIES.index("earth")

STATE_COLUMNS = ["x_au", "y_au", "z_au", "vx_au_d", "vy_au_d", "vz_au_d"]
OUTPUT_COLUMNS = [
    "object_id",
    "object_index",
    "population",
    "epoch_jd_tdb",
    "a_au",
    "e",
    "i_deg",
    "om_deg",
    "w_deg",
    "ma_deg",
    *STATE_COLUMNS,
    "H_mag",
    "impact_jd_tdb",
    "impact_speed_kms",
]
UNITS = {
    "epoch_jd_tdb": "Julian date, TDB",
    "a_au": "au",
    "i_deg": "deg",
    "om_deg": "deg",
    "w_deg": "deg",
    "ma_deg": "deg",
    "x_au": "au, heliocentric ecliptic J2000",
    "vx_au_d": "au/day, heliocentric ecliptic J2000",
    "H_mag": "mag (absolute, H-G system)",
    "impact_jd_tdb": "Julian date, TDB",
    "impact_speed_kms": "km/s, relative to Earth's centre at the surface",
}

#: Rounds of redrawing objects the code removed before giving up.
MAX_REDRAW_ROUNDS = 5

#: Most massless particles that share one AMUSE code instance; larger sets are split
#: over instances that carry the same planets from the same start. Why: Mercury's AMUSE
#: build sums the potential energy over all pairs of bodies, massless ones included, at
#: every commit, at every evolve call and every 500 steps within one, so its cost per
#: particle grows with N. Measured on 27,800 background objects over 200 yr: 24,400
#: asteroid-yr/core-s in one instance, 34,900 in instances of 1,000 (an instance costs
#: ~0.04 core-s to start and its planets ~0.5 core-s per 1,000 yr at the 4-day step).
#: It also keeps any shard within Mercury's NMAX (200,000 bodies).
PARTICLES_PER_CODE = 1000


class SimulationError(RuntimeError):
    """The gravity code failed (crashed worker, wrong time, lost particles)."""


# --- sharding and random draws ---------------------------------------------------------


def shard_indices(n: int, n_shards: int, shard: int) -> np.ndarray:
    """Object indices of ``shard`` (contiguous blocks, as even as possible)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shard(s)")
    bounds = np.linspace(0, n, n_shards + 1).round().astype(int)
    return np.arange(bounds[shard], bounds[shard + 1])


def object_id(population: str, index: int) -> str:
    return f"{ID_PREFIX[population]}-{index:06d}"


def draw_h_mag(rng: np.random.Generator, h_min: float, h_max: float, slope: float) -> float:
    """H from a truncated power law, N(<H) ∝ 10^(slope·H), by inverse transform."""
    u = rng.uniform()
    lo, hi = 10.0 ** (slope * h_min), 10.0 ** (slope * h_max)
    return float(np.log10(lo + u * (hi - lo)) / slope)


def _unit_vector(rng: np.random.Generator) -> np.ndarray:
    z = rng.uniform(-1.0, 1.0)
    phi = rng.uniform(0.0, 2 * np.pi)
    s = math.sqrt(1.0 - z * z)
    return np.array([s * math.cos(phi), s * math.sin(phi), z])


def _perpendicular_basis(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors that complete ``unit`` to a right-handed orthonormal basis."""
    e1 = np.cross(unit, [0.0, 0.0, 1.0] if abs(unit[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(unit, e1)


@dataclass(frozen=True)
class ImpactLaunch:
    """An impact: epoch (JD TDB), geocentric surface point (au) and impact velocity (au/day)."""

    index: int
    impact_jd_tdb: float
    position: np.ndarray
    velocity: np.ndarray
    speed_kms: float
    h_mag: float


def earth_escape_speed_kms() -> float:
    return math.sqrt(2 * GM_AU3_D2["earth"] / EARTH_RADIUS_AU) / KMS_TO_AUD


def _outgoing_asymptote(r: np.ndarray, v: np.ndarray, mu: float) -> np.ndarray:
    """Asymptotic velocity (au/day) of the two-body hyperbola through (r, v) as t -> +inf."""
    h = np.cross(r, v)
    e_vec = np.cross(v, h) / mu - r / np.linalg.norm(r)
    e = np.linalg.norm(e_vec)
    v_inf = math.sqrt(max(np.dot(v, v) - 2 * mu / np.linalg.norm(r), 0.0))
    e_hat = e_vec / e
    p_hat = np.cross(h / np.linalg.norm(h), e_hat)
    direction = -e_hat / e + math.sqrt(1 - 1 / e**2) * p_hat
    # Unit length: |(-1/e, sqrt(1-1/e^2))| = 1.
    return v_inf * direction


def _isotropic_launch(
    rng: np.random.Generator, icfg: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform surface point, truncated log-normal speed, impact angle θ with density sin 2θ."""
    v_esc = earth_escape_speed_kms()
    n_hat = _unit_vector(rng)
    while True:  # truncated log-normal impact speed
        speed = icfg["speed_median_kms"] * math.exp(icfg["speed_log_sigma"] * rng.normal())
        if v_esc * 1.0001 < speed <= icfg["speed_max_kms"]:
            break
    # Impact angle θ from the horizontal with density sin 2θ: sin^2 θ uniform.
    theta = math.asin(math.sqrt(rng.uniform()))
    azimuth = rng.uniform(0.0, 2 * np.pi)
    e1, e2 = _perpendicular_basis(n_hat)
    tangent = math.cos(azimuth) * e1 + math.sin(azimuth) * e2
    v_imp = speed * KMS_TO_AUD * (-math.sin(theta) * n_hat + math.cos(theta) * tangent)
    return EARTH_RADIUS_AU * n_hat, v_imp


def _neo_shape_proposals(
    rng: np.random.Generator, bcfg: dict[str, Any], size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a au, e, i rad) of Earth-crossing orbits of the background model (vectorised rejection).

    Same a, e, i laws and cuts as :func:`draw_background_elements`, plus q < 1 au < Q.
    """
    a = rng.uniform(bcfg["a_min_au"], bcfg["a_max_au"], size)
    e = rng.rayleigh(bcfg["e_sigma"], size)
    inc = rng.rayleigh(bcfg["i_sigma_deg"], size)
    keep = (
        (e < 0.95) & (a * (1 - e) < min(bcfg["q_max_au"], 1.0)) & (a * (1 + e) > 1.0) & (inc < 90.0)
    )
    return a[keep], e[keep], np.radians(inc[keep])


#: Öpik rates of the background model have an integrable but heavy tail (near-tangent
#: crossings, i -> 0, slow encounters); rates above this quantile are clipped so that
#: rejection sampling stays efficient (~3 % acceptance; ~4 % of the rate mass is clipped).
FLUX_RATE_CLIP_QUANTILE = 0.999


@functools.lru_cache(maxsize=8)
def _flux_rate_clip(a_min: float, a_max: float, q_max: float, e_sig: float, i_sig: float) -> float:
    """The clip level of the Öpik rate for one background model (a fixed stream: a model property)."""
    bcfg = {"a_min_au": a_min, "a_max_au": a_max, "q_max_au": q_max}
    bcfg |= {"e_sigma": e_sig, "i_sigma_deg": i_sig}
    rng = np.random.default_rng(np.random.SeedSequence([stage_key("impact-flux-clip")]))
    a, e, inc = _neo_shape_proposals(rng, bcfg, 400_000)
    if len(a) == 0:
        raise SimulationError("background model has no Earth-crossing orbits: no impactors")
    rate = opik_impact_rate(a, e, inc, earth_escape_speed_kms())
    return float(np.quantile(rate[rate > 0], FLUX_RATE_CLIP_QUANTILE))


def _flux_launch(
    rng: np.random.Generator,
    bcfg: dict[str, Any],
    r_earth: np.ndarray,
    v_earth: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Surface point and velocity of an Earth-hitting member of the background model.

    The orbit shape is drawn from the background model with probability ∝ its Öpik
    impact rate (:mod:`asteroid_ml.impact_flux`); the crossing (inbound/outbound,
    ascending/descending node) is chosen at random; the impact parameter is uniform
    over the gravitationally focused disk, which puts the impact point on Earth's
    surface and sets the impact angle.
    """
    v_esc = earth_escape_speed_kms()
    clip = _flux_rate_clip(
        bcfg["a_min_au"], bcfg["a_max_au"], bcfg["q_max_au"], bcfg["e_sigma"], bcfg["i_sigma_deg"]
    )
    while True:
        a, e, inc = _neo_shape_proposals(rng, bcfg, 256)
        rate = opik_impact_rate(a, e, inc, v_esc)
        accepted = np.flatnonzero(rng.uniform(size=len(a)) * clip < rate)
        if len(accepted):
            k = accepted[0]
            break
    # Inbound or outbound crossing (sign of U_x), ascending or descending node (U_z).
    sign_x, sign_z = rng.choice([-1.0, 1.0], 2)
    u = opik_encounter_velocity(a[k], e[k], inc[k]) * np.array([sign_x, 1.0, sign_z])
    u_vec = u @ encounter_frame(r_earth, v_earth)
    v_inf = V_EARTH_CIRC_KMS * KMS_TO_AUD * u_vec
    mu = GM_AU3_D2["earth"]
    b_max = EARTH_RADIUS_AU * math.sqrt(1.0 + 2.0 * mu / (EARTH_RADIUS_AU * np.dot(v_inf, v_inf)))
    w_hat = v_inf / np.linalg.norm(v_inf)
    e1, e2 = _perpendicular_basis(w_hat)
    # Uniform over the disk; 0.999999 keeps the grazing edge strictly inside.
    b = 0.999999 * b_max * math.sqrt(rng.uniform())
    phi = rng.uniform(0.0, 2 * np.pi)
    b_vec = b * (math.cos(phi) * e1 + math.sin(phi) * e2)
    return surface_crossing(v_inf, b_vec, mu, EARTH_RADIUS_AU)


def draw_impact(
    config: dict[str, Any],
    index: int,
    earth_helio: tuple[np.ndarray, np.ndarray] | None = None,
    track: PlanetTrack | None = None,
) -> ImpactLaunch:
    """Draw impactor ``index``: epoch, surface point and impact velocity.

    ``simulation.impactor.launch_model`` picks the encounter law: ``flux`` (default,
    :func:`_flux_launch`) or ``isotropic`` (:func:`_isotropic_launch`). Launches
    whose approximate pre-encounter heliocentric orbit (Earth's velocity plus the
    asymptotic hyperbolic excess velocity) is unbound or has a > ``max_a_au`` are
    redrawn (the epoch is kept).
    """
    sim = config["simulation"]
    icfg = sim["impactor"]
    rng = rng_for(config["seed"], "simulate-impactor", index)
    epoch = float(config["epoch_jd_tdb"])
    t_imp = epoch + rng.uniform(icfg["window_start_years"], icfg["window_end_years"]) * YEAR_D
    h_mag = draw_h_mag(rng, sim["h_min_mag"], sim["h_max_mag"], sim["h_slope"])
    if earth_helio is None and track is not None:
        earth_helio = track.earth(t_imp)
    if earth_helio is None:
        pos, vel = barycentric_states(t_imp)
        earth_helio = (pos[EARTH_INDEX] - pos[0], vel[EARTH_INDEX] - vel[0])
    r_earth, v_earth = earth_helio
    mu_e = GM_AU3_D2["earth"]
    for _attempt in range(1000):
        if icfg.get("launch_model", "flux") == "flux":
            r_imp, v_imp = _flux_launch(rng, sim["background"], r_earth, v_earth)
        else:
            r_imp, v_imp = _isotropic_launch(rng, icfg)
        # Time-reversed motion leaves Earth along (r, -v); the real pre-encounter
        # heliocentric velocity is Earth's minus that asymptote.
        u_out = _outgoing_asymptote(r_imp, -v_imp, mu_e)
        v_helio = v_earth - u_out
        inv_a = 2.0 / np.linalg.norm(r_earth) - np.dot(v_helio, v_helio) / GM_SUN
        if inv_a > 1.0 / sim["max_a_au"]:
            speed = float(np.linalg.norm(v_imp)) / KMS_TO_AUD
            return ImpactLaunch(index, t_imp, r_imp, v_imp, speed, h_mag)
    raise SimulationError(f"impactor {index}: no bound launch found in 1000 draws")


def draw_background_elements(
    config: dict[str, Any], index: int, attempt: int = 0
) -> dict[str, float]:
    """Parametric NEO model for background object ``index`` (``attempt`` > 0: a redraw).

    a uniform in [a_min_au, a_max_au]; e Rayleigh(e_sigma) and i Rayleigh(i_sigma_deg)
    kept when e < 0.95, q = a(1 - e) < q_max_au and i < 90 deg (rejection); Ω, ω, M
    uniform; H from the truncated power law shared with the impactors.
    """
    sim = config["simulation"]
    b = sim["background"]
    rng = rng_for(config["seed"], "simulate-background", index, attempt)
    while True:
        a = rng.uniform(b["a_min_au"], b["a_max_au"])
        e = rng.rayleigh(b["e_sigma"])
        inc = rng.rayleigh(b["i_sigma_deg"])
        if e < 0.95 and a * (1 - e) < b["q_max_au"] and inc < 90.0:
            break
    om, w, ma = rng.uniform(0.0, 360.0, size=3)
    h_mag = draw_h_mag(rng, sim["h_min_mag"], sim["h_max_mag"], sim["h_slope"])
    return {"a_au": a, "e": e, "i_deg": inc, "om_deg": om, "w_deg": w, "ma_deg": ma, "H_mag": h_mag}


# --- AMUSE gravity codes -----------------------------------------------------------------


def _amuse_g() -> float:
    from amuse.units import constants, units

    return constants.G.value_in(units.AU**3 / units.MSun / units.day**2)


class GravityCode:
    """A thin wrapper around an AMUSE gravity code in au, day and heliocentric axes.

    The massive bodies are :data:`BODIES` (Sun first); positions are given and
    returned relative to the Sun. Massless particles are added with
    :meth:`add_particles` and identified by the integer handles it returns.
    Use as a context manager: the worker is stopped (and, if it does not stop,
    killed) on exit, whatever happened.

    Collisions of particles with the massive bodies (physical radii
    :data:`~asteroid_ml.solar_system.RADIUS_KM`) are recorded by :meth:`evolve` and
    reported by :meth:`collisions`. Mercury (as built by AMUSE) never removes a
    particle, so they are read from its close-encounter minima
    (:mod:`asteroid_ml.mercury_encounters`); Huayno runs its collision-detecting
    variant and the particle is removed at contact.
    """

    def __init__(self, code: str, timestep_days: float) -> None:
        if code not in ("mercury", "huayno"):
            raise ValueError(f"simulation.code: unknown gravity code {code!r} (mercury, huayno)")
        self.name = code
        self.timestep_days = timestep_days
        self._code: Any = None
        self._big: Any = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._encounter_dir: tempfile.TemporaryDirectory[str] | None = None
        # particle id in the code -> (time in days, body name) of its first collision
        self._collisions: dict[int, tuple[float, str]] = {}
        self._body_ids: dict[int, str] = {}
        self._id_of_key: dict[int, int] = {}  # AMUSE particle key -> id in the code

    # Lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> GravityCode:
        from amuse.support.literature import TrackLiteratureReferences

        TrackLiteratureReferences.suppress_output()
        # AMUSE logs every state transition at INFO under the logger name "state".
        logging.getLogger("state").setLevel(logging.WARNING)
        try:
            if self.name == "mercury":
                from amuse.community.mercury.interface import MercuryWayWard

                self._code = MercuryWayWard(channel_type="sockets", initialize_mpi=False)
                self._code.initialize_code()
                self._code.parameters.timestep = self.timestep_days | _u().day
                # Mercury opens this file with status='old' and retries forever on
                # failure, so it must exist before the first evolve.
                self._encounter_dir = tempfile.TemporaryDirectory(prefix="mercury-ce-")
                self.encounter_file.touch()
                self._code.parameters.close_encounters_file = str(self.encounter_file)
            else:
                from amuse.community.huayno.interface import Huayno
                from amuse.units import nbody_system

                converter = nbody_system.nbody_to_si(1.0 | _u().MSun, 1.0 | _u().AU)
                self._code = Huayno(converter, channel_type="sockets", initialize_mpi=False)
                self._code.parameters.timestep_parameter = 0.01
                # SHARED4 with a check for contact between particles' radii.
                self._code.parameters.inttype_parameter = self._code.inttypes.SHARED4_COLLISIONS
                self._code.stopping_conditions.collision_detection.enable()
            self._start_watchdog()
        except Exception:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type: object = None, *exc: object) -> None:
        code, self._code = self._code, None
        tree = worker_processes(code)
        WORKER_CPU_SECONDS[0] += _cpu_seconds(tree)
        if code is not None:
            # On an error or a signal the worker may be busy inside a long evolve_model and
            # would only read a stop request when done: kill it first, then drop the channel.
            if exc_type is not None:
                for pid in reversed(tree):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            try:
                if exc_type is not None:
                    raise RuntimeError("worker killed")
                code.stop()
            except Exception:
                # Dead worker: drop the channel so that AMUSE's __del__ does not retry.
                with contextlib.suppress(Exception):
                    code.legacy_interface.channel.stop()
                with contextlib.suppress(Exception):
                    code.legacy_interface.channel = None
        for pid in tree:  # whatever did not exit with stop()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._watchdog is not None:
            with contextlib.suppress(Exception):
                self._watchdog.kill()
                self._watchdog.wait(timeout=5)
            self._watchdog = None
        if self._encounter_dir is not None:
            self._encounter_dir.cleanup()
            self._encounter_dir = None

    def _start_watchdog(self) -> None:
        """Kill the worker processes if this Python process dies without ``__exit__`` (SIGKILL),
        and remove Mercury's encounter-record directory."""
        tree = worker_processes(self._code)
        if not tree:
            return
        scratch = self._encounter_dir.name if self._encounter_dir is not None else ""
        script = (
            "import os,shutil,sys,time,signal\n"
            "parent,scratch=int(sys.argv[1]),sys.argv[2]\n"
            "workers=[int(p) for p in sys.argv[3:]]\n"
            "while True:\n"
            "    time.sleep(0.5)\n"
            "    if os.getppid()!=parent:\n"
            "        for w in workers:\n"
            "            try: os.kill(w,signal.SIGKILL)\n"
            "            except OSError: pass\n"
            "        if scratch: shutil.rmtree(scratch,ignore_errors=True)\n"
            "        break\n"
        )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", script, str(os.getpid()), scratch, *map(str, tree)],
            stdin=subprocess.DEVNULL,
        )

    # State -----------------------------------------------------------------------------
    def set_massive_bodies(self, pos: np.ndarray, vel: np.ndarray) -> None:
        """Massive bodies' heliocentric positions (au) and velocities (au/day), Sun first."""
        from amuse.datamodel import Particles

        u = _u()
        masses = np.array([GM_AU3_D2[b] for b in BODIES]) / _amuse_g()
        radii_au = np.array([RADIUS_KM[b] for b in BODIES]) / AU_KM
        if self.name == "mercury":
            sun = Particles(1)
            sun.mass = masses[0] | u.MSun
            sun.radius = radii_au[0] | u.AU
            sun.position = [0.0, 0.0, 0.0] | u.AU
            sun.velocity = [0.0, 0.0, 0.0] | u.AUd
            self._code.central_particle.add_particles(sun)
            big = Particles(len(BODIES) - 1)
            big.mass = masses[1:] | u.MSun
            # Mercury derives collision radii from the density.
            big.density = (masses[1:] / (4 / 3 * np.pi * radii_au[1:] ** 3)) | u.MSun / u.AU**3
            big.position = (pos[1:] - pos[0]) | u.AU
            big.velocity = (vel[1:] - vel[0]) | u.AUd
            big.celimit = 3.0
            self._big = self._code.orbiters.add_particles(big)
            self._code.commit_particles()
            self._body_ids = dict(zip(self._big.index_in_code.tolist(), BODIES[1:], strict=True))
        else:
            big = Particles(len(BODIES))
            big.mass = masses | u.MSun
            big.radius = radii_au | u.AU
            big.position = (pos - pos[0]) | u.AU
            big.velocity = (vel - vel[0]) | u.AUd
            self._big = self._code.particles.add_particles(big)
            self._code.commit_particles()
            self._body_ids = dict(zip(self._big.index_in_code.tolist(), BODIES, strict=True))

    def add_particles(self, pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
        """Add massless particles at heliocentric (pos, vel); returns their handles (the
        AMUSE particle keys, valid after a particle has left the code)."""
        from amuse.datamodel import Particles

        u = _u()
        sun_pos, sun_vel = self._sun_state()
        new = Particles(len(pos))
        new.mass = 0.0 | u.MSun
        new.position = (pos + sun_pos) | u.AU
        new.velocity = (vel + sun_vel) | u.AUd
        if self.name == "mercury":
            new.density = 1.0 | u.MSun / u.AU**3
            new.celimit = 0.0
            added = self._code.orbiters.add_particles(new)
        else:
            new.radius = 0.0 | u.AU
            added = self._code.particles.add_particles(new)
        keys = np.asarray(added.key).copy()
        self._id_of_key.update(zip(keys.tolist(), added.index_in_code.tolist(), strict=True))
        return keys

    def _sun_state(self) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "mercury":
            return np.zeros(3), np.zeros(3)
        u = _u()
        sun = self._big[0]
        return sun.position.value_in(u.AU), sun.velocity.value_in(u.AUd)

    def massive_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Heliocentric positions and velocities of :data:`BODIES` (Sun = zeros)."""
        u = _u()
        pos = self._big.position.value_in(u.AU)
        vel = self._big.velocity.value_in(u.AUd)
        if self.name == "mercury":
            return np.vstack([np.zeros(3), pos]), np.vstack([np.zeros(3), vel])
        return pos - pos[0], vel - vel[0]

    def particle_state(self, handles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Heliocentric states of the particles ``handles`` (from :meth:`add_particles`);
        third value: mask of particles still in the code."""
        u = _u()
        live = self._code.orbiters if self.name == "mercury" else self._code.particles
        present = np.isin(handles, live.key)
        pos = np.full((len(handles), 3), np.nan)
        vel = np.full((len(handles), 3), np.nan)
        if present.any():
            kept = live._subset(handles[present])
            sun_pos, sun_vel = self._sun_state()
            pos[present] = kept.position.value_in(u.AU) - sun_pos
            vel[present] = kept.velocity.value_in(u.AUd) - sun_vel
        return pos, vel, present

    def evolve(self, t_days: float) -> None:
        """Advance to model time ``t_days`` (days since the start); checks the time reached.

        Collisions met on the way are recorded (see :meth:`collisions`).
        """
        u = _u()
        try:
            if self.name == "mercury":
                self._code.evolve_model(t_days | u.day)
                reached = self._code.get_time().value_in(u.day)
                self._read_mercury_encounters()
            else:
                contact = self._code.stopping_conditions.collision_detection
                while True:
                    self._code.evolve_model(t_days | u.day)
                    if not contact.is_set():
                        break
                    self._remove_huayno_contacts(contact)
                reached = self._code.model_time.value_in(u.day)
        except SimulationError:
            raise
        except Exception as exc:
            raise SimulationError(
                f"AMUSE {self.name} worker failed while evolving to t = {t_days:.3f} d: {exc}"
            ) from exc
        if abs(reached - t_days) > 1e-6 * max(1.0, abs(t_days)):
            raise SimulationError(
                f"AMUSE {self.name} stopped at t = {reached} d instead of {t_days} d "
                "(hand-over interval must be a multiple of the timestep)"
            )

    def _record_collision(self, particle_id: int, t_days: float, body: str) -> None:
        if particle_id not in self._collisions:
            self._collisions[particle_id] = (t_days, body)

    @property
    def encounter_file(self) -> Path:
        """Mercury's close-encounter output (emptied by each :meth:`evolve`)."""
        assert self._encounter_dir is not None, "only Mercury writes close encounters"
        return Path(self._encounter_dir.name) / "close_encounters.txt"

    def _read_mercury_encounters(self) -> None:
        """Collisions among the close-encounter minima written since the last call."""
        path = self.encounter_file
        data = path.read_bytes()
        # Mercury appends and closes the file at each write: emptying it between
        # calls keeps it small (it repeats a header line per body at every restart).
        path.write_bytes(b"")
        if b"\x0c6b" not in data:  # no encounter minimum (most calls): skip the parse
            return
        minima = close_encounter_minima(data, str(path))
        radius_au = {i: RADIUS_KM[b] / AU_KM for i, b in self._body_ids.items()}
        for t, a, b, d in minima:
            for body_id, other in ((a, b), (b, a)):
                if body_id in radius_au and other not in self._body_ids and d < radius_au[body_id]:
                    self._record_collision(int(other), float(t), self._body_ids[body_id])

    def _remove_huayno_contacts(self, contact: Any) -> None:
        """Record and remove the particles Huayno stopped on (contact with a body)."""
        t = self._code.model_time.value_in(_u().day)
        gone = []
        for k in range(len(contact.particles(0))):
            pair = [contact.particles(0)[k], contact.particles(1)[k]]
            ids = [int(p.index_in_code) for p in pair]
            bodies = [self._body_ids.get(i) for i in ids]
            if all(bodies):
                raise SimulationError(f"AMUSE huayno: {bodies[0]} and {bodies[1]} collided")
            body = next(b for b in bodies if b)
            for p, i, b in zip(pair, ids, bodies, strict=True):
                if b is None:
                    self._record_collision(i, t, body)
                    gone.append(p)
        for p in gone:
            with contextlib.suppress(Exception):  # already removed (in two pairs)
                self._code.particles.remove_particle(p)

    def collisions(self, handles: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """Time (days since the start; NaN if none) and body of each particle's first
        collision with a massive body (distance below the body's physical radius)."""
        found = [self._collisions.get(self._id_of_key[k]) for k in handles.tolist()]
        t = np.array([np.nan if f is None else f[0] for f in found], dtype=float)
        return t, [None if f is None else f[1] for f in found]

    def total_energy(self) -> float:
        return float(
            self._code.get_total_energy().value_in(_u().MSun * _u().AU ** 2 / _u().day ** 2)
        )


def _u() -> Any:
    from amuse.units import units

    return units


#: CPU seconds used by AMUSE worker processes of this Python process (for benchmarks).
WORKER_CPU_SECONDS = [0.0]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of running processes (from /proc; 0 where unreadable)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _worker_pid(code: Any) -> int | None:
    """PID of the process a sockets-channel code was started as (AMUSE's launcher)."""
    with contextlib.suppress(Exception):
        return int(code.legacy_interface.channel.process.pid)
    return None


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
    return children


def worker_processes(code: Any) -> list[int]:
    """The launcher process of an AMUSE worker and all its descendants (the worker proper:
    AMUSE starts ``run_command_redirected.py``, which runs the code's binary)."""
    root = _worker_pid(code)
    if root is None:
        return []
    tree, frontier = [root], [root]
    while frontier:
        frontier = [c for p in frontier for c in _children(p)]
        tree += frontier
    return tree


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so that ``finally`` blocks stop the AMUSE workers."""
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# --- launch phase (REBOUND IAS15) ---------------------------------------------------------


def _launch_phase(
    massive_pos: np.ndarray,
    massive_vel: np.ndarray,
    launches: list[tuple[float, np.ndarray, np.ndarray]],
    duration: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Launch particles from Earth in IAS15 and follow them to their hand-over time.

    ``massive_*``: heliocentric state of :data:`BODIES` at the interval start (reversed
    time). ``launches``: (delay in days, geocentric position au, geocentric velocity
    au/day in reversed time) per particle. Each particle gets its own integration so
    that its trajectory does not depend on which other particles share the interval
    (IAS15's step size is global). Returns heliocentric states after ``duration`` days.
    """
    from asteroid_ml.close_approach import make_simulation

    no_particles = np.empty((0, 3))
    out_pos = np.empty((len(launches), 3))
    out_vel = np.empty((len(launches), 3))
    for k, (delay, r_geo, v_geo) in enumerate(launches):
        # the AMUSE world: no relativity, planets free (as in the AMUSE code)
        sim = make_simulation(0.0, massive_pos, massive_vel, no_particles, no_particles, gr=False)
        sim.integrate(delay, exact_finish_time=1)
        earth = sim.particles[EARTH_INDEX]
        sim.add(
            m=0.0,
            x=earth.x + r_geo[0],
            y=earth.y + r_geo[1],
            z=earth.z + r_geo[2],
            vx=earth.vx + v_geo[0],
            vy=earth.vy + v_geo[1],
            vz=earth.vz + v_geo[2],
        )
        sim.integrate(duration, exact_finish_time=1)
        p, sun = sim.particles[len(BODIES)], sim.particles[0]
        out_pos[k] = np.array(p.xyz) - np.array(sun.xyz)
        out_vel[k] = np.array(p.vxyz) - np.array(sun.vxyz)
    return out_pos, out_vel


# --- planets past the ephemeris -----------------------------------------------------------

#: Target spacing (days) of the samples of a :class:`PlanetTrack`, rounded to a whole
#: number of hand-over intervals: ~1 yr keeps the two-body Earth of
#: :meth:`PlanetTrack.earth` within ~1e-3 rad (tested).
TRACK_SAMPLE_DAYS = 360.0


def _track_sample_intervals(handover_days: float) -> int:
    return max(1, round(TRACK_SAMPLE_DAYS / handover_days))


@dataclass(frozen=True)
class PlanetTrack:
    """The AMUSE code's own free planets, from the epoch forward, sampled every few hand-overs.

    Used when the impact window reaches past astropy's built-in ephemeris (AD 3000):
    the backward impactor runs then start from the end of this forward run (so that,
    run backward, the planets return to the epoch's ephemeris state), and the
    impactor draws take Earth's state from it. ``pos``/``vel``: heliocentric states
    of :data:`BODIES` (au, au/day), shape (n_samples, len(BODIES), 3), at
    ``t0 + k * sample_days``; ``end_pos``/``end_vel``: the state at the start of the
    backward runs (shape (len(BODIES), 3)).
    """

    t0: float
    sample_days: float
    pos: np.ndarray
    vel: np.ndarray
    end_pos: np.ndarray
    end_vel: np.ndarray

    def earth(self, jd_tdb: float) -> tuple[np.ndarray, np.ndarray]:
        """Earth's approximate heliocentric state (au, au/day) at ``jd_tdb``.

        The Earth-Moon barycentre of the nearest sample propagated on a two-body
        orbit (≤ half a sample, ~0.5 yr: errors ~1e-3 rad, enough for the encounter
        frame and the bound-orbit check; the launches themselves start from the code's
        Earth), plus the sample's Earth-barycentre offset.
        """
        k = int(np.clip(round((jd_tdb - self.t0) / self.sample_days), 0, len(self.pos) - 1))
        m_e, m_m = GM_AU3_D2["earth"], GM_AU3_D2["moon"]
        e_i, m_i = EARTH_INDEX, BODIES.index("moon")
        emb_r = (m_e * self.pos[k, e_i] + m_m * self.pos[k, m_i]) / (m_e + m_m)
        emb_v = (m_e * self.vel[k, e_i] + m_m * self.vel[k, m_i]) / (m_e + m_m)
        mu = GM_SUN + m_e + m_m
        el = state_to_elements(emb_r, emb_v, mu)
        n_deg_day = math.degrees(math.sqrt(mu / el["a_au"][0] ** 3))
        dt = jd_tdb - (self.t0 + k * self.sample_days)
        r, v = elements_to_state(
            el["a_au"],
            el["e"],
            el["i_deg"],
            el["om_deg"],
            el["w_deg"],
            el["ma_deg"] + n_deg_day * dt,
            mu,
        )
        return r[0] + self.pos[k, e_i] - emb_r, v[0] + self.vel[k, e_i] - emb_v


def needs_planet_track(config: dict[str, Any]) -> bool:
    """True when the backward runs start past the end of astropy's built-in ephemeris."""
    t_start, handover, _, _ = _grid(config)
    return t_start + handover > EPHEMERIS_END_JD


def _impactor_step(config: dict[str, Any]) -> float:
    handover = float(config["simulation"]["handover_days"])
    return handover / max(
        1, round(handover / float(config["simulation"]["impactor"]["timestep_days"]))
    )


def planet_track(config: dict[str, Any]) -> PlanetTrack | None:
    """Integrate the massive bodies forward from the epoch to the start of the backward runs.

    ``None`` when the ephemeris covers the window (the backward runs then start from
    the ephemeris). Free N-body with the impactor runs' code and step; the same in
    every shard.
    """
    if not needs_planet_track(config):
        return None
    _, handover, n_int, _ = _grid(config)
    every = _track_sample_intervals(handover)
    epoch = float(config["epoch_jd_tdb"])
    pos0, vel0 = barycentric_states(epoch)
    pos, vel = [pos0 - pos0[0]], [vel0 - vel0[0]]
    log.info("planets: free run over %.0f yr (past the ephemeris)", n_int * handover / YEAR_D)
    with GravityCode(config["simulation"]["code"], _impactor_step(config)) as code:
        code.set_massive_bodies(pos[0], vel[0])
        for j in range(every, n_int + 1, every):
            code.evolve(j * handover)
            p, v = code.massive_state()
            pos.append(p)
            vel.append(v)
        if n_int % every:
            code.evolve(n_int * handover)
            end = code.massive_state()
        else:
            end = (pos[-1], vel[-1])
    return PlanetTrack(epoch, every * handover, np.array(pos), np.array(vel), end[0], end[1])


# --- populations --------------------------------------------------------------------------


def _grid(config: dict[str, Any]) -> tuple[float, float, int, float]:
    """(t_start JD, hand-over interval days, number of intervals, timestep days)."""
    sim = config["simulation"]
    handover = float(sim["handover_days"])
    n_sub = max(1, round(handover / sim["timestep_days"]))
    step = handover / n_sub
    n_int = math.ceil(sim["impactor"]["window_end_years"] * YEAR_D / handover - 1e-9)
    t_start = float(config["epoch_jd_tdb"]) + n_int * handover
    return t_start, handover, n_int, step


def integrate_impactors(
    config: dict[str, Any], launches: list[ImpactLaunch], track: PlanetTrack | None = None
) -> dict[str, np.ndarray]:
    """Integrate ``launches`` backward to the epoch; heliocentric state at the epoch.

    The planets start from ``track``'s end state if given (windows past the
    ephemeris, :func:`planet_track`), else from the ephemeris.

    Returns ``pos`` (N, 3) au, ``vel`` (N, 3) au/day (real-time direction) and
    ``present`` (N,) bool (False where the code removed the particle).
    """
    sim_cfg = config["simulation"]
    t_start, handover, n_int, _ = _grid(config)
    # Impactors get their own (shorter) step: their eccentric orbits have fast perihelion
    # passages, and the launch phase, not Mercury, dominates their cost.
    step = _impactor_step(config)
    min_launch = float(sim_cfg["launch_min_days"])
    # Reversed time: τ = t_start - t; flip velocities.
    tau_imp = np.array([t_start - L.impact_jd_tdb for L in launches])
    launch_grid = np.floor(tau_imp / handover).astype(int)
    # Hand over at the first grid time at least launch_min_days after the launch, so that
    # the particle has left Earth's Hill sphere (capped at the epoch).
    hand_grid = np.minimum(np.ceil((tau_imp + min_launch) / handover).astype(int), n_int)
    if track is None:
        pos0, vel0 = barycentric_states(t_start)
        pos0, vel0 = pos0 - pos0[0], vel0 - vel0[0]
    else:
        pos0, vel0 = track.end_pos, track.end_vel
    pending: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    # Launch k goes to code instance k mod n_codes; all instances step through the same
    # grid from the same planets (see PARTICLES_PER_CODE).
    n_codes = max(1, math.ceil(len(launches) / PARTICLES_PER_CODE))
    code_of = np.arange(len(launches)) % n_codes
    handles: list[tuple[np.ndarray, int, np.ndarray]] = []
    with contextlib.ExitStack() as stack:
        codes = [stack.enter_context(GravityCode(sim_cfg["code"], step)) for _ in range(n_codes)]
        for code in codes:
            code.set_massive_bodies(pos0, -vel0)
        for j in range(n_int):
            members = np.flatnonzero(launch_grid == j)
            if len(members):
                mpos, mvel = codes[0].massive_state()
                for h in np.unique(hand_grid[members]):
                    group = members[hand_grid[members] == h]
                    jobs = [
                        (tau_imp[m] - j * handover, launches[m].position, -launches[m].velocity)
                        for m in group
                    ]
                    ppos, pvel = _launch_phase(mpos, mvel, jobs, (h - j) * handover)
                    pending.setdefault(int(h), []).append((group, ppos, pvel))
            for code in codes:
                code.evolve((j + 1) * handover)
            for group, ppos, pvel in pending.pop(j + 1, []):
                for c in np.unique(code_of[group]):
                    mine = code_of[group] == c
                    keys = codes[c].add_particles(ppos[mine], pvel[mine])
                    handles.append((group[mine], int(c), keys))
            if (j + 1) % max(1, n_int // 10) == 0:
                log.info(
                    "impactors: reversed time %.1f / %.1f yr",
                    (j + 1) * handover / YEAR_D,
                    n_int * handover / YEAR_D,
                )
        if pending:
            raise SimulationError(f"internal error: launches left for grid {sorted(pending)}")
        pos = np.full((len(launches), 3), np.nan)
        vel = np.full((len(launches), 3), np.nan)
        present = np.zeros(len(launches), bool)
        for members, c, keys in handles:
            p, v, ok = codes[c].particle_state(keys)
            # A collision in reversed time is an earlier impact in real time: such an
            # object never reaches its drawn impact, so it is redrawn like a removed one.
            t_hit, _ = codes[c].collisions(keys)
            pos[members], vel[members], present[members] = p, -v, ok & np.isnan(t_hit)
    return {"pos": pos, "vel": vel, "present": present}


def simulate_impactors(config: dict[str, Any], indices: np.ndarray) -> pd.DataFrame:
    """Impactor rows for object ``indices`` (see module docstring)."""
    epoch = float(config["epoch_jd_tdb"])
    track = planet_track(config)
    launches = _draw_impacts(config, indices, track)
    rows: dict[int, dict[str, Any]] = {}
    todo = list(launches)
    for round_ in range(MAX_REDRAW_ROUNDS + 1):
        if not todo:
            break
        result = integrate_impactors(config, todo, track)
        el = state_to_elements(
            np.nan_to_num(result["pos"], nan=1.0), np.nan_to_num(result["vel"], nan=0.01)
        )
        redo = []
        for k, launch in enumerate(todo):
            if not result["present"][k] or not (0 <= el["e"][k] < 1):
                redo.append(launch)
                continue
            rows[launch.index] = _row(
                "impactor",
                launch.index,
                epoch,
                result["pos"][k],
                result["vel"][k],
                el,
                k,
                launch.h_mag,
                launch.impact_jd_tdb,
                launch.speed_kms,
            )
        if redo:
            log.warning(
                "impactors: %d removed or unbound, redrawing (round %d)", len(redo), round_ + 1
            )
            todo = [_redraw_impact(config, L, round_ + 1, track) for L in redo]
        else:
            todo = []
    if todo:
        raise SimulationError(f"impactors {[L.index for L in todo]}: still invalid after redraws")
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=OUTPUT_COLUMNS)


def _draw_impacts(
    config: dict[str, Any], indices: np.ndarray, track: PlanetTrack | None = None
) -> list[ImpactLaunch]:
    sim = config["simulation"]["impactor"]
    rngs = [rng_for(config["seed"], "simulate-impactor", int(i)) for i in indices]
    epoch = float(config["epoch_jd_tdb"])
    # Earth's states at all impact epochs in one vectorised ephemeris call (the
    # first draw of each object's stream is its epoch, as in draw_impact).
    t_imp = np.array(
        [
            epoch + r.uniform(sim["window_start_years"], sim["window_end_years"]) * YEAR_D
            for r in rngs
        ]
    )
    if len(t_imp) == 0:
        return []
    if track is not None:
        return [
            draw_impact(config, int(i), track.earth(t)) for i, t in zip(indices, t_imp, strict=True)
        ]
    pos, vel = barycentric_states(t_imp)
    return [
        draw_impact(
            config, int(i), (pos[k, EARTH_INDEX] - pos[k, 0], vel[k, EARTH_INDEX] - vel[k, 0])
        )
        for k, i in enumerate(indices)
    ]


def _redraw_impact(
    config: dict[str, Any], launch: ImpactLaunch, attempt: int, track: PlanetTrack | None = None
) -> ImpactLaunch:
    """A new launch for the same object and epoch, from the (seed, object, attempt) stream."""
    cfg = dict(config)
    cfg["seed"] = int(
        rng_for(config["seed"], "simulate-impactor-redraw", launch.index, attempt).integers(2**32)
    )
    new = draw_impact(cfg, launch.index, track=track)
    return ImpactLaunch(
        launch.index, new.impact_jd_tdb, new.position, new.velocity, new.speed_kms, launch.h_mag
    )


def _row(
    population: str,
    index: int,
    epoch: float,
    pos: np.ndarray,
    vel: np.ndarray,
    el: dict[str, np.ndarray],
    k: int,
    h_mag: float,
    impact_jd: float,
    impact_speed: float,
) -> dict[str, Any]:
    return {
        "object_id": object_id(population, index),
        "object_index": index,
        "population": population,
        "epoch_jd_tdb": epoch,
        "a_au": float(el["a_au"][k]),
        "e": float(el["e"][k]),
        "i_deg": float(el["i_deg"][k]),
        "om_deg": float(el["om_deg"][k]),
        "w_deg": float(el["w_deg"][k]),
        "ma_deg": float(el["ma_deg"][k]),
        **{c: float(x) for c, x in zip(STATE_COLUMNS, [*pos, *vel], strict=True)},
        "H_mag": h_mag,
        "impact_jd_tdb": impact_jd,
        "impact_speed_kms": impact_speed,
    }


def _forward_from_epoch(
    config: dict[str, Any], pos: np.ndarray, vel: np.ndarray, days: float, step: float
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Particles (heliocentric states at the epoch) and the planets from the ephemeris,
    integrated forward by the configured code for ``days`` in one evolve call (per code
    instance of at most :data:`PARTICLES_PER_CODE` particles).

    Returns the mask of particles still in the code, and each one's first collision
    (days since the epoch, NaN if none) and the body it hit.
    """
    p0, v0 = barycentric_states(float(config["epoch_jd_tdb"]))
    present = np.zeros(len(pos), bool)
    t_hit = np.full(len(pos), np.nan)
    bodies: list[str | None] = [None] * len(pos)
    for first in range(0, len(pos), PARTICLES_PER_CODE):
        part = slice(first, first + PARTICLES_PER_CODE)
        with GravityCode(config["simulation"]["code"], step) as code:
            code.set_massive_bodies(p0 - p0[0], v0 - v0[0])
            keys = code.add_particles(pos[part], vel[part])
            # One long call: every evolve_model call restarts Mercury's integrator.
            code.evolve(days)
            _, _, present[part] = code.particle_state(keys)
            t_hit[part], bodies[part] = code.collisions(keys)
    return present, t_hit, bodies


def integrate_forward(
    config: dict[str, Any], pos: np.ndarray, vel: np.ndarray, duration_days: float
) -> np.ndarray:
    """Integrate particles forward from the epoch for ``duration_days``; mask of survivors
    (particles that hit no massive body, see :meth:`GravityCode.collisions`)."""
    _, handover, _, step = _grid(config)
    n_int = max(1, math.ceil(duration_days / handover - 1e-9))
    # The end is a whole number of steps (the hand-over grid).
    present, t_hit, bodies = _forward_from_epoch(config, pos, vel, n_int * handover, step)
    for k in np.flatnonzero(~np.isnan(t_hit)):
        log.info("particle %d hits %s at t = %.2f d", k, bodies[k], t_hit[k])
    return present & np.isnan(t_hit)


def forward_collisions(
    config: dict[str, Any], table: pd.DataFrame, timestep_days: float, until_jd_tdb: float
) -> tuple[np.ndarray, list[str | None]]:
    """Integrate the objects of a simulation ``table`` (state at its epoch) forward with
    the configured AMUSE code at ``timestep_days`` until ``until_jd_tdb`` (rounded up to a
    whole number of steps); returns each object's first collision epoch (JD TDB, NaN if
    none) and the body it hit.

    Run on known impactors it checks the encounter handling: they should come back to
    Earth at their impact epochs (the benchmark's step sweep and the tests use it).
    """
    epoch = float(config["epoch_jd_tdb"])
    days = math.ceil((until_jd_tdb - epoch) / timestep_days - 1e-9) * timestep_days
    _, t_hit, bodies = _forward_from_epoch(
        config,
        table[STATE_COLUMNS[:3]].to_numpy(dtype=float),
        table[STATE_COLUMNS[3:]].to_numpy(dtype=float),
        days,
        timestep_days,
    )
    return epoch + t_hit, bodies


def massive_energy_errors(
    code_name: str,
    timestep_days: float,
    epoch_jd_tdb: float,
    years: float = 100.0,
    sample_days: float = 36.5,
) -> np.ndarray:
    """Relative energy error (E(t) - E0) / E0 of the massive bodies in free mode.

    The planets (no asteroids) start from the ephemeris at ``epoch_jd_tdb`` (TDB) and are
    integrated for ``years`` by ``code_name``; the energy is sampled every ``sample_days``
    (rounded to whole steps). A symplectic code's error is a bounded oscillation whose
    size is set by the step (an offset included: its initial conditions are not on the
    integrator's shadow Hamiltonian), plus any secular drift; see :func:`energy_drift`.
    """
    n_sub = max(1, round(sample_days / timestep_days))
    n_samples = math.ceil(years * YEAR_D / (n_sub * timestep_days))
    pos, vel = barycentric_states(epoch_jd_tdb)
    errors = np.empty(n_samples)
    with GravityCode(code_name, timestep_days) as code:
        code.set_massive_bodies(pos - pos[0], vel - vel[0])
        e0 = code.total_energy()
        for k in range(n_samples):
            code.evolve((k + 1) * n_sub * timestep_days)
            errors[k] = code.total_energy() / e0 - 1.0
    return errors


def energy_drift(errors: np.ndarray, window_fraction: float = 0.1) -> float:
    """Secular energy change: mean error over the last ``window_fraction`` of the samples
    minus the mean over the first (the means average the step's oscillation out)."""
    n = max(1, round(len(errors) * window_fraction))
    return float(errors[-n:].mean() - errors[:n].mean())


def simulate_background(config: dict[str, Any], indices: np.ndarray) -> pd.DataFrame:
    """Background rows for object ``indices``: parametric NEOs that survive the window."""
    epoch = float(config["epoch_jd_tdb"])
    window = config["simulation"]["impactor"]["window_end_years"] * YEAR_D
    attempt = dict.fromkeys(map(int, indices), 0)
    rows: dict[int, dict[str, Any]] = {}
    todo = [int(i) for i in indices]
    for round_ in range(MAX_REDRAW_ROUNDS + 1):
        if not todo:
            break
        draws = [draw_background_elements(config, i, attempt[i]) for i in todo]
        el = {k: np.array([d[k] for d in draws]) for k in draws[0]}
        pos, vel = elements_to_state(
            el["a_au"], el["e"], el["i_deg"], el["om_deg"], el["w_deg"], el["ma_deg"]
        )
        survived = integrate_forward(config, pos, vel, window)
        redo = []
        for k, i in enumerate(todo):
            if not survived[k]:
                attempt[i] += 1
                redo.append(i)
                continue
            rows[i] = _row(
                "background", i, epoch, pos[k], vel[k], el, k, el["H_mag"][k], np.nan, np.nan
            )
        if redo:
            log.warning(
                "background: %d objects hit a body within the window, redrawing (round %d)",
                len(redo),
                round_ + 1,
            )
        todo = redo
    if todo:
        raise SimulationError(f"background objects {todo}: still removed after redraws")
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=OUTPUT_COLUMNS)


# --- stage entry point ----------------------------------------------------------------------


def check_simulation_config(config: dict[str, Any]) -> None:
    """Cross-key checks of the ``simulation`` section (also run by config validation)."""
    problems = simulation_problems(config)
    if problems:
        raise ValueError("invalid simulation config: " + "; ".join(problems))


def simulate_shard(
    config: dict[str, Any],
    population: str,
    shard: int | str,
    output_path: str | os.PathLike[str],
    catalog_path: str | os.PathLike[str] | None = None,
) -> None:
    """Simulate shard ``shard`` of ``population`` and write its Parquet file atomically.

    ``catalog_path`` (the real NEO catalog) is accepted for the rule interface but
    not used to draw objects: the impactor classifier is later applied to the real
    catalog, so the training populations must not contain its objects.
    """
    from asteroid_ml.config import config_hash
    from asteroid_ml.io import write_parquet

    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    shard = int(shard)
    check_simulation_config(config)
    pcfg = config["simulation"][population]
    indices = shard_indices(int(pcfg["n"]), int(pcfg["shards"]), shard)
    log.info(
        "simulating %s shard %d: objects %d..%d with %s",
        population,
        shard,
        indices[0] if len(indices) else -1,
        indices[-1] if len(indices) else -1,
        config["simulation"]["code"],
    )
    with terminate_on_sigterm():
        if population == "impactor":
            table = simulate_impactors(config, indices)
        else:
            table = simulate_background(config, indices)
    metadata = {
        "units": UNITS,
        "frame": "heliocentric ecliptic J2000 (ICRS rotated by 84381.448 arcsec about x)",
        "population": population,
        "shard": shard,
        "config_hash": config_hash(config, ["seed", "epoch_jd_tdb", "simulation"]),
        "gravity_code": config["simulation"]["code"],
    }
    write_parquet(table, output_path, metadata=metadata)
    log.info("wrote %d %s objects to %s", len(table), population, output_path)


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("simulate", help="simulate one shard of impactors or background")
    p.add_argument("--config", default=None, help="config YAML (default config/config.yaml)")
    p.add_argument("--population", choices=POPULATIONS, required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--output", required=True, help="output Parquet path")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from asteroid_ml.config import DEFAULT_CONFIG_PATH, load_config

    config = load_config(args.config or DEFAULT_CONFIG_PATH)
    simulate_shard(config, args.population, args.shard, Path(args.output))
    return 0
