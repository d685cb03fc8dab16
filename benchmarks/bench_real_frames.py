"""find-movers on a real night: time per stage, and the detector's rows on its fakes.

    .venv/bin/python benchmarks/bench_real_frames.py [--model PATH] [--threads 2] [--evaluate]

The night is ../shared/data/frames/2713-Luxembourg-2018-10-12 (25 raw 180-s frames of the
main-belt asteroid (2713) Luxembourg, 10 bias and 5 dark frames; no licence, so it is read
from the shared folder and never copied into the project). Needs the default run's saved
detector (``make run``: results/models/detector_cnn/best.ckpt) or ``--model``.

1. The floor, measured in the same run: reading the 40 gzipped files and building the
   ccdproc masters (what any pipeline on these files must do).
2. ``find-movers`` on the night with the shipped defaults (config/config.yaml's frames
   section; pixel scale from FOCALLEN and XPIXSZ), time per stage.

Target: the whole night in <= 60 s on 2 cores. With ``--evaluate``: the night's rows of
``real_frames_summary.csv`` (fakes, the saved simulation CNN and a CNN trained on the
night), written to results/eval/real_frames_2713.csv (about 4 minutes).
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NIGHT = REPO.parent / "shared" / "data" / "frames" / "2713-Luxembourg-2018-10-12"
TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "results/models/detector_cnn/best.ckpt"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluate", action="store_true")
    args = parser.parse_args()

    import torch

    from asteroid_ml.config import load_config
    from asteroid_ml.frames.calibration import make_masters
    from asteroid_ml.frames.movers import FindSettings, frames_above, run_find_movers
    from asteroid_ml.frames.night import FrameSetInputs
    from asteroid_ml.frames.reading import read_frames
    from asteroid_ml.paths import DEFAULT_CONFIG_PATH

    torch.set_num_threads(args.threads)
    globs = {k: str(NIGHT / f"*{k.capitalize()}*") for k in ("light", "bias", "dark")}
    start = time.perf_counter()
    files = {k: read_frames(sorted(map(Path, glob.glob(g))), need_time=k == "light")
             for k, g in globs.items()}  # fmt: skip
    make_masters(files["bias"], files["dark"], [])
    floor = time.perf_counter() - start

    config = load_config(DEFAULT_CONFIG_PATH)
    settings = FindSettings.from_config(config["frames"])
    inputs = FrameSetInputs(globs["light"], globs["bias"], globs["dark"])
    result = run_find_movers(inputs, settings, args.model)
    total = sum(result.seconds.values())
    for stage, seconds in result.seconds.items():
        print(f"{stage:24s} {seconds:6.1f} s")
    print(f"{'find-movers, total':24s} {total:6.1f} s (target <= {TARGET_S:.0f} s: "
          f"{'met' if total <= TARGET_S else 'NOT met'}); {total / floor:.1f}x the floor "
          f"(reading 40 files and the ccdproc masters: {floor:.1f} s)")  # fmt: skip
    used = int(result.frames["used"].sum())
    print(f"{used} of {len(result.frames)} frames used, {len(result.candidates)} candidates, "
          f"{len(result.sequences)} sequences reported by {Path(args.model).name}")  # fmt: skip
    for seq in result.sequences.itertuples():
        above = frames_above(result, seq.sequence_id, 5.0, settings.link.gate_px)
        print(f"  sequence {seq.sequence_id}: {seq.n_detections} detections; sep finds it at "
              f">= 5 sigma in {above} frames; {seq.rate_arcsec_min:.3f}\"/min at "
              f"{seq.pa_deg:.1f} deg, fit rms {seq.rms_px:.2f} px, line p {seq.line_p_value:.3f}")  # fmt: skip
    if args.evaluate:
        from asteroid_ml.frames.evaluate import frame_set_summary

        config["frames"]["sets"] = {"2713-Luxembourg": {
            "frames": globs["light"], "bias": globs["bias"], "dark": globs["dark"]}}  # fmt: skip
        ephemerides = sorted(glob.glob(str(REPO / "results/ephemerides/*/*.parquet")))
        out = REPO / "results" / "frames" / "2713-Luxembourg"
        table = frame_set_summary(config, "2713-Luxembourg", args.model, ephemerides, out)
        table.to_csv(REPO / "results" / "eval" / "real_frames_2713.csv", index=False)
        print(table.T.to_string())


if __name__ == "__main__":
    main()
