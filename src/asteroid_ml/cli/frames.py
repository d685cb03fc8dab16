"""Real-frame sub-commands: ``find-movers`` and ``real-frames``; each calls the function its
rule calls."""

from __future__ import annotations

import argparse
from typing import Any

from asteroid_ml import paths
from asteroid_ml.cli.common import config_parent, load, threads_parent
from asteroid_ml.registry import MODELS

#: The saved classifier that find-movers uses without --model (the default run's).
DEFAULT_MODEL = str(paths.saved_model("detector_cnn", MODELS["detector_cnn"].filename))


def add_find_movers(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "find-movers",
        help="find moving objects in a night of frames of one field",
        description="Calibrate (ccdproc), register (astroalign), difference each frame "
        "against the median of the others, find candidates (sep), score them with a saved "
        "detector and link sequences. Writes movers.csv, sequences.csv, frames.csv and "
        "movers.png/pdf in --out. Settings: the config's frames section (docs/frames.md).",
        parents=[config_parent(), threads_parent("CPU threads for scoring")],
    )
    p.add_argument("--frames", required=True, help="glob of the light frames (quote it)")
    p.add_argument("--bias", help="glob of bias frames")
    p.add_argument("--dark", help="glob of dark frames")
    p.add_argument("--flat", help="glob of flat frames")
    p.add_argument("--pixel-scale", type=float, help="arcsec per pixel (default: from the header)")
    p.add_argument(
        "--saturation", type=float, help="saturation level, ADU (default: header SATURATE)"
    )
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"saved detector_cnn (.ckpt) or detector_rf (.joblib) (default {DEFAULT_MODEL})")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run_find_movers_command)


def run_find_movers_command(args: argparse.Namespace) -> int:
    import torch

    from asteroid_ml.frames.movers import FindSettings, run_find_movers, write_find_movers
    from asteroid_ml.frames.night import FrameSetInputs

    torch.set_num_threads(max(1, args.threads))
    settings = FindSettings.from_config(load(args)["frames"])
    inputs = FrameSetInputs(args.frames, args.bias, args.dark, args.flat, args.pixel_scale,
                            args.saturation)  # fmt: skip
    result = run_find_movers(inputs, settings, args.model)
    write_find_movers(result, args.out)
    used = int(result.frames["used"].sum())
    print(f"find-movers: {used} of {len(result.frames)} frames used, {len(result.candidates)} "
          f"candidates, {len(result.sequences)} sequences -> {args.out}")  # fmt: skip
    for row in result.sequences.itertuples():
        print(f"  sequence {row.sequence_id}: {row.n_detections} detections, "
              f"{row.rate_arcsec_min:.3f}\"/min at {row.pa_deg:.1f} deg, score {row.score:.3f}")  # fmt: skip
    return 0


def add_real_frames(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "real-frames",
        help="measure the detectors on real frames with injected fakes",
        description="For each named frame set: find-movers' candidates, fakes injected with "
        "each frame's measured PSF around its limit at the simulated population's rates, the "
        "saved simulation-trained detector (row a) and a CNN trained on the frames' own fakes "
        "and bogus (row b). Writes the rows of real_frames_summary.csv.",
        parents=[config_parent(), threads_parent()],
    )
    p.add_argument("--set", dest="sets", action="append",
                   help="NAME=GLOB[,bias=GLOB][,dark=GLOB][,flat=GLOB][,pixel_scale=X]; "
                   "default: the config's frames.sets")  # fmt: skip
    p.add_argument("--model", default=DEFAULT_MODEL, help="saved simulation-trained detector_cnn")
    p.add_argument("--ephemerides", nargs="+", required=True,
                   help="ephemeris shards whose rates the fakes take (results/ephemerides/*/*.parquet)")  # fmt: skip
    p.add_argument("--out", required=True, help="output CSV (all sets' rows)")
    p.add_argument("--work", default=str(paths.FRAMES),
                   help="folder of each set's outputs (WORK/NAME/: find-movers, fakes, CNN)")  # fmt: skip
    p.set_defaults(func=run_real_frames_command)


def parse_set(text: str) -> tuple[str, dict]:
    """``NAME=GLOB[,key=value...]`` -> (name, a frames.sets entry)."""
    name, _, rest = text.partition("=")
    parts = rest.split(",")
    if not name or not parts[0]:
        raise ValueError(f"--set {text!r}: expected NAME=GLOB[,bias=GLOB,...]")
    entry: dict = {"frames": parts[0]}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key not in ("bias", "dark", "flat", "pixel_scale"):
            raise ValueError(f"--set {text!r}: unknown key {key!r} (bias, dark, flat, pixel_scale)")
        entry["pixel_scale_arcsec" if key == "pixel_scale" else key] = (
            float(value) if key == "pixel_scale" else value
        )
    return name, entry


def run_real_frames_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from asteroid_ml.frames.evaluate import combine_summaries, frame_set_summary

    torch.set_num_threads(max(1, args.threads))
    config = load(args)
    if args.sets:
        config["frames"]["sets"] = dict(parse_set(s) for s in args.sets)
    work = Path(args.work)
    for name in config["frames"]["sets"]:
        frame_set_summary(config, name, args.model, args.ephemerides, work / name)
    table = combine_summaries([work / name / "summary.csv" for name in config["frames"]["sets"]],
                              args.out)  # fmt: skip
    print(table.to_string(index=False))
    return 0
