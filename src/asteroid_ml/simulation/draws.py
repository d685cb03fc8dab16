"""Random draws of the populations: impact epochs and launches, background orbits, H.

Impactors (Hefele et al. 2020, A&A 634, A45): every impactor gets an impact epoch
drawn uniformly from a window after the observation epoch and a launch from Earth's
surface: by default (``launch_model: flux``) that of an Earth-hitting member of the
background model, drawn with probability proportional to its Öpik impact rate
(:mod:`asteroid_ml.simulation.impact_flux`); or (``isotropic``) a random surface point,
a truncated log-normal speed and impact angles distributed as sin 2θ (Shoemaker's
isotropic-flux law).

Background: a documented parametric NEO model drawn at the observation epoch
(:func:`draw_background_elements`).

Every object's random stream is keyed by (seed, population, object index) only, so the
draws do not depend on the shard split. Units: au, au/day, km/s where named, JD TDB.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from asteroid_ml.seeds import rng_for, stage_key
from asteroid_ml.simulation.gravity_code import SimulationError
from asteroid_ml.simulation.impact_flux import (
    V_EARTH_CIRC_KMS,
    encounter_frame,
    opik_encounter_velocity,
    opik_impact_rate,
    surface_crossing,
)
from asteroid_ml.simulation.solar_system import (
    EARTH_INDEX,
    EARTH_RADIUS_AU,
    GM_AU3_D2,
    GM_SUN,
    KMS_TO_AUD,
    YEAR_D,
    barycentric_states,
)

if TYPE_CHECKING:
    from asteroid_ml.simulation.planet_track import PlanetTrack


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
    impact rate (:mod:`asteroid_ml.simulation.impact_flux`); the crossing (inbound/outbound,
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
