"""Train the classifiers behind the image metrics, reproducibly, and ship their weights.

    python scripts/train_classifier.py [--data digits8 mnist fashion] [--no-save] [--out DIR]
                                       [--epochs N] [--set JSON]

Each set: a fixed seed, a held-out split (8x8 digits: 20 % of each class; MNIST-5k: 10 % of each
class, i.e. 50 per digit; Fashion-MNIST: its own 60,000 / 10,000 train / test split), an MLP with
a softmax output (ganlab.metrics.classifier) trained by Adam with a cosine learning-rate schedule,
L2 weight decay and augmentation (8x8 digits: none; MNIST-5k: random rotation, scale, shear and
shift, bilinear, optionally elastic; Fashion-MNIST: none). Fashion-MNIST is trained only when its
data is installed (`apt-get install dataset-fashion-mnist`); otherwise it is skipped and says so.
Writes ganlab/metrics/classifiers/<set>.npz (or DIR/<set>.npz; float32 weights, the recipe and the
held-out accuracy in ``meta``) and prints a table. Single-threaded BLAS, so a rerun gives the same weights.
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy is imported: one thread, reproducible sums

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402

from ganlab.data.images import fashion_available, load_images, to_unit  # noqa: E402
from ganlab.metrics.classifier import WEIGHTS, Classifier, recipe_split  # noqa: E402
from ganlab.optimizers import Adam  # noqa: E402

RECIPES = {
    "digits8": {"hidden": [128], "epochs": 150, "batch": 64, "lr": 2e-3, "wd": 1e-4, "shift": 0,
                "heldout": 0.2, "seed": 0},
    "mnist": {"hidden": [512], "epochs": 100, "batch": 64, "lr": 1e-3, "wd": 1e-4, "shift": 0,
              "affine": {"rot": 12, "scale": 0.1, "shear": 0.15, "shift": 2}, "heldout": 0.1, "seed": 0},
    "fashion": {"hidden": [256], "epochs": 12, "batch": 128, "lr": 1e-3, "wd": 1e-5, "shift": 0,
                "heldout": None, "seed": 0},
}


def shifted(x: np.ndarray, side: int, s: int, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by a random (dy, dx) in [-s, s]^2, background (-1) filled in."""
    if s == 0:
        return x
    img = x.reshape(len(x), side, side)
    pad = np.pad(img, ((0, 0), (s, s), (s, s)), constant_values=-1.0)
    win = np.lib.stride_tricks.sliding_window_view(pad, (side, side), axis=(1, 2))
    dy, dx = rng.integers(0, 2 * s + 1, (2, len(x)))
    return win[np.arange(len(x)), dy, dx].reshape(len(x), -1)


def affine(x: np.ndarray, side: int, a: dict, rng: np.random.Generator) -> np.ndarray:
    """Each image warped by a random rotation (+-``rot`` degrees), scale (1 +- ``scale``), shear
    (+-``shear``) and shift (+-``shift`` pixels) about its centre, sampled bilinearly with
    background (-1) outside: the classic small distortions that make up for 4,500 training digits."""
    n = len(x)
    img = np.pad(x.reshape(n, side, side), ((0, 0), (1, 1), (1, 1)), constant_values=-1.0)
    th = np.radians(rng.uniform(-a["rot"], a["rot"], n))
    sc = 1.0 + rng.uniform(-a["scale"], a["scale"], n)
    sh = rng.uniform(-a["shear"], a["shear"], n)
    t = rng.uniform(-a["shift"], a["shift"], (2, n))
    # Inverse map: source = M (target - c) + c - t, M = R(th) [[1, sh], [0, 1]] / sc.
    c, s_ = np.cos(th) / sc, np.sin(th) / sc
    m00, m01, m10, m11 = c, c * sh - s_, s_, s_ * sh + c
    g = np.arange(side) - (side - 1) / 2
    yy, xx = np.meshgrid(g, g, indexing="ij")
    sy = m00[:, None, None] * yy + m01[:, None, None] * xx + (side - 1) / 2 - t[0][:, None, None] + 1
    sx = m10[:, None, None] * yy + m11[:, None, None] * xx + (side - 1) / 2 - t[1][:, None, None] + 1
    if a.get("elastic"):  # Simard et al. 2003: smoothed random displacement fields, scaled by alpha
        alpha, sigma = a["elastic"]
        g1 = np.arange(side)
        k = np.exp(-((g1[:, None] - g1[None, :]) ** 2) / (2 * sigma**2))
        k /= k.sum(axis=1, keepdims=True)
        field = rng.uniform(-1, 1, (2, n, side, side))
        sy = sy + alpha * (k @ field[0] @ k.T)
        sx = sx + alpha * (k @ field[1] @ k.T)
    sy = np.clip(sy, 0, side + 1 - 1e-6)
    sx = np.clip(sx, 0, side + 1 - 1e-6)
    y0, x0 = np.floor(sy).astype(np.intp), np.floor(sx).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, side + 1), np.minimum(x0 + 1, side + 1)
    fy, fx = (sy - y0).astype(x.dtype), (sx - x0).astype(x.dtype)
    k = np.arange(n)[:, None, None]
    out = (img[k, y0, x0] * (1 - fy) * (1 - fx) + img[k, y0, x1] * (1 - fy) * fx
           + img[k, y1, x0] * fy * (1 - fx) + img[k, y1, x1] * fy * fx)
    return out.reshape(n, -1)


def augment(x, side, r, rng):
    if r.get("affine"):
        return affine(x, side, r["affine"], rng)
    return shifted(x, side, r["shift"], rng)


def train(name: str, epochs: int | None = None, overrides: dict | None = None) -> tuple[Classifier, dict]:
    r = dict(RECIPES[name])
    if epochs:
        r["epochs"] = epochs
    r.update(overrides or {})
    X, y, meta = load_images(name)
    x = to_unit(X, meta["max_value"])
    tr, te = recipe_split(r, y, meta.get("n_train"))
    rng = np.random.default_rng(r["seed"])
    net = Classifier([x.shape[1], *r["hidden"], 10], rng=rng,
                     meta={"data": name, "side": meta["side"], "max_value": meta["max_value"],
                           "classes": meta["classes"], "recipe": r})
    hp = SimpleNamespace(lr=r["lr"], beta1=0.9, beta2=0.999, eps=1e-8)
    opt = Adam(net.size, hp, net.dtype)
    steps_per_epoch = math.ceil(len(tr) / r["batch"])
    total, t = r["epochs"] * steps_per_epoch, 0
    for _ in range(r["epochs"]):
        order = rng.permutation(tr)
        for i in range(0, len(order), r["batch"]):
            idx = order[i : i + r["batch"]]
            hp.lr = r["lr"] * 0.5 * (1 + math.cos(math.pi * t / total))  # cosine decay to 0
            net.loss_grad(augment(x[idx], meta["side"], r, rng), y[idx], r["wd"])
            opt.step(net.params, net.grad)
            t += 1
    result = {"train": len(tr), "heldout": len(te), "train_acc": net.accuracy(x[tr], y[tr]),
              "heldout_acc": net.accuracy(x[te], y[te])}
    net.meta["result"] = result
    return net, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--epochs", type=int, help="override every recipe's epoch count (for trying)")
    ap.add_argument("--set", default="{}", help="JSON overrides of the recipe (for trying), e.g. '{\"wd\": 0}'")
    ap.add_argument("--no-save", action="store_true", help="train and print, do not write weights")
    ap.add_argument("--out", default=str(WEIGHTS), help="folder for the weights (default: the package's)")
    args = ap.parse_args()
    rows = []
    for name in args.data:
        if name == "fashion" and not fashion_available():
            print("fashion: skipped, data not installed (apt-get install dataset-fashion-mnist)")
            continue
        t0 = time.perf_counter()
        net, res = train(name, args.epochs, json.loads(args.set))
        secs = time.perf_counter() - t0
        if not args.no_save:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            net.save(Path(args.out) / f"{name}.npz")
        rows.append((name, "-".join(map(str, net.sizes)), res, secs))
        print(f"{name}: held-out {res['heldout_acc']:.2%} ({secs:.0f} s)", flush=True)
    print(f"\n{'set':8} {'net':12} {'train n':>8} {'held-out n':>10} {'train acc':>9} {'held-out acc':>12} {'s':>5}")
    for name, sizes, res, secs in rows:
        print(f"{name:8} {sizes:12} {res['train']:8d} {res['heldout']:10d} {res['train_acc']:9.2%} "
              f"{res['heldout_acc']:12.2%} {secs:5.0f}")


if __name__ == "__main__":
    main()
