"""Command line: ``ganlab`` (the web app), ``ganlab serve``, ``ganlab train``, ``ganlab sample``,
``ganlab data``, ``ganlab runs``, ``ganlab sweep``.

Every hyperparameter is a flag of ``ganlab train``, generated from the config models so the CLI can
never disagree with them: ``generator.units`` is ``--g-units``, ``d_optimizer.lr`` is ``--d-lr``,
``d_optimizer.kind`` is ``--d-optimizer``, top-level fields keep their names (``--batch-size``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import __version__
from .config import ConfigError, check_fields, field_bounds, flat_fields, make_config, set_items
from .data import DataError
from .jsonsafe import finite
from .runs.format import RunError

SECTION_PREFIX = {"generator": "g", "discriminator": "d", "g_optimizer": "g", "d_optimizer": "d"}


def flag_for(path: str) -> str:
    """Dotted config path -> CLI flag name (without dashes)."""
    if "." not in path:
        return path.replace("_", "-")
    section, field = path.split(".")
    field = "optimizer" if field == "kind" else field
    return f"{SECTION_PREFIX[section]}-{field.replace('_', '-')}"


def add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hyperparameters (default: GAN Lab's preset for --data)")
    for path, info in flat_fields():
        if path in ("data", "data_params", "seed"):  # explicit arguments of `train`
            continue
        ann, kw = info.annotation, {"dest": "cfg:" + path, "default": None}
        choices = typing.get_args(ann) if typing.get_origin(ann) is typing.Literal else None
        lo, hi = field_bounds(info)
        rng = f" [{lo}..{hi}]" if lo is not None or hi is not None else ""
        if ann is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif choices:
            kw["choices"] = choices
        else:
            kw["type"] = ann if ann in (int, float) else str
            kw["metavar"] = {int: "INT", float: "X"}.get(ann, "VALUE")
        if path == "loss":
            from .losses import LOSSES

            kw["choices"] = list(LOSSES)
        g.add_argument(f"--{flag_for(path)}", help=f"{info.description}{rng}", **kw)
    g.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="any config field by dotted path, e.g. --set data_params='{\"spread\": 0.03}'")


def config_from_args(args: argparse.Namespace) -> Any:
    """Defaults, then the data preset (unless --no-preset; for image data the --image-preset),
    then flags and --set."""
    from .data import DISTRIBUTIONS
    from .data.image_presets import IMAGE_PRESETS, image_preset

    data_file = getattr(args, "data_file", None)
    changes: dict[str, Any] = {"data": args.data, "seed": args.seed}
    if data_file:
        from .data.pointsets import read_points_file

        pts, note = read_points_file(data_file)
        if note:
            print(f"note: {note}", file=sys.stderr)
        changes.update(data="points", data_params={"points": pts.tolist()})
    base: dict[str, Any] = {}
    dist = DISTRIBUTIONS.get(changes["data"])
    if args.preset and dist is not None:
        base = dict(dist.preset)
    elif args.preset and changes["data"] in IMAGE_PRESETS:
        try:
            base = image_preset(changes["data"], args.image_preset)
        except KeyError as e:
            raise ConfigError([("--image-preset", str(e.args[0]))]) from None
    for k, v in vars(args).items():
        if k.startswith("cfg:") and v is not None:
            changes[k[4:]] = v
    changes.update(set_items(args.set))
    return make_config(base, **changes)


class TrainRun(BaseModel):
    """The numbers of a ``ganlab train`` run that are not config fields, checked like them."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(ge=1, le=10**9)
    report_every: int = Field(ge=0, le=10**9)  # 0: epochs / 20


def cmd_train(args: argparse.Namespace) -> int:
    from .trainer import Trainer

    check_fields(TrainRun, {"epochs": args.epochs, "report_every": args.report_every})
    cfg = config_from_args(args)
    t = Trainer(cfg)
    try:
        from .cli_data import image_metrics, train_metrics
    except ImportError:  # metrics arrive with the data/metrics module
        train_metrics = None
    else:
        if t.image_shape is not None:
            train_metrics = image_metrics
    every = args.report_every or max(1, args.epochs // 20)
    from .cli_runs import TrainHooks

    hooks = TrainHooks(args, t, every)  # --run-dir, --animate: checked before training starts
    tty = sys.stderr.isatty() and not args.json
    start = time.perf_counter()
    shown: list[str] = []  # hint codes last printed (text mode prints a hint when it appears)

    def report(final: bool = False) -> dict:
        elapsed = time.perf_counter() - start
        rec = {"epoch": t.epoch, "seconds": round(elapsed, 3),
               "epochs_per_sec": round(t.epoch / elapsed, 1) if elapsed > 0 else None,
               "losses": t.losses, "status": t.status.state}
        if train_metrics is not None and (final or args.metrics):
            rec["metrics"] = train_metrics(t)
        if t.image_shape is not None:
            rec["data_epochs"] = round(t.epoch * t.config.batch_size / len(t.sampler.X), 2)
            rec["hints"] = []  # the failure hints read 2D geometry; images show their histogram
        else:
            rec["hints"] = rec["metrics"]["hints"] if "metrics" in rec else report_hints(t)
        if final:
            rec["final"] = True
            if not t.status.ok:
                rec["message"] = t.status.message
        rec = finite(rec)
        if args.json:
            print(json.dumps(rec), flush=True)
        elif tty and not final:
            bar = int(30 * t.epoch / max(args.epochs, 1))
            d, g = rec["losses"].get("d"), rec["losses"].get("g")
            sys.stderr.write(f"\r[{'#' * bar}{'.' * (30 - bar)}] epoch {t.epoch}/{args.epochs}  "
                             f"{rec['epochs_per_sec']} epochs/s  D {_fmt(d)}  G {_fmt(g)}   ")
            sys.stderr.flush()
        elif not final:
            print(_line(rec), flush=True)
            if "metrics" in rec and "classes_captured" in rec["metrics"]:
                print("  " + _image_line(rec["metrics"]), flush=True)
        codes = [h["code"] for h in rec["hints"]]
        if not args.json and not final and not tty and codes != shown:
            for h in rec["hints"]:
                print(f"hint: {h['message']}", flush=True)
            shown[:] = codes
        return rec

    while t.epoch < args.epochs and t.status.ok:
        hooks.train(min(every, args.epochs - t.epoch))
        report()
    if tty:
        sys.stderr.write("\n")
    rec = report(final=True)
    if not args.json:
        print("final: " + _line(rec))
        if "metrics" in rec and "classes_captured" in rec["metrics"]:
            print("images: " + _image_line(rec["metrics"]))
        if "metrics" in rec:
            print("metrics: " + json.dumps({k: v for k, v in rec["metrics"].items() if k != "hints"}))
        for h in rec["hints"]:
            print(f"hint: {h['message']}")
    hooks.finish(quiet=args.json)
    if args.out:
        binary = _binary_out(args.out, t.image_shape is not None)
        if binary:
            Path(args.out).write_bytes(t.snapshot_bytes())
        else:
            Path(args.out).write_text(json.dumps(t.snapshot()))
        if not args.json:
            print(f"snapshot ({'binary' if binary else 'JSON'}) written to {args.out}")
    if not t.status.ok:
        print(f"diverged: {t.status.message}", file=sys.stderr)
        return 3
    return 0


def _binary_out(name: str, image: bool) -> bool:
    """A binary snapshot for a .bin file, JSON for a .json file, else by kind (binary for images)."""
    suffix = Path(name).suffix.lower()
    return suffix == ".bin" or (suffix != ".json" and image)


def _image_line(m: dict) -> str:
    floor = m.get("fd_floor", {}).get("mean")
    return (f"classes captured {m['classes_captured']}/{m['classes_total']}  confident "
            f"{100 * m['confident']:.1f}%  digit score (IS) {m['digit_score']:.2f}  FD {m.get('fd', float('nan')):.2f}"
            f" (floor {floor:.2f})  D(real) {m['d_real']:.2f}  D(fake) {m['d_fake']:.2f}  "
            f"histogram {m['class_counts']}")


def report_hints(t) -> list[dict]:
    """Failure hints (ganlab.metrics.health) on the fixed real reference and G on the fixed
    visualisation noise: no training random stream is touched."""
    from .metrics import health_hints, reference_real

    return health_hints(t, reference_real(t, 500), t.G_out(t.viz_noise(500)))


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}"


def _line(rec: dict) -> str:
    L = rec["losses"]
    return (f"epoch {rec['epoch']}  {rec['epochs_per_sec']} epochs/s  "
            f"D loss {_fmt(L.get('d'))}  G loss {_fmt(L.get('g'))}  status {rec['status']}")


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import CannotServe, run

    try:
        run(host=args.host, port=args.port, open_browser=not args.no_browser, workers=args.workers,
            allowed_origins=args.allow_origin, allowed_hosts=args.allow_host,
            max_sessions=args.max_sessions, idle_timeout=args.idle_timeout,
            drain_timeout=args.drain_timeout)
    except CannotServe as e:
        print(f"ganlab: {e}", file=sys.stderr)
        return EXIT_CANNOT_SERVE
    return 0


EXIT_CANNOT_SERVE = 4  # 2: invalid configuration or input, 3: a diverged run (README)
EXIT_INVALID = 2


def cmd_sample(args: argparse.Namespace) -> int:
    """Write a grid of generated images from a snapshot as a PNG."""
    from .images_out import GridError, parse_grid, sample_grid_png, trainer_from_file

    try:
        rows, cols = parse_grid(args.grid)
        t = trainer_from_file(args.snapshot)
        png = sample_grid_png(t, rows, cols, seed=args.seed, scale=args.scale)
    except (GridError, ValueError, OSError) as e:
        print(f"ganlab: {e}", file=sys.stderr)
        return EXIT_INVALID
    Path(args.out).write_bytes(png)
    print(f"{rows}x{cols} samples of {t.config.data} (epoch {t.epoch}) written to {args.out}")
    return 0


def add_serve_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 serves the whole network (then name the "
                   "host with --allow-host) (default: %(default)s)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    s.add_argument("--no-browser", action="store_true",
                   help="do not open a browser; print the page's address instead")
    s.add_argument("--workers", type=int, default=1,
                   help="server processes; one per core for a classroom (default: %(default)s)")
    s.add_argument("--allow-origin", action="append", default=None, metavar="ORIGIN",
                   help="extra allowed websocket Origin, e.g. http://my-host:8000 (repeatable or "
                   "comma separated; scheme://host:* for any port; '*' allows all; default: "
                   "the page's own host and loopback origins; env GANLAB_ALLOWED_ORIGINS)")
    s.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                   help="extra host name the server answers for, e.g. my-host (repeatable or comma "
                   "separated; *.domain for subdomains; '*' answers any; default: 127.0.0.1, "
                   "localhost, [::1] and the --host given; env GANLAB_ALLOWED_HOSTS)")
    # None: an option not given leaves the GANLAB_* variable, then the default, in force.
    s.add_argument("--max-sessions", type=int, default=None,
                   help="sessions per worker process; more get 'server busy' (default: 64; env "
                   "GANLAB_MAX_SESSIONS)")
    s.add_argument("--idle-timeout", type=float, default=None,
                   help="seconds a paused session without messages stays open (default: 1800; "
                   "env GANLAB_IDLE_TIMEOUT)")
    s.add_argument("--drain-timeout", type=float, default=None, metavar="SECONDS",
                   help="on SIGTERM, seconds to wait for the sessions to move to another server "
                   "(each page is told to reconnect and restore its state) before exiting "
                   "(default: 10; env GANLAB_DRAIN_TIMEOUT)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganlab", description="GAN Lab in Python: watch a GAN learn a 2D "
                                "distribution live in the browser, or train one headless.")
    p.add_argument("--version", action="version", version=f"ganlab {__version__}")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("serve", help="start the web app (the default command)",
                       description="Serve the page and its live training sessions (one per "
                       "browser tab). Exit status 4: the server cannot listen (port in use, ...).")
    add_serve_flags(s)
    s.set_defaults(func=cmd_serve)

    t = sub.add_parser("train", help="train headless and report losses and metrics")
    t.add_argument("--data", default="gaussians", help="distribution name (see `ganlab data list`)")
    t.add_argument("--data-file", help="train on a CSV/JSON point set instead")
    t.add_argument("--epochs", type=int, default=1000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-preset", dest="preset", action="store_false",
                   help="start from ganlab's defaults instead of the data's recommended preset")
    t.add_argument("--json", action="store_true", help="one JSON object per report line")
    t.add_argument("--metrics", action="store_true", help="compute metrics at every report, not only at the end")
    t.add_argument("--report-every", type=int, default=0, help="epochs between reports (default 0: epochs/20)")
    t.add_argument("--out", help="write the final snapshot to this file: binary for a .bin name or image "
                   "data, JSON for a .json name or 2D data")
    t.add_argument("--image-preset", default="recommended", metavar="NAME",
                   help="image data: the preset to start from, recommended or collapse (a GAN that "
                   "writes few classes, for teaching) (default: %(default)s)")
    add_config_flags(t)
    from .cli_runs import add_runs_commands, add_train_flags

    add_train_flags(t)
    t.set_defaults(func=cmd_train)
    add_runs_commands(sub)
    from .cli_sweep import add_sweep_command

    add_sweep_command(sub)

    sm = sub.add_parser("sample", help="write a grid of generated images from a snapshot as a PNG",
                        description="Draw a grid of G's images from a snapshot of an image GAN (binary "
                        "or JSON). A conditional G writes class r %% 10 in row r. Exit status 2: "
                        "an unreadable or invalid snapshot, or a bad --grid.")
    sm.add_argument("snapshot", help="snapshot file written by `ganlab train --out`")
    sm.add_argument("--grid", default="8x8", help="ROWSxCOLS, each 1..32 (default: %(default)s)")
    sm.add_argument("--out", default="samples.png", help="PNG file to write (default: %(default)s)")
    sm.add_argument("--seed", type=int, default=0, help="seed of the noise (default: %(default)s)")
    sm.add_argument("--scale", type=int, default=0,
                    help="pixels per image pixel, 1..16 (default 0: 3 for 28x28, 8 for 8x8)")
    sm.set_defaults(func=cmd_sample)

    try:
        from .cli_data import add_data_commands
    except ImportError:
        pass
    else:
        add_data_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"ganlab: invalid configuration: {e}", file=sys.stderr)
        return 2
    except DataError as e:
        print(f"ganlab: invalid data: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"ganlab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
