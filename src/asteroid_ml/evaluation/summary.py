"""``results/summary.md``: every headline number of the run with its interval (rule ``summary``).

Generated from the tables the run wrote (``metrics.json``, ``summary.csv`` and the stage
summaries), never typed: each table says whether its numbers come from real data or from the
simulation, where its interval comes from, and the command that remakes it. A number the run
gives no interval for is shown with "-" in the interval column, not left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from asteroid_ml.evaluation.metrics import wilson_interval
from asteroid_ml.io import atomic_output

#: The tables the summary reads (rule input names) and the file each is, as the rules write it.
SOURCES = {
    "cad_summary": "results/validation/cad_summary.json",
    "cad_uncertainty": "results/validation/cad_uncertainty.csv",
    "eval_summary": "results/eval/summary.csv",
    "hazard_ranking": "results/eval/hazard_ranking.csv",
    "real_catalog": "results/eval/real_catalog_summary.csv",
    "real_frames": "results/eval/real_frames_summary.csv",
}


def _num(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, int | bool) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value)}"
    return f"{float(value):.3g}"


def _ci(low: object, high: object) -> str:
    return "-" if _num(low) == "-" or _num(high) == "-" else f"{_num(low)}-{_num(high)}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _section(
    title: str, data: str, note: str, source: str | tuple[str, ...], lines: list[str]
) -> list[str]:
    sources = (source,) if isinstance(source, str) else source
    remake = [f"Remake: `.venv/bin/snakemake --cores all {s}`." for s in sources]
    return [f"## {title}", "", f"*{data}.* {note}", "", *lines, "", *remake, ""]


def _cad(paths: Mapping[str, Path]) -> list[str]:
    summary = json.loads(paths["cad_summary"].read_text())
    n = int(summary["n"])
    k = round(float(summary["fraction_within_1min"]) * n)
    low, high = wilson_interval(k, n)
    rows = [["approaches within 1 min of JPL's time", _num(k / n), _ci(low, high), _num(n)],
            ["median relative distance error", _num(summary["median_rel_dist_err"]), "-", _num(n)],
            ["95th percentile relative distance error", _num(summary["p95_rel_dist_err"]), "-",
             _num(n)]]  # fmt: skip
    lines = _table(["quantity", "value", "95 % interval", "n"], rows)
    if "cad_uncertainty" in paths:
        table = pd.read_csv(paths["cad_uncertainty"])
        ratio = table["range_ratio"].to_numpy(float)
        within = int(((ratio >= 0.5) & (ratio <= 2.0)).sum())
        low, high = wilson_interval(within, len(ratio))
        lines += ["", *_table(
            ["clone 3-sigma range / JPL's", "value", "95 % interval", "n"],
            [["approaches within a factor 2", _num(within / len(ratio)), _ci(low, high),
              _num(len(ratio))], ["median ratio", _num(float(pd.Series(ratio).median())), "-",
              _num(len(ratio))]],
        )]  # fmt: skip
    return _section(
        "Close approaches against JPL",
        "Real data: JPL's close-approach table of 2020",
        "Intervals: Wilson, over approaches (one per object but for a few).",
        tuple(SOURCES[k] for k in ("cad_summary", "cad_uncertainty") if k in paths),
        lines,
    )


def _metrics(paths: Mapping[str, Path], model: str) -> dict:
    for path in paths.get("metrics", []):
        if path.parent.name == model:
            return json.loads(path.read_text())
    return {}


def _models(paths: Mapping[str, Path]) -> list[str]:
    table = pd.read_csv(paths["eval_summary"])
    out = []
    rows = []
    for r in table[table["task"] == "impactor"].itertuples():
        support = int(_metrics(paths, r.model).get("per_class", {}).get("1", {}).get("support", 0))
        low, high = (wilson_interval(round(r.recall_at_threshold * support), support)
                     if support else (None, None))  # fmt: skip
        rows.append([r.model, _num(r.n), _num(support), _num(r.roc_auc),
                     _num(r.recall_at_threshold), _ci(low, high), _num(r.fdr_at_target_recall)])  # fmt: skip
    if rows:
        out += _section(
            "Impactor models on the simulated test split",
            "Simulation",
            "Threshold chosen on the validation split at the target recall; recall interval: "
            "Wilson over the test objects.",
            SOURCES["eval_summary"],
            _table(
                [
                    "model",
                    "n",
                    "positives",
                    "ROC-AUC",
                    "recall at threshold",
                    "95 % interval",
                    "FDR",
                ],
                rows,
            ),  # fmt: skip
        )
    rows = []
    for r in table[table["task"].isin(["detection", "detector"])].itertuples():
        fields = _metrics(paths, r.model).get("field_bootstrap", {})
        recall_ci = fields.get("movers_kept_ci95") or fields.get("recall_ci95") or [None, None]
        rows.append([r.model, _num(r.n), _num(r.roc_auc), _num(r.recall_at_threshold),
                     _ci(*recall_ci), _num(r.fdr_at_target_recall),
                     _ci(*fields.get("fdr_ci95", [None, None])),
                     _num(r.candidate_reduction_at_target_recall),
                     _ci(*fields.get("candidate_reduction_ci95", [None, None])),
                     _num(fields.get("n_fields"))])  # fmt: skip
    if rows:
        out += _section(
            "Detection on the simulated test fields",
            "Simulation (one DSS plate)",
            "`stamp_*`: single cutouts of the dataset; `detector_*`: difference-image "
            "candidates; `detector_sequence`: linked sequences (its recall: movers found). "
            "Operating point chosen on the validation fields at the target recall; FDR and "
            "reduction (candidates in / candidates kept) on the simulated stream's own real "
            "fraction. Intervals: 95 %, bootstrap over whole test fields (`field_bootstrap` "
            "in each model's metrics.json; few fields give a coarse interval).",
            SOURCES["eval_summary"],
            _table(
                [
                    "model",
                    "n",
                    "ROC-AUC",
                    "recall at threshold",
                    "95 % interval",
                    "FDR",
                    "95 % interval",
                    "candidate reduction",
                    "95 % interval",
                    "test fields",
                ],
                rows,
            ),  # fmt: skip
        )
    return out


def _hazard(paths: Mapping[str, Path]) -> list[str]:
    table = pd.read_csv(paths["hazard_ranking"]).dropna(subset=["roc_auc"])
    rows = [[r.model, r.population, _num(r.horizon_years), _num(r.n), _num(r.n_positive),
             _num(r.roc_auc), _ci(r.roc_auc_ci95_low, r.roc_auc_ci95_high),
             _num(r.delta_auc_vs_moid_now), _ci(r.delta_ci95_low, r.delta_ci95_high)]
            for r in table.itertuples()]  # fmt: skip
    return _section(
        "Hazard ranking: first MOID <= the limit within H years",
        "Simulation (population `simulated_test`) and real NEOs (`real_neo`, labels from the "
        "forward runs of their catalog orbits)",
        "Intervals: 95 %, bootstrap over objects; the difference is paired with `moid_now`.",
        SOURCES["hazard_ranking"],
        _table(
            [
                "model",
                "population",
                "H (yr)",
                "n",
                "positives",
                "ROC-AUC",
                "95 % interval",
                "ΔAUC vs MOID now",
                "95 % interval",
            ],
            rows,
        ),  # fmt: skip
    )


def _catalog(paths: Mapping[str, Path]) -> list[str]:
    table = pd.read_csv(paths["real_catalog"])
    rows = [[r.model, r.label, _num(r.n), _num(r.n_positive), _num(r.roc_auc), _num(r.recall),
             _ci(r.recall_ci95_low, r.recall_ci95_high), _num(r.flagged_fraction)]
            for r in table.itertuples()]  # fmt: skip
    return _section(
        "Impactor models on the real NEO catalog",
        "Real data: the 2020 NEO catalog",
        "Thresholds from the simulated validation split; recall interval: Wilson over objects.",
        SOURCES["real_catalog"],
        _table(
            ["model", "label", "n", "positives", "ROC-AUC", "recall", "95 % interval", "flagged"],
            rows,
        ),  # fmt: skip
    )


def _frames(paths: Mapping[str, Path]) -> list[str]:
    table = pd.read_csv(paths["real_frames"])
    rows = [[r.frames, r.trained_on, _num(r.n_candidates), _num(r.recall_at_threshold),
             _num(r.fdr_at_target_recall), _ci(r.fdr_ci95_low, r.fdr_ci95_high),
             _num(r.false_sequences)] for r in table.itertuples()]  # fmt: skip
    return _section(
        "The triplet CNN on real frames",
        "Real frames with injected fakes",
        "`trained_on`: the saved simulation-trained CNN (threshold from its simulated val "
        "fields) or a CNN trained on the frames' own fakes and bogus. FDR interval: bootstrap "
        "over the frames' test cells (sky cells of the field).",
        SOURCES["real_frames"],
        _table(
            [
                "frames",
                "trained on",
                "candidates",
                "recall at threshold",
                "FDR",
                "95 % interval",
                "false sequences",
            ],
            rows,
        ),  # fmt: skip
    )


#: The sections in order, each with the inputs it needs.
SECTIONS: tuple[tuple[str, Callable[[Mapping[str, Path]], list[str]]], ...] = (
    ("cad_summary", _cad),
    ("eval_summary", _models),
    ("hazard_ranking", _hazard),
    ("real_catalog", _catalog),
    ("real_frames", _frames),
)


def summary_markdown(inputs: Mapping[str, Any]) -> str:
    """The summary page of the tables ``inputs`` (keys of :data:`SOURCES`, and ``metrics``: the
    models' ``metrics.json`` files; absent keys are stages this run's config does not run, and
    their sections are left out)."""
    paths: dict = {key: Path(value) for key, value in inputs.items() if key != "metrics"}
    paths["metrics"] = [Path(p) for p in inputs.get("metrics", [])]
    lines = ["# Headline numbers of this run", "",
             "Generated by rule `summary` from the run's own tables; each section names its "
             "data (real or simulated), its intervals and the command that remakes it.", ""]  # fmt: skip
    for key, section in SECTIONS:
        if key in paths:
            lines += section(paths)
    return "\n".join(lines).rstrip() + "\n"


def write_summary(inputs: Mapping[str, Any], out_md: str | Path) -> None:
    """Write :func:`summary_markdown` to ``out_md`` (atomically)."""
    text = summary_markdown(inputs)
    with atomic_output(out_md) as tmp:
        Path(tmp).write_text(text)
