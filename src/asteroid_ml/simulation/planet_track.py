"""The AMUSE code's own planets sampled along a free run (:class:`PlanetTrack`).

Shared by the impactor draws (:mod:`.draws`, Earth's state at the impact epoch) and the
backward runs (:mod:`.handover`, which integrates the track: :func:`.handover.planet_track`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asteroid_ml.simulation.solar_system import (
    BODIES,
    EARTH_INDEX,
    GM_AU3_D2,
    GM_SUN,
    elements_to_state,
    state_to_elements,
)

#: Target spacing (days) of the samples of a :class:`PlanetTrack`, rounded to a whole
#: number of hand-over intervals: ~1 yr keeps the two-body Earth of
#: :meth:`PlanetTrack.earth` within ~1e-3 rad (tested).
TRACK_SAMPLE_DAYS = 360.0


def track_sample_intervals(handover_days: float) -> int:
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
