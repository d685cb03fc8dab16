"""Cross-key rules of the ``simulation`` config section that JSON schema cannot express.

Kept apart from the simulation code (no NumPy, no AMUSE) so that config validation,
which runs before any job, stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def simulation_problems(config: Mapping[str, Any]) -> list[str]:
    """Cross-key problems of the ``simulation`` section (a filled-in config), as dotted-key messages."""
    sim = config["simulation"]
    imp, bkg = sim["impactor"], sim["background"]
    problems = []
    if imp["window_start_years"] >= imp["window_end_years"]:
        problems.append("simulation.impactor.window_start_years must be < window_end_years")
    if bkg["a_min_au"] >= bkg["a_max_au"]:
        problems.append("simulation.background.a_min_au must be < a_max_au")
    if bkg["q_max_au"] <= 0.0 or bkg["a_min_au"] * (1 - 0.95) >= bkg["q_max_au"]:
        problems.append("simulation.background.q_max_au leaves no orbit with e < 0.95")
    if sim["h_min_mag"] >= sim["h_max_mag"]:
        problems.append("simulation.h_min_mag must be < h_max_mag")
    if imp["speed_median_kms"] >= imp["speed_max_kms"]:
        problems.append("simulation.impactor.speed_median_kms must be < speed_max_kms")
    for population in ("impactor", "background"):
        section = sim[population]
        if section["shards"] > section["n"]:
            problems.append(
                f"simulation.{population}.shards: {section['shards']} shards for "
                f"simulation.{population}.n = {section['n']} objects would leave shards empty"
            )
    return problems


def observation_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems of ``observations.site``: a 'lon,lat,height' triple in range, or a site name
    that astropy's registry already holds on this machine (validation never downloads it)."""
    site = config["observations"]["site"]
    if site is None:
        return []
    parts = str(site).split(",")
    if len(parts) == 3:
        try:
            lon, lat, height = (float(p) for p in parts)
        except ValueError:
            return [f"observations.site: cannot read {site!r} as lon_deg,lat_deg,height_m"]
        if not -90.0 <= lat <= 90.0:
            return [f"observations.site: latitude {lat:g} deg is outside [-90, 90] ({site!r})"]
        if not (-360.0 <= lon <= 360.0 and -500.0 <= height <= 1.0e4):
            return [f"observations.site: longitude or height out of range in {site!r}"]
        return []
    if not _site_registry_cached():
        return [
            f"observations.site: site name {site!r} needs astropy's site registry, which is "
            "not cached on this machine (and is not downloaded); give 'lon_deg,lat_deg,height_m'"
        ]
    from astropy.coordinates import EarthLocation

    if site not in EarthLocation.get_site_names():
        return [f"observations.site: unknown site {site!r}; give 'lon_deg,lat_deg,height_m'"]
    return []


def _site_registry_cached() -> bool:
    """Whether astropy's site registry (sites.json of astropy-data) is in the local cache."""
    from astropy.utils.data import conf, is_url_in_cache

    url = conf.dataurl + "coordinates/sites.json"
    return bool(is_url_in_cache(url))
