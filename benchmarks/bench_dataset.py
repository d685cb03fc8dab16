"""Throughput of dataset assembly (injections per second) vs the cutout stage.

Runs, in one process on the shipped DSS2 survey: the cutout plan for a
synthetic population, the cutout extraction (``asteroid_ml.hips.extract_cutouts``,
what rule ``cutouts`` does) and the dataset assembly (rule ``assemble_dataset``).
Prints samples per second for both stages and their ratio (> 1: assembly is faster).

    .venv/bin/python benchmarks/bench_dataset.py [--objects 1000] [--obs 2] [--size 32]
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from asteroid_ml.config import load_config
from asteroid_ml.dataset import synthetic as syn
from asteroid_ml.dataset.assemble import assemble_dataset
from asteroid_ml.hips import extract_cutouts, open_survey
from asteroid_ml.hips.targets import plan_cutout_targets

REPO = Path(__file__).resolve().parents[1]
SURVEY = REPO / "resources" / "hips" / "DSS2Red"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000, help="simulated objects")
    parser.add_argument("--obs", type=int, default=2, help="observations per object")
    parser.add_argument("--size", type=int, default=32, choices=(32, 64, 128))
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best kept)")
    parser.add_argument("--workers", type=int, default=1, help="assembly worker processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = copy.deepcopy(load_config(REPO / "config" / "config.yaml"))
    config["survey"].update(location=str(SURVEY), cutout_size=args.size, shards=1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n_imp = args.objects // 3
        sim, eph = syn.fake_population(n_imp, args.objects - n_imp, n_obs=args.obs, seed=1)
        shards = {"impactor": 1, "background": 1}
        sim_paths = syn.write_population_shards(sim, work / "sim", shards)
        eph_paths = syn.write_population_shards(eph, work / "eph", shards)
        targets_path = work / "targets.parquet"
        plan_cutout_targets(config, eph_paths, targets_path, str(SURVEY))
        targets = pd.read_parquet(targets_path)
        survey = open_survey(str(SURVEY))
        n = len(targets)

        # Cutout stage, core: extraction of every planned cutout (tiles cached after the 1st).
        cut_times, cut_cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            extract_cutouts(survey, targets["ra_deg"].to_numpy(), targets["dec_deg"].to_numpy(),
                            args.size)  # fmt: skip
            cut_times.append(time.perf_counter() - t0)
            cut_cpu.append(time.process_time() - c0)
        # Cutout stage, whole rule function (opens the survey, reads tiles, writes npy + Parquet).
        rule_times = []
        for r in range(args.repeat):
            t0 = time.perf_counter()
            npys, manifests = syn.write_cutout_shards(
                config, targets_path, str(SURVEY), work / f"cutouts-{r}"
            )
            rule_times.append(time.perf_counter() - t0)

        # Dataset stage: full assembly (reading, injection, writing, checksums).
        inject_rates, totals, total_cpu = [], [], []
        for r in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            card = assemble_dataset(config, targets_path, npys, manifests, eph_paths, sim_paths,
                                    work / f"dataset-{r}", workers=args.workers)  # fmt: skip
            totals.append(time.perf_counter() - t0)
            total_cpu.append(time.process_time() - c0)
            inject_rates.append(card["timing"]["samples_per_s"])

    cut_rate = n / min(cut_times)
    inject_rate = max(inject_rates)
    total_rate = n / min(totals)
    print(f"samples: {n} cutouts of {args.size}x{args.size} px "
          f"({(targets['kind'] == 'positive').sum()} injections + negatives)")  # fmt: skip
    rule_rate = n / min(rule_times)
    print(f"cutout stage  (hips.extract_cutouts):   {cut_rate:10.0f} cutouts/s")
    print(f"cutout stage  (whole hips.extract_shard): {rule_rate:8.0f} cutouts/s")
    print(f"dataset stage (injection loop):         {inject_rate:10.0f} samples/s")
    print(f"dataset stage (whole assemble_dataset): {total_rate:10.0f} samples/s")
    print(f"ratio injection / cutouts: {inject_rate / cut_rate:.2f}; "
          f"whole assembly / cutouts: {total_rate / cut_rate:.2f}")  # fmt: skip
    print(f"whole rules: assembly / cutouts = {total_rate / rule_rate:.2f}")
    # CPU time is less sensitive to other processes on a shared machine than wall time.
    cut_cpu_rate, total_cpu_rate = n / min(cut_cpu), n / min(total_cpu)
    print(f"per CPU second: cutouts {cut_cpu_rate:.0f}/s, whole assembly {total_cpu_rate:.0f}/s, "
          f"ratio {total_cpu_rate / cut_cpu_rate:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
