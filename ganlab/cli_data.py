"""``ganlab data ...`` commands and the metrics ``ganlab train`` reports.

    ganlab data list [--json]
    ganlab data export NAME [--n 5000] [--out pts.csv] [--seed 0] [--format csv|json] [--params JSON]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

import numpy as np

from .data import DISTRIBUTIONS, DataError, modes_of, sample_points
from .data.pointsets import FORMATS, dumps_points, format_of, load_points_file
from .jsonsafe import finite
from .metrics import (
    count_divergences,
    d_accuracy,
    divergence_floor_of,
    grad_norms,
    health_hints,
    histogram,
    mode_coverage,
    precision_recall,
)
from .metrics.training import reference_counts

__all__ = ["add_data_commands", "image_metrics", "load_points_file", "train_metrics"]

METRIC_SAMPLES = 2500  # fakes for mode coverage (the literature's count)
DIV_SAMPLES = 20_000  # fakes for KL / JS, against the fixed 50,000-point real reference
PR_SAMPLES = 500


def train_metrics(trainer, n: int = METRIC_SAMPLES) -> dict[str, Any]:
    """Metrics for one ``ganlab train`` report: kl, js (bits) of 20,000 fresh fakes against the
    trainer's fixed real reference, with kl_floor, js_floor (the same for independent real sets:
    what a perfect G reads); the mode metrics for mixtures on the first n fakes; precision,
    recall, d_accuracy on 500 fresh real and fake points; grad_norm_d, grad_norm_g; hints (named
failures, ganlab.metrics.health) on those 500 of each. Every value
    is finite or None. See :mod:`ganlab.metrics` for the definitions."""
    fake = trainer.sample(DIV_SAMPLES)
    out: dict[str, Any] = dict(count_divergences(reference_counts(trainer), histogram(fake)))
    floor = divergence_floor_of(trainer, DIV_SAMPLES)
    out.update(kl_floor=floor["kl"], js_floor=floor["js"])
    modes = modes_of(trainer.config.data, trainer.config.data_params)
    if modes is not None:
        out.update(mode_coverage(fake[:n], *modes))
    real = trainer.real(PR_SAMPLES)
    out.update(precision_recall(real, fake[:PR_SAMPLES]))
    out["d_accuracy"] = d_accuracy(trainer, real, fake[:PR_SAMPLES])
    out.update(grad_norms(trainer))
    out["hints"] = health_hints(trainer, real, fake)
    return finite(out)


IMAGE_SAMPLES = 1000  # fakes per image report (the FD floor is computed at the same size)


@functools.lru_cache(maxsize=2)
def _image_reference(name: str):
    from .metrics.images import ImageReference

    return ImageReference.for_set(name)


def image_metrics(trainer, n: int = IMAGE_SAMPLES) -> dict[str, Any]:
    """Metrics of an image GAN for ``ganlab train`` (``ganlab.metrics.images``, the set's shipped
    classifier): classes_captured of classes_total, class_counts, confident (share), digit_score
    (IS), fd with fd_floor (real vs real at the same n), nearest_real of a few fakes, and d_real,
    d_fake: D's mean output on 500 real and 500 fake images. Fresh samples from streams that do
    not disturb training."""
    n = min(n, len(trainer.sampler.X) // 2)
    fake = trainer.sample(n)
    out = _image_reference(trainer.config.data).measure(fake)
    x, y = trainer.real_labelled(PR_SAMPLES)
    cond = trainer.config.conditional
    yf = trainer._sample_rng.integers(0, trainer.classes, PR_SAMPLES) if cond else None
    fake = trainer.sample(PR_SAMPLES, labels=yf)
    out["d_real"] = float(np.mean(trainer.discriminate(x, labels=y if cond else None)))
    out["d_fake"] = float(np.mean(trainer.discriminate(fake, labels=yf)))
    return finite(out)


def cmd_list(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([
            {"name": d.name, "label": d.label, "description": d.description, "preset": d.preset,
             "has_modes": d.modes is not None, "takes_params": d.check is not None}
            for d in DISTRIBUTIONS.values()
        ], indent=1))
        return 0
    width = max(map(len, DISTRIBUTIONS))
    for d in DISTRIBUTIONS.values():
        tag = " [modes]" if d.modes is not None else ""
        print(f"{d.name:<{width}}  {d.label}{tag}: {d.description}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params) if args.params else None
    except json.JSONDecodeError as e:
        print(f"ganlab: --params is not valid JSON: {e}", file=sys.stderr)
        return 2
    try:
        if args.n < 1 or args.n > 1_000_000:
            raise DataError(f"--n must be in 1..1000000, got {args.n}")
        fmt = args.format or (format_of(args.out) if args.out else "csv")
        pts = sample_points(args.name, args.n, params, seed=args.seed)
        meta = {"name": args.name, "params": params or {}, "seed": args.seed}
        text = dumps_points(pts, fmt, meta)
    except DataError as e:
        print(f"ganlab: {e}", file=sys.stderr)
        return 2
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {args.n} points of {args.name} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def add_data_commands(subparsers) -> None:
    """Register ``ganlab data list`` and ``ganlab data export`` on the CLI's subparsers."""
    p = subparsers.add_parser("data", help="list distributions or export samples to CSV/JSON")
    sub = p.add_subparsers(dest="data_command", required=True)
    ls = sub.add_parser("list", help="the available distributions")
    ls.add_argument("--json", action="store_true", help="with presets, as JSON")
    ls.set_defaults(func=cmd_list)
    ex = sub.add_parser("export", help="write samples of a distribution to a file")
    ex.add_argument("name", choices=list(DISTRIBUTIONS), metavar="NAME",
                    help="distribution (see `ganlab data list`)")
    ex.add_argument("--n", type=int, default=5000, help="number of points (default 5000)")
    ex.add_argument("--out", help="output file (.csv or .json); default: standard output")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--format", choices=FORMATS, help="default: from the --out suffix, else csv")
    ex.add_argument("--params", help='distribution parameters as JSON, e.g. \'{"means": [[0.5, 0.5]]}\'')
    ex.set_defaults(func=cmd_export)


