"""Cross-key rules of the ``evaluation`` config section (no heavy imports)."""

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
