# Real frames: find-movers on each frame set named in the config (frames.sets), and the
# saved simulation-trained CNN measured on the frames with injected fakes beside a CNN
# trained on the frames' own fakes and bogus. See src/asteroid_ml/frames/ and docs/frames.md.

FRAME_SETS = list(config["frames"]["sets"])
FRAME_SET_OUTPUTS = (
    "movers.csv",
    "sequences.csv",
    "frames.csv",
    "movers.pdf",
    "fakes.parquet",
    "summary.csv",
    "bogus_mix.csv",
    "detector_cnn_real/best.ckpt",
    "detector_cnn_real/card.json",
)


rule real_frames:
    input:
        frames=frame_set_files,
        model=model_file("detector_cnn"),
        card="results/models/detector_cnn/card.json",
        ephemerides=ephemeris_shards(),
    output:
        figure=report(
            "results/frames/{frameset}/movers.png",
            caption="../report/real_frames.rst",
            category="detection",
            subcategory="real frames",
        ),
        files=[f"results/frames/{{frameset}}/{name}" for name in FRAME_SET_OUTPUTS],
    log:
        "results/logs/frames/{frameset}.log",
    wildcard_constraints:
        frameset="|".join(FRAME_SETS) or "no-frame-set",
    conda:
        "../../envs/detection.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=config_slice("seed", "detection", "frames"),
    script:
        "../scripts/real_frames.py"


rule real_frames_summary:
    input:
        expand("results/frames/{frameset}/summary.csv", frameset=FRAME_SETS),
    output:
        "results/eval/real_frames_summary.csv",
    log:
        "results/logs/frames/summary.log",
    localrule: True
    conda:
        "../../envs/detection.yaml"
    script:
        "../scripts/real_frames_summary.py"


if FRAME_SETS:
    FINAL_OUTPUTS.extend(rules.real_frames_summary.output)
    # the plain pattern: expand() refuses the storage-wrapped outputs of a remote run
    FINAL_OUTPUTS.extend(
        expand("results/frames/{frameset}/movers.png", frameset=FRAME_SETS)
    )
