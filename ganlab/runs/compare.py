"""Tables of runs: the settings that differ (from the defaults, or between runs) and the final
metrics, for ``ganlab runs list`` and ``ganlab runs compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import Config
from .format import MANIFEST, RunError
from .run import Run

FINAL_METRICS = ("d_loss", "g_loss", "kl", "js", "modes_captured", "high_quality", "classes_captured", "fd")
SHORT = {"d_loss": "D", "g_loss": "G", "kl": "KL", "js": "JS", "modes_captured": "modes", "high_quality": "HQ",
         "classes_captured": "classes", "fd": "FD"}
HIDDEN = {"data", "data_params"}  # shown in their own column


def flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "data_params":
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def defaults(data: str | None = None) -> dict[str, Any]:
    """The default settings for ``data``: ganlab's defaults with that distribution's recommended
    preset (an image set's "recommended" image preset) on top (what ``ganlab train --data NAME``
    starts from), flattened to dotted keys."""
    from ..config import make_config
    from ..data import DISTRIBUTIONS
    from ..data.image_presets import IMAGE_PRESETS, image_preset

    dist = DISTRIBUTIONS.get(data) if data else None
    if data in IMAGE_PRESETS:
        return flat(make_config(image_preset(data), data=data).model_dump(mode="json"))
    return flat(Config(**(dist.preset if dist else {})).model_dump(mode="json"))


def differing_from_default(config: dict) -> dict[str, Any]:
    """Dotted settings of ``config`` that differ from its data's defaults (:func:`defaults`),
    data aside."""
    base = defaults(config.get("data"))
    return {k: v for k, v in flat(config).items() if k not in HIDDEN and base.get(k, object()) != v}


def differing_between(configs: list[dict]) -> dict[str, list[Any]]:
    """Dotted settings whose values are not the same in all ``configs`` (data included)."""
    flats = [flat(c) for c in configs]
    keys = sorted(set().union(*flats))
    out = {}
    for k in keys:
        vals = [f.get(k) for f in flats]
        if any(v != vals[0] for v in vals[1:]):
            out[k] = vals
    return out


def data_label(config: dict) -> str:
    p = config.get("data_params") or {}
    if "points" in p:
        return f"{config.get('data')} ({len(p['points'])} points)"
    if "strokes" in p:
        return f"{config.get('data')} ({len(p['strokes'])} strokes)"
    return str(config.get("data"))


def show(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return f"[{len(v)} items]" if len(v) > 4 else str(v)
    return str(v)


def final_metrics(run: Run) -> dict[str, Any]:
    f = run.manifest.get("final") or (run.metrics[-1] if run.metrics else {})
    out = {k: f.get(k) for k in FINAL_METRICS if k in f}
    if f.get("classes_total") and out.get("classes_captured") is not None:
        out["classes_captured"] = f"{out['classes_captured']}/{f['classes_total']}"
    if f.get("modes_total") and out.get("modes_captured") is not None:
        out["modes_captured"] = f"{out['modes_captured']}/{f['modes_total']}"
    if isinstance(out.get("high_quality"), float):
        out["high_quality"] = f"{100 * out['high_quality']:.1f}%"
    return out


def find_runs(directory: str | Path) -> list[Path]:
    """Run directories and run files (*.zip) directly inside ``directory`` (or it, if a run)."""
    d = Path(directory)
    if not d.is_dir():
        raise RunError(f"{d}: no such directory")
    if (d / MANIFEST).is_file():
        return [d]
    return sorted(p for p in d.iterdir() if (p.is_dir() and (p / MANIFEST).is_file())
                  or (p.is_file() and p.suffix == ".zip"))


def table(header: list[str], rows: list[list[str]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def list_table(paths: list[Path]) -> tuple[str, int]:
    """(the table of ``ganlab runs list``, how many could not be read)."""
    rows, bad = [], 0
    for p in paths:
        try:
            run = Run(p)
        except RunError as e:
            bad += 1
            rows.append([p.name, "unreadable", "", str(e).removeprefix(f"{p}: "), "", ""])
            continue
        m = run.manifest
        diff = differing_from_default(run.config)
        fm = final_metrics(run)
        rows.append([run.name, data_label(run.config), f"{m['epochs']:,}" + ("" if m["status"] == "ok" else
                     f" ({m['status']})"), " ".join(f"{k}={show(v)}" for k, v in diff.items()) or "defaults",
                     " ".join(f"{SHORT[k]} {show(v)}" for k, v in fm.items()), f"{m['duration_seconds']:.1f} s"])
    return table(["name", "data", "epochs", "settings (not default)", "final metrics", "duration"], rows), bad


def compare_table(runs: list[Run]) -> str:
    """Settings that differ between the runs, then their final metrics, one column per run."""
    names = [r.name for r in runs]
    rows = [["data", *(data_label(r.config) for r in runs)],
            ["epochs", *(f"{r.manifest['epochs']:,}" for r in runs)]]
    for k, vals in differing_between([r.config for r in runs]).items():
        if k not in HIDDEN:
            rows.append([k, *map(show, vals)])
    if len(rows) == 2:
        rows.append(["(settings)", *(["identical"] * len(runs))])
    finals = [final_metrics(r) for r in runs]
    for k in FINAL_METRICS:
        if any(k in f for f in finals):
            rows.append([f"final {k}", *(show(f.get(k)) for f in finals)])
    rows.append(["duration", *(f"{r.manifest['duration_seconds']:.1f} s" for r in runs)])
    return table(["", *names], rows)


def curve_metrics(runs: list[Run]) -> list[str]:
    """The curves worth drawing for these runs: losses, KL, and mode quality when they have it;
    for image runs the losses, FD and classes captured."""
    if any(r.get("fd") is not None or r.get("classes_captured") is not None for run in runs for r in run.metrics):
        return ["d_loss", "g_loss", "fd", "classes_captured"]
    out = ["d_loss", "g_loss", "kl"]
    if any(r.get("high_quality") is not None for run in runs for r in run.metrics):
        out.append("high_quality")
    else:
        out.append("js")
    return out
