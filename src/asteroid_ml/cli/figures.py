"""``asteroid-ml figure``: one paper figure from workflow outputs, as rule ``figure`` draws it."""

from __future__ import annotations

import argparse
from typing import Any

from asteroid_ml.cli.common import config_parent, load


def _run_figure(args: argparse.Namespace) -> int:
    from asteroid_ml.figures.registry import make_figure

    config = load(args)
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


def add_figure(subparsers: Any) -> None:
    from asteroid_ml.figures.registry import FIGURES

    p = subparsers.add_parser(
        "figure",
        help="draw one paper figure from workflow outputs",
        description="Draw one paper figure. Inputs are KEY=PATH pairs (repeat a key for several files); "
        "keys per figure: "
        + "; ".join(f"{n}: {(f.__doc__ or '').split(chr(10))[0]}" for n, f in FIGURES.items()),
        parents=[config_parent()],
    )
    p.add_argument("name", choices=sorted(FIGURES))
    p.add_argument("--inputs", nargs="+", default=[], metavar="KEY=PATH")
    p.add_argument("--output-png", required=True)
    p.add_argument("--output-pdf", required=True)
    p.add_argument("--dpi", type=int, help="PNG resolution (default: figures.dpi of the config)")
    p.set_defaults(func=_run_figure)
