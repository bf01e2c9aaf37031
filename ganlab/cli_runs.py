"""Runs and animations from the command line (docs/runs.md):

    ganlab train ... --run-dir runs/NAME [--snapshot-every N] [--thumb-every N]
    ganlab train ... --animate out.gif|out.webp|out.png --every 100 [--animate-size 400]
    ganlab runs list runs/
    ganlab runs compare runs/a runs/b ... [--png curves.png]
    ganlab runs export runs/a a.zip
    ganlab runs continue runs/a --from-epoch E --epochs TOTAL --run-dir runs/b [--set KEY=JSON]
        [--animate span.gif --every N]
"""

from __future__ import annotations

import argparse
import json
import sys

from .config import ConfigError, set_items

EXIT_INVALID = 2


def add_train_flags(t: argparse.ArgumentParser) -> None:
    """The run and animation flags of ``ganlab train``."""
    g = t.add_argument_group("runs and animations")
    g.add_argument("--run-dir", metavar="DIR", help="record the run into this new directory (runs/NAME): "
                   "metrics every --report-every, snapshots, thumbnails (docs/runs.md)")
    g.add_argument("--snapshot-every", type=int, default=0, metavar="N",
                   help="epochs between the run's snapshots (default 0: as --report-every)")
    g.add_argument("--thumb-every", type=int, default=0, metavar="N",
                   help="epochs between the run's thumbnails (default 0: as --report-every)")
    add_animate_flags(g)


def add_animate_flags(g) -> None:
    """--animate and its options (``ganlab train`` and ``ganlab runs continue``)."""
    g.add_argument("--animate", metavar="FILE", help="write an animation of the data view (image data: the "
                   "sample grid): .gif, .webp or .png (APNG)")
    g.add_argument("--every", type=int, default=100, metavar="N", help="epochs between animation frames "
                   "(default: %(default)s)")
    g.add_argument("--animate-size", type=int, default=400, metavar="PX", help="animation frame size "
                   "(default: %(default)s)")
    g.add_argument("--fps", type=float, default=10, help="animation frames per second (default: %(default)s)")
    g.add_argument("--view-layers", default="heatmap,real,fake,d_grad", metavar="LIST",
                   help="layers of the animation: heatmap, real, fake, d_grad, g_grad, manifold "
                   "(default: %(default)s)")
    g.add_argument("--animate-grid", default="8x8", metavar="ROWSxCOLS",
                   help="image data: the animation's sample grid (default: %(default)s; fixed noise)")


def animation_of(args: argparse.Namespace, trainer):
    """The animation hook that ``--animate`` asks for: the data view (2D data) or the sample grid
    (image data); ConfigError naming the flag otherwise."""
    from .images_out import GridError, parse_grid
    from .render import Animation, GridAnimation, ViewSpec

    try:
        if trainer.image_shape is not None:
            rows, cols = parse_grid(args.animate_grid)
            return GridAnimation(args.animate, args.every, rows, cols, fps=args.fps)
        spec = ViewSpec(layers=tuple(x.strip() for x in args.view_layers.split(",") if x.strip()),
                        size=args.animate_size)
        return Animation(args.animate, args.every, spec, args.fps)
    except GridError as e:
        raise ConfigError([("--animate-grid", str(e).removeprefix("--grid: "))]) from None
    except ValueError as e:
        raise ConfigError([("--animate", str(e))]) from None


class TrainHooks:
    """What ``ganlab train`` does besides training: a run being recorded, an animation."""

    def __init__(self, args: argparse.Namespace, trainer, report_every: int):
        self.trainer, self.args = trainer, args
        self.anim = self.recorder = None
        if args.animate:
            self.anim = animation_of(args, trainer)
        if args.run_dir:
            from .runs import Recorder

            for flag, v in (("--snapshot-every", args.snapshot_every), ("--thumb-every", args.thumb_every)):
                if v < 0:
                    raise ConfigError([(flag, f"must be >= 0, got {v}")])
            self.recorder = Recorder(trainer, args.run_dir, metrics_every=report_every,
                                     snapshot_every=args.snapshot_every or report_every,
                                     thumb_every=args.thumb_every or report_every,
                                     hooks=[self.anim] if self.anim else ())

    def train(self, epochs: int) -> int:
        if self.recorder is not None:
            return self.recorder.train(epochs)
        if self.anim is not None:
            from .runs import train_with

            return train_with(self.trainer, epochs, [self.anim])
        return self.trainer.train(epochs)

    def finish(self, quiet: bool) -> None:
        say = (lambda s: None) if quiet else (lambda s: print(s, flush=True))
        if self.anim is not None:
            size = self.anim.close(self.trainer)
            say(f"animation written to {self.args.animate} ({len(self.anim.frames)} frames, {size:,} bytes)")
            if self.recorder is not None:
                self.recorder.add_media(self.args.animate, frames=len(self.anim.frames), every=self.anim.every)
        if self.recorder is not None:
            d = self.recorder.close()
            say(f"run written to {d}")


def cmd_runs_list(args: argparse.Namespace) -> int:
    from .runs.compare import find_runs, list_table

    paths = find_runs(args.dir)
    if not paths:
        print(f"ganlab: no runs in {args.dir}", file=sys.stderr)
        return 1
    if args.json:
        from .runs import Run, RunError

        out = []
        for p in paths:
            try:
                r = Run(p)
                out.append({"path": str(p), "name": r.name, "config": r.config, "epochs": r.manifest["epochs"],
                            "status": r.manifest["status"], "final": r.manifest.get("final"),
                            "duration_seconds": r.manifest["duration_seconds"]})
            except RunError as e:
                out.append({"path": str(p), "error": str(e)})
        print(json.dumps(out, indent=1))
        return 0
    text, _ = list_table(paths)
    print(text)
    return 0


def cmd_runs_compare(args: argparse.Namespace) -> int:
    from .runs import Run
    from .runs.compare import compare_table, curve_metrics

    runs = [Run(p) for p in args.runs]
    print(compare_table(runs))
    if args.png:
        from .render import plot_curves

        metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else curve_metrics(runs)
        img = plot_curves([(r.name, r.metrics) for r in runs], metrics)
        img.save(args.png)
        print(f"curves written to {args.png}")
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    from .runs import Run

    size = Run(args.run).export(args.out)
    print(f"run written to {args.out} ({size:,} bytes)")
    return 0


def cmd_runs_import(args: argparse.Namespace) -> int:
    from .runs import Run

    d = Run(args.file).extract(args.dir)
    print(f"run extracted to {d}")
    return 0


def cmd_runs_continue(args: argparse.Namespace) -> int:
    """Rewind a run to a recorded snapshot and train on from there into a new run."""
    from .runs import Recorder, Run

    run = Run(args.run)
    epoch = run.snapshot_epochs[-1] if args.from_epoch is None else args.from_epoch
    t = run.trainer_at(epoch, schedule=False)
    if args.epochs <= t.epoch:
        raise ConfigError([("--epochs", f"must be greater than the starting epoch {t.epoch}")])
    changes = {}
    changes.update(set_items(args.set))
    every = run.manifest["metrics"]["every"]
    snaps = run.manifest["snapshots"]
    snap_every = (snaps[1]["epoch"] - snaps[0]["epoch"]) if len(snaps) > 1 else every
    # Unchanged, the new run replays the original's later edits; changed, it is a branch that
    # follows its own (the change, at the starting epoch).
    anim = animation_of(args, t) if args.animate else None
    rec = Recorder(t, args.run_dir, metrics_every=every, snapshot_every=snap_every, thumb_every=every,
                   parent={"name": run.name, "epoch": epoch}, edits=None if changes else run.later_edits(epoch),
                   hooks=[anim] if anim else ())
    if changes:
        rec.update(changes)
    rec.train(args.epochs - t.epoch)
    if anim is not None:
        size = anim.close(t)
        print(f"animation written to {args.animate} ({len(anim.frames)} frames, {size:,} bytes)")
        rec.add_media(args.animate, frames=len(anim.frames), every=anim.every)
    rec.close()
    m = rec.rows[-1] if rec.rows else {}
    print(f"continued {run.name} from epoch {epoch} to {t.epoch}: D loss {m.get('d_loss')}, "
          f"G loss {m.get('g_loss')}, KL {m.get('kl')}")
    print(f"run written to {rec.dir}")
    return 0 if t.status.ok else 3


def add_runs_commands(sub) -> None:
    p = sub.add_parser("runs", help="list, compare, export and continue recorded runs")
    rs = p.add_subparsers(dest="runs_command", required=True)
    ls = rs.add_parser("list", help="a table of the runs in a directory")
    ls.add_argument("dir", help="a directory of runs (e.g. runs/)")
    ls.add_argument("--json", action="store_true", help="as JSON")
    ls.set_defaults(func=cmd_runs_list)
    c = rs.add_parser("compare", help="settings that differ and final metrics side by side")
    c.add_argument("runs", nargs="+", help="run directories or run files")
    c.add_argument("--png", help="also write the overlaid curves to this PNG")
    c.add_argument("--metrics", help="curves to draw, comma separated (default: d_loss,g_loss,kl and "
                   "high_quality or js)")
    c.set_defaults(func=cmd_runs_compare)
    e = rs.add_parser("export", help="write a run directory as one run file (.zip) for the page")
    e.add_argument("run")
    e.add_argument("out")
    e.set_defaults(func=cmd_runs_export)
    i = rs.add_parser("import", help="extract a run file into a new run directory")
    i.add_argument("file")
    i.add_argument("dir")
    i.set_defaults(func=cmd_runs_import)
    k = rs.add_parser("continue", help="rewind a run to a recorded snapshot and train on into a new run")
    k.add_argument("run", help="run directory or file")
    k.add_argument("--from-epoch", type=int, help="a recorded snapshot's epoch (default: the last)")
    k.add_argument("--epochs", type=int, required=True, help="train until this epoch")
    k.add_argument("--run-dir", required=True, help="the new run's directory")
    k.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="a live change at the starting epoch (makes a branch), e.g. --set d_optimizer.lr=0.01")
    add_animate_flags(k.add_argument_group("animation of the span"))
    k.set_defaults(func=cmd_runs_continue)
