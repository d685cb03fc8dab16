"""Benchmark: what the hazard ranking saves. Forward-run cost per object beside the ranker's.

    .venv/bin/python benchmarks/bench_hazard_ranking.py [--n 200] [--model PATH]

Objects: the first ``--n`` real NEOs of ``resources/neo/neos-2020.csv`` whose Earth MOID is
above 0.05 au at the epoch (their elements moved to the epoch first, not timed).

Timed in the same run, on one core, with the default config's population engine
(``simulation.code``, ``simulation.timestep_days``):

* the forward run that answers the question by integration: ``forward_run`` over
  500 yr (the longest ranking horizon) and over the default window (2,000 yr);
* the precise propagator (REBOUND IAS15, planets on the ephemeris), what a hazard
  assessment would trust: ``propagate_states`` of the first ``--n-precise`` objects over
  25 yr, scaled linearly to 500 yr;
* the ranker with history (``ranking_gbt``): a backward run over
  ``hazard.ranking.trend_years`` (its MOID history), the features and the prediction;
* the ranker on the elements alone (``ranking_gbt_elements``): features and prediction,
  no integration.

The model file is the one the workflow writes (``results/models/hazard_ranking/
model.joblib``; run ``make run`` first). Prints one Markdown table with seconds per
object and each ratio to the 500-yr forward run.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "resources" / "neo" / "neos-2020.csv"


def main() -> None:
    import joblib
    import pandas as pd

    from asteroid_ml.config import load_config
    from asteroid_ml.evaluation import ranking
    from asteroid_ml.simulation.close_approach import load_catalog
    from asteroid_ml.simulation.forward import (
        catalog_states_at_epoch,
        element_series,
        forward_run,
        sample_times,
        series_times,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="objects (default: %(default)s)")
    parser.add_argument("--n-precise", type=int, default=20, help="objects for IAS15")
    parser.add_argument(
        "--model", default=str(REPO / "results" / "models" / "hazard_ranking" / "model.joblib")
    )
    args = parser.parse_args()

    config = load_config(REPO / "config" / "config.yaml")
    saved = joblib.load(args.model)
    catalog = load_catalog(CATALOG)
    moid = pd.read_csv(CATALOG, usecols=["moid"])["moid"].to_numpy()
    part = catalog[moid > config["hazard"]["moid_au"]].head(args.n).reset_index(drop=True)
    pos, vel = catalog_states_at_epoch(part, float(config["epoch_jd_tdb"]))
    n = len(part)

    def timed(fn):
        start = time.perf_counter()
        out = fn()
        return (time.perf_counter() - start) / n, out

    rows = []
    for years in (500.0, float(config["simulation"]["impactor"]["window_end_years"])):
        cfg = copy.deepcopy(config)
        cfg["simulation"]["impactor"]["window_end_years"] = years
        per, _ = timed(lambda cfg=cfg: forward_run(cfg, pos, vel))
        rows.append((f"forward run, {years:.0f} yr ({cfg['simulation']['code']})", per))

    from asteroid_ml.simulation.close_approach import propagate_states

    k = min(args.n_precise, n)
    epoch = float(config["epoch_jd_tdb"])
    start = time.perf_counter()
    propagate_states(pos[:k], vel[:k], epoch, epoch + 25 * ranking.YEAR_D)
    per = (time.perf_counter() - start) / k * 500 / 25
    rows.append(("precise propagator (IAS15), 500 yr (from 25 yr)", per))

    trend = float(config["hazard"]["ranking"]["trend_years"])
    sample_days = float(sample_times(config)[0])
    lags = int(saved["lags"])
    history_cfg = copy.deepcopy(config)
    history_cfg["hazard"]["series_years"] = lags * sample_days / ranking.YEAR_D + 0.01
    history_cfg["hazard"]["series_samples"] = lags + 1
    horizon = max(saved["models"])

    def with_history():
        series = element_series(history_cfg, pos, vel)
        lag_days = np.arange(lags + 1) * sample_days
        history = ranking.series_history(series, series_times(history_cfg), lag_days)
        features = ranking.start_features(history, lag_days / ranking.YEAR_D)
        model = saved["models"][horizon][ranking.LEARNED]
        return model.predict_proba(features[list(ranking.FEATURES)].to_numpy())[:, 1]

    def elements_only():
        history = np.repeat(series_now(pos, vel)[:, None], lags + 1, axis=1)
        features = ranking.start_features(
            history, np.arange(lags + 1) * sample_days / ranking.YEAR_D
        )
        model = saved["models"][horizon][ranking.LEARNED_ELEMENTS]
        return model.predict_proba(features[list(ranking.ELEMENT_FEATURES)].to_numpy())[:, 1]

    def series_now(p, v):
        from asteroid_ml.simulation.forward import _elements_and_moid

        return _elements_and_moid(p, v)

    rows.append((f"{ranking.LEARNED}: {trend:.0f}-yr backward run + features + prediction",
                 timed(with_history)[0]))  # fmt: skip
    rows.append((f"{ranking.LEARNED_ELEMENTS}: features + prediction", timed(elements_only)[0]))
    reference = rows[0][1]
    print(f"{n} real NEOs with MOID > {config['hazard']['moid_au']} au, one thread\n")
    print("| step | s per object | forward run (500 yr) / step |")
    print("|---|---|---|")
    for name, per in rows:
        print(f"| {name} | {per:.3g} | {reference / per:.3g} |")


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one thread for the forest and NumPy, as for the integrators
        main()
