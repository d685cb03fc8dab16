"""The ``asteroid-ml`` command line: every stage's sub-commands, wired in one place.

Each sub-command has an ``_add_<command>`` function (its arguments) and a
``_run_<command>`` function that loads the config and calls the stage function the
Snakemake rule calls, with the same arguments, so that any rule can be rerun by
hand. Heavy imports (AMUSE, torch, matplotlib) stay inside the ``_run_`` functions
so that ``asteroid-ml --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asteroid_ml import __version__
from asteroid_ml.config import DEFAULT_CONFIG_PATH
from asteroid_ml.frames.commands import add_find_movers, add_real_frames
from asteroid_ml.registry import MODELS, TASKS, evaluated_models, model_names

# --- configuration ---------------------------------------------------------------------


def _run_validate_config(args: argparse.Namespace) -> int:
    from asteroid_ml.config import config_layers, key_sources, overlay, validate_config

    layers = config_layers(args.config or [DEFAULT_CONFIG_PATH], args.replace)
    config = validate_config(overlay(layers), source=layers[-1][0])
    if args.show:
        print(json.dumps(config, indent=2, sort_keys=True))
    elif args.sources:
        for key, source in sorted(key_sources(layers, config).items()):
            print(f"{key}\t{source}")
    else:
        print(f"{' over '.join(name for name, _ in reversed(layers))}: valid")
    return 0


def _add_validate_config(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate-config",
        help="validate config files as the workflow reads them (laid over config/config.yaml)",
    )
    p.add_argument("config", nargs="*", help="YAML config files, in --configfile order")
    p.add_argument("--show", action="store_true", help="print the config with defaults filled in")
    p.add_argument(
        "--sources", action="store_true", help="print each key and the file it came from"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="read the files alone, as snakemake --replace-workflow-config (they must be complete)",
    )
    p.set_defaults(func=_run_validate_config)


# --- simulation ------------------------------------------------------------------------


def _add_simulate(subparsers: Any) -> None:
    p = subparsers.add_parser("simulate", help="simulate one shard of impactors or background")
    p.add_argument("--config", default=None, help="config YAML (default config/config.yaml)")
    p.add_argument("--population", choices=("impactor", "background"), required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--output", required=True, help="output Parquet path")
    p.set_defaults(func=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    from asteroid_ml.config import DEFAULT_CONFIG_PATH, load_config
    from asteroid_ml.simulation.populations import simulate_shard

    config = load_config(args.config or DEFAULT_CONFIG_PATH)
    simulate_shard(config, args.population, args.shard, Path(args.output))
    return 0


def _add_ephemerides(subparsers: Any) -> None:
    p = subparsers.add_parser("ephemerides", help="ephemerides of a simulation shard")
    p.add_argument("--config", default=None, help="config YAML (default config/config.yaml)")
    p.add_argument("--sim", required=True, help="simulation shard Parquet")
    p.add_argument("--output", required=True, help="output Parquet path")
    p.set_defaults(func=_run_ephemerides)


def _run_ephemerides(args: argparse.Namespace) -> int:
    from asteroid_ml.config import DEFAULT_CONFIG_PATH, load_config
    from asteroid_ml.simulation.ephemeris import compute_ephemerides

    config = load_config(args.config or DEFAULT_CONFIG_PATH)
    compute_ephemerides(config, args.sim, args.output)
    return 0


def _add_close_approaches(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "close-approaches",
        help="Earth close approaches of objects in a time window",
        description="Precise Earth close approaches (REBOUND IAS15, planets reset to astropy's "
        "built-in ephemeris, Sun's 1PN term). Dates are TDB.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--elements", help="a=..,e=..,i=..,om=..,w=..,ma=.. (au, deg; heliocentric ecliptic J2000)"
    )
    src.add_argument("--catalog", help="SBDB-style CSV with pdes,a,e,i,om,w,ma,epoch")
    p.add_argument("--epoch", type=float, help="epoch of --elements, JD TDB")
    p.add_argument("--des", default="object", help="designation for --elements")
    p.add_argument("--start", required=True, help="window start, ISO date (TDB)")
    p.add_argument("--end", required=True, help="window end, ISO date (TDB)")
    p.add_argument("--max-dist-au", type=float, default=0.05)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--mode", choices=("reset", "free"), default="reset")
    p.add_argument("--output", help="write here instead of stdout")
    p.set_defaults(func=_run_close_approaches)


def _run_close_approaches(args: argparse.Namespace) -> int:
    from asteroid_ml.simulation.close_approach import (
        ELEMENT_KEYS,
        PropagationSettings,
        find_close_approaches,
        load_catalog,
        parse_elements,
        parse_iso_tdb,
    )

    if not (math.isfinite(args.max_dist_au) and args.max_dist_au > 0):
        raise ValueError(f"--max-dist-au must be a positive number of au, got {args.max_dist_au}")
    start = parse_iso_tdb(args.start, "--start")
    end = parse_iso_tdb(args.end, "--end")
    if args.elements is not None:
        if args.epoch is None:
            raise ValueError("--epoch is required with --elements")
        elements: Any = {**parse_elements(args.elements), "epoch": args.epoch, "des": args.des}
    else:
        elements = load_catalog(args.catalog)[["des", *ELEMENT_KEYS, "epoch"]]
    table = find_close_approaches(
        elements, start, end, args.max_dist_au, settings=PropagationSettings(mode=args.mode)
    )
    if args.format == "csv":
        # 15 significant digits: JD to ~1e-8 d, distances to ~1e-15 relative.
        text = table.to_csv(index=False, float_format="%.15g")
    else:
        text = json.dumps(table.to_dict(orient="records"), indent=2) + "\n"
    if args.output:
        from asteroid_ml.io import atomic_output

        with atomic_output(args.output) as tmp:
            Path(tmp).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


# --- cutouts and dataset ---------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run_cutouts(args: argparse.Namespace) -> int:
    """``asteroid-ml cutouts``: extract cutouts around every row of a targets table."""
    import numpy as np

    from asteroid_ml.hips import extract_cutouts, open_survey
    from asteroid_ml.hips.workflow import (
        check_cutout_request,
        manifest_frame,
        read_positions,
        write_cutout_outputs,
    )

    targets = read_positions(args.targets)
    check_cutout_request(len(targets), args.size, args.pixel_scale)
    survey = open_survey(
        args.survey,
        cache_dir=args.cache_dir,
        timeout_s=args.timeout,
        retries=args.retries,
    )
    batch = extract_cutouts(
        survey,
        targets["ra_deg"].to_numpy(),
        targets["dec_deg"].to_numpy(),
        args.size,
        pixel_scale_deg=None if args.pixel_scale is None else args.pixel_scale / 3600.0,
        interpolation=args.interpolation,
        order=args.order,
        workers=args.workers,
    )
    if len(batch) and bool(np.isnan(batch.images).all()):
        raise ValueError(
            f"--survey {args.survey}: no tile covers any of the {len(batch)} targets (every "
            "cutout would be blank): check the survey folder and the targets' RA/Dec"
        )
    output = Path(args.output)
    write_cutout_outputs(
        batch.images,
        manifest_frame(targets["target_id"].to_numpy(), batch),
        output / "cutouts.npy",
        output / "manifest.parquet",
        {
            "stage": "cutouts",
            "survey": survey.location,
            "order": batch.order,
            "pixel_scale_deg": batch.pixel_scale_deg,
            "size": args.size,
            "interpolation": args.interpolation,
        },
    )
    print(
        f"{len(batch)} cutouts of {args.size}x{args.size} px "
        f"({batch.pixel_scale_deg * 3600:.3f} arcsec/px, order {batch.order}) -> "
        f"{output / 'cutouts.npy'}, {output / 'manifest.parquet'}"
    )
    return 0


def _add_cutouts(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "cutouts",
        help="cut square TAN images out of a HiPS survey around RA/Dec positions",
        description=(
            "Extract SIZE x SIZE cutouts (TAN, north up, east left) from a HiPS survey "
            "(local folder, http(s):// or s3:// URL) around each row of a CSV/Parquet table "
            "with columns ra,dec (or ra_deg,dec_deg) in degrees. Writes OUTPUT/cutouts.npy "
            "(float32, NaN = blank) and OUTPUT/manifest.parquet."
        ),
    )
    p.add_argument("--survey", required=True, help="HiPS folder or http(s)/s3 URL")
    p.add_argument("--targets", required=True, help="CSV or Parquet with ra,dec in degrees")
    p.add_argument(
        "--size", type=_positive_int, default=64, help="cutout side in pixels (default 64)"
    )
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument(
        "--pixel-scale",
        type=float,
        default=None,
        help="pixel side in arcsec (default: the survey's native scale)",
    )
    p.add_argument("--interpolation", choices=["nearest", "bilinear"], default="nearest")
    p.add_argument("--order", type=int, default=None, help="tile order (default hips_order)")
    p.add_argument("--cache-dir", default=None, help="tile cache for remote surveys")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP/S3 timeout in seconds")
    p.add_argument("--retries", type=int, default=3, help="retries on 5xx/connection errors")
    p.add_argument(
        "--workers", type=_positive_int, default=1, help="threads extracting in parallel"
    )
    p.set_defaults(func=_run_cutouts)


def _run_plan_targets(args: argparse.Namespace) -> int:
    from asteroid_ml.config import REPO_ROOT, load_config
    from asteroid_ml.hips.targets import plan_cutout_targets

    config = load_config(args.config)
    location = args.survey or config["survey"]["location"]
    if "://" not in location and not Path(location).is_absolute() and not Path(location).exists():
        location = str(REPO_ROOT / location)  # relative config paths are relative to the repository
    plan_cutout_targets(config, args.ephemerides, args.output, location)
    return 0


def _run_dataset(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config
    from asteroid_ml.dataset.assemble import assemble_dataset

    config = load_config(args.config)
    manifests = args.cutout_manifests or [
        str(Path(p).with_suffix(".parquet")) for p in args.cutouts
    ]
    card = assemble_dataset(
        config, args.targets, args.cutouts, manifests, args.ephemerides, args.sims,
        args.output_dir, workers=args.workers,
    )  # fmt: skip
    summary = {split: card["counts"][split]["n"] for split in ("train", "val", "test")}
    print(
        json.dumps({"samples": summary, "samples_per_s": round(card["timing"]["samples_per_s"], 1)})
    )
    return 0


def _add_plan_targets(subparsers: Any) -> None:
    plan = subparsers.add_parser(
        "plan-targets",
        help="plan the sky cutouts (one per simulated observation + negatives)",
        description="Write results/cutouts/targets.parquet: one positive target per (object, "
        "observation) of the ephemerides (the object's own position when the survey covers it, "
        "else a random covered position) plus negatives at random covered positions, grouped "
        "by HiPS tile into survey.shards balanced cutout shards.",
    )
    plan.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="workflow YAML config")
    plan.add_argument(
        "--ephemerides",
        nargs="+",
        required=True,
        metavar="PARQUET",
        help="ephemeris shards (results/ephemerides/{population}/shard-*.parquet)",
    )
    plan.add_argument(
        "--survey",
        default=None,
        metavar="LOCATION",
        help="HiPS survey folder or http(s)/s3 URL (default: survey.location)",
    )
    plan.add_argument(
        "--output",
        default="results/cutouts/targets.parquet",
        metavar="PARQUET",
        help="output plan (default: %(default)s)",
    )
    plan.set_defaults(func=_run_plan_targets)


def _add_dataset(subparsers: Any) -> None:
    ds = subparsers.add_parser(
        "dataset",
        help="assemble the dataset: inject asteroids and artefacts into cutouts, split, store",
        description="Inject the simulated asteroids (trailed PSF, photon noise) and the hard "
        "negatives into the real sky cutouts, split by a hash of the object id, and write "
        "OUTPUT_DIR/{train,val,test}.npy, manifest.parquet, elements.parquet and card.json "
        "(byte-identical for the same config and seed, whatever the shard counts).",
        epilog="Example (what rule assemble_dataset runs): asteroid-ml dataset --config "
        "config/config.yaml --targets results/cutouts/targets.parquet --cutouts "
        "results/cutouts/shard-0000.npy results/cutouts/shard-0001.npy --ephemerides "
        "results/ephemerides/*/shard-*.parquet --sims results/sim/*/shard-*.parquet "
        "--output-dir results/dataset",
    )
    ds.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="workflow YAML config")
    ds.add_argument(
        "--targets",
        required=True,
        metavar="PARQUET",
        help="cutout plan (results/cutouts/targets.parquet)",
    )
    ds.add_argument(
        "--cutouts",
        nargs="+",
        required=True,
        metavar="NPY",
        help="cutout shards in shard order (results/cutouts/shard-K.npy)",
    )
    ds.add_argument(
        "--cutout-manifests",
        nargs="+",
        default=None,
        metavar="PARQUET",
        help="their manifests, same order (default: each NPY with suffix .parquet)",
    )
    ds.add_argument(
        "--ephemerides",
        nargs="+",
        required=True,
        metavar="PARQUET",
        help="ephemeris shards (rate, position angle, V magnitude of each observation)",
    )
    ds.add_argument(
        "--sims",
        nargs="+",
        required=True,
        metavar="PARQUET",
        help="simulation shards (orbital elements for elements.parquet)",
    )
    ds.add_argument(
        "--output-dir",
        default="results/dataset",
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    ds.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes injecting in parallel; the output bytes do not depend on it "
        "(default: %(default)s)",
    )
    ds.set_defaults(func=_run_dataset)


# --- models ----------------------------------------------------------------------------


def _simulated_forward_runs(folder: str) -> tuple[list[Path], list[Path]]:
    """Forward-run tables of the simulated populations under ``folder`` and their element
    series (``{population}/shard-K.parquet`` and ``series-K.npy``, as the rules write them)."""
    tables = sorted(Path(folder).glob("[ib]*/shard-*.parquet"))
    return tables, [
        t.with_name(t.name.replace("shard-", "series-")).with_suffix(".npy") for t in tables
    ]


def _run_train(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config
    from asteroid_ml.models.training import train_detector, train_impactor, train_series

    config = load_config(args.config)
    dataset = Path(args.dataset)
    model_dir = Path(args.out) / args.model
    inputs = MODELS[args.model].inputs
    if inputs == "images":
        train_detector(config, dataset, model_dir, args.threads)
    elif inputs == "elements":
        train_impactor(config, dataset / "elements.parquet", model_dir, args.threads)
    else:
        tables, series = _simulated_forward_runs(args.forward)
        train_series(config, dataset / "elements.parquet", tables, series, model_dir, args.threads)
    return 0


def _add_train(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a Lightning model (detector CNN, impactor MLP, element-series network)",
        description="Train a Lightning model; resumes from <out>/<model>/work/checkpoints/last.ckpt after an interruption.",
    )
    p.add_argument("model", choices=model_names(framework="lightning"))
    p.add_argument(
        "--forward",
        default="results/forward",
        help="forward runs and element series (series model)",
    )
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--dataset", default="results/dataset", help="dataset folder")
    p.add_argument("--out", default="results/models", help="models folder")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.set_defaults(func=_run_train)


def _run_baseline(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config
    from asteroid_ml.models.baselines import train_detector_baseline, train_impactor_baseline

    config = load_config(args.config)
    dataset = Path(args.dataset)
    (name,) = model_names(args.task, "sklearn")
    output = Path(args.out) / name / MODELS[name].filename
    if args.task == "detector":
        train_detector_baseline(config, dataset, output, args.threads)
    else:
        train_impactor_baseline(config, dataset / "elements.parquet", output, args.threads)
    return 0


def _add_baseline(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "baseline", help="fit a scikit-learn random-forest baseline (detector or impactor)"
    )
    p.add_argument("task", choices=TASKS)
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--dataset", default="results/dataset", help="dataset folder")
    p.add_argument("--out", default="results/models", help="models folder")
    p.add_argument("--threads", type=int, default=1, help="parallel jobs of the forest")
    p.set_defaults(func=_run_baseline)


# --- detection -------------------------------------------------------------------------


def _run_detection(args: argparse.Namespace) -> int:
    from asteroid_ml.config import REPO_ROOT, load_config
    from asteroid_ml.detection import workflow as detection

    config = load_config(args.config)
    candidates = Path(args.candidates)
    if args.step == "seeds" and args.seeds < 1:
        raise ValueError(f"--seeds: need at least 1 training, got {args.seeds}")
    if args.step != "candidates":
        import torch

        torch.set_num_threads(max(1, args.threads))
    if args.step == "candidates":
        if not args.ephemerides:
            raise ValueError("--ephemerides: give the ephemeris shards (results/ephemerides/)")
        # detection.survey is relative to the repository, as in the workflow
        detection.make_candidates(
            config, REPO_ROOT / config["detection"]["survey"], args.ephemerides, candidates
        )
    elif args.step == "evaluate":
        from asteroid_ml.registry import model_names

        out = Path(args.out)
        paths = {name: out / name / "metrics.json" for name in model_names("detection")}
        detection.evaluate_detection(
            config, candidates, paths, candidates / "scores.parquet", args.threads,
            models_dir=args.models,
        )  # fmt: skip
    else:
        import numpy as np

        table = detection.cnn_seed_spread(
            config, candidates, args.seeds, args.out_csv, candidates / "work"
        )
        for column in ("fdr_at_target_recall", "candidate_reduction_at_target_recall", "pr_auc"):
            q = np.percentile(table[column], [0, 25, 50, 75, 100])
            print(f"{column}: median {q[2]:.4g}, quartiles {q[1]:.4g}-{q[3]:.4g}, "
                  f"range {q[0]:.4g}-{q[4]:.4g} ({len(table)} trainings)")  # fmt: skip
    return 0


def _add_detection(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "detection",
        help="the detection stage: candidates, their evaluation, or the CNN's seed spread",
        description="candidates: epochs, difference images and sep candidates of the survey "
        "fields; evaluate: the CNN, forest and sequence stage, metrics.json per model; seeds: "
        "retrain the CNN with N seeds on the same candidates and report the spread of its "
        "operating point (FDR, reduction at the target recall).",
    )
    p.add_argument("step", choices=("candidates", "evaluate", "seeds"))
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--candidates", default="results/detection", help="candidates folder")
    p.add_argument("--ephemerides", nargs="*", default=[], help="ephemeris shards (candidates)")
    p.add_argument("--out", default="results/eval", help="metrics folder (evaluate)")
    p.add_argument(
        "--models", default="results/models", help="folder of the saved classifiers (evaluate)"
    )
    p.add_argument("--seeds", type=int, default=5, help="trainings (seeds)")
    p.add_argument(
        "--out-csv", default="results/detection/cnn_seed_spread.csv", help="table (seeds)"
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.set_defaults(func=_run_detection)


# --- evaluation ------------------------------------------------------------------------


def _run_evaluate(args: argparse.Namespace) -> int:
    from asteroid_ml.config import load_config
    from asteroid_ml.evaluation.real_catalog import hoi_real_catalog
    from asteroid_ml.evaluation.scoring import eval_summary, evaluate_model

    config = load_config(args.config)
    models = Path(args.models)
    out = Path(args.out)
    names = args.model or evaluated_models()
    forward, series = _simulated_forward_runs(args.forward)
    for name in names:
        evaluate_model(
            config,
            name,
            models / name / MODELS[name].filename,
            args.dataset,
            out / name / "metrics.json",
            out / name / "predictions.parquet",
            args.threads,
            forward_paths=forward,
            series_paths=series,
        )
    eval_summary([out / n / "metrics.json" for n in names], out / "summary.csv")
    if args.catalog:
        hoi = config["evaluation"]["hoi_model"]
        hoi_real_catalog(
            config,
            models / hoi / MODELS[hoi].filename,
            out / hoi / "metrics.json",
            args.catalog,
            out / "hoi_real_catalog.parquet",
            out / "hoi_real_catalog.json",
            args.threads,
        )
    return 0


def _add_evaluate(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate trained models on the test split (and the real NEO catalog)"
    )
    p.add_argument(
        "--model", action="append", choices=sorted(evaluated_models()), help="model(s); default all"
    )
    p.add_argument("--config", default="config/config.yaml", help="workflow config YAML")
    p.add_argument("--dataset", default="results/dataset", help="dataset folder")
    p.add_argument("--models", default="results/models", help="models folder")
    p.add_argument("--out", default="results/eval", help="evaluation folder")
    p.add_argument("--catalog", help="real NEO catalog CSV (e.g. resources/neo/neos-2020.csv)")
    p.add_argument(
        "--forward", default="results/forward", help="forward runs of the simulated objects"
    )
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_run_evaluate)


# --- figures ---------------------------------------------------------------------------


def _run_figure(args: argparse.Namespace) -> int:
    from asteroid_ml.config import DEFAULT_CONFIG_PATH, load_config
    from asteroid_ml.figures.registry import make_figure

    config = load_config(args.config or DEFAULT_CONFIG_PATH)
    inputs: dict[str, Any] = {}
    for item in args.inputs:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--inputs: expected KEY=PATH, got {item!r}")
        inputs.setdefault(key, []).append(value)
    # single files as plain strings (the loaders accept lists for multi-file inputs)
    inputs = {
        k: v[0] if len(v) == 1 and k not in {"sim", "metrics", "predictions", "forward"} else v
        for k, v in inputs.items()
    }
    if args.dpi:
        config.setdefault("figures", {})["dpi"] = args.dpi
    make_figure(args.name, inputs, config, args.output_png, args.output_pdf)
    return 0


def _add_figure(subparsers: Any) -> None:
    from asteroid_ml.figures.registry import FIGURES

    p = subparsers.add_parser(
        "figure",
        help="draw one paper figure from workflow outputs",
        description="Draw one paper figure. Inputs are KEY=PATH pairs (repeat a key for several files); "
        "keys per figure: "
        + "; ".join(f"{n}: {(f.__doc__ or '').split(chr(10))[0]}" for n, f in FIGURES.items()),
    )
    p.add_argument("name", choices=sorted(FIGURES))
    p.add_argument("--inputs", nargs="+", default=[], metavar="KEY=PATH")
    p.add_argument("--output-png", required=True)
    p.add_argument("--output-pdf", required=True)
    p.add_argument("--config", help="workflow config (default: config/config.yaml)")
    p.add_argument("--dpi", type=int, help="PNG resolution (default: figures.dpi of the config)")
    p.set_defaults(func=_run_figure)


#: Sub-commands in the order of the workflow.
COMMANDS = (
    _add_validate_config,
    _add_simulate,
    _add_ephemerides,
    _add_close_approaches,
    _add_plan_targets,
    _add_cutouts,
    _add_dataset,
    _add_train,
    _add_baseline,
    _add_detection,
    add_find_movers,
    add_real_frames,
    _add_evaluate,
    _add_figure,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asteroid-ml",
        description="Asteroid-impactor ML workflow: simulation, HiPS cutouts, datasets, models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, OSError) as exc:
        # Bad input: one clear line (the exception text names the file and field), no traceback.
        logging.getLogger("asteroid_ml").debug("traceback", exc_info=True)
        print(f"asteroid-ml {args.command}: error: {exc}", file=sys.stderr)
        return 1
