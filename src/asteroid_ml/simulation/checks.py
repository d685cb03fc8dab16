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
    return problems
