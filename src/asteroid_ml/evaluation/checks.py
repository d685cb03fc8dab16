"""Cross-key rules of the ``evaluation`` and ``hazard`` config sections (no heavy imports)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def evaluation_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems of the ``evaluation`` section, as dotted-key messages."""
    edges = list(config["evaluation"]["snr_bin_edges"])
    problems = []
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        problems.append(f"evaluation.snr_bin_edges: must increase strictly (got {edges})")
    return problems


def hazard_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems of the ``hazard`` section: the ranking's horizons must fit in the forward
    window (else no start has a label) and its trend in the backward series."""
    hazard = config["hazard"]
    ranking = hazard["ranking"]
    problems = []
    window = float(config["simulation"]["impactor"]["window_end_years"])
    too_long = [h for h in ranking["horizons_years"] if h > window - hazard["sample_years"]]
    if too_long:
        problems.append(
            f"hazard.ranking.horizons_years: {too_long} leave no start with a label: the "
            f"forward run covers {window:g} yr (simulation.impactor.window_end_years) in "
            f"samples of {hazard['sample_years']:g} yr (hazard.sample_years)"
        )
    if ranking["trend_years"] > hazard["series_years"]:
        problems.append(
            f"hazard.ranking.trend_years: {ranking['trend_years']:g} yr of history is more "
            f"than the backward element series covers (hazard.series_years: "
            f"{hazard['series_years']:g})"
        )
    return problems
