"""Image sets as the server offers them: picker entries for ``/api/schema`` and their presets.

The sets themselves are :data:`ganlab.data.images.IMAGE_SETS` (vendored 8x8 digits and MNIST-5k,
Fashion-MNIST when Debian's package is installed); the engine trains on them by name
(``Trainer(data="mnist")``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganlab.data.images import IMAGE_SETS, ImageDataError, load_images


def is_image_set(name: Any) -> bool:
    return isinstance(name, str) and name in IMAGE_SETS


def image_distribution(name: str) -> dict[str, Any]:
    """A picker entry for an image set: ``kind`` "images", its ``image_shape`` and ``classes``,
    whether it is ``available`` (Fashion-MNIST only when installed; ``unavailable`` says how to
    get it), four real images as ``preview_images`` (rows of h*w values 0..255) and its preset."""
    info = IMAGE_SETS[name]
    side = info["side"]
    out = {"name": name, "label": info["label"], "kind": "images",
           "description": f"{info['label']}: {side}x{side} images, {len(info['classes'])} classes. "
                          f"{info['source']} ({info['licence']})",
           "preset": image_preset(name), "has_modes": False, "takes_params": False,
           "default_params": None, "preview": None, "trained": False,
           "image_shape": [side, side], "classes": list(info["classes"]),
           "available": True, "unavailable": None, "preview_images": None}
    try:
        X, y, meta = load_images(name)
    except ImageDataError as e:
        return {**out, "available": False, "unavailable": str(e)}
    scale = 255.0 / meta["max_value"]
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(4) if (y == c).any()]
    out["preview_images"] = [np.rint(X[i].astype(float) * scale).astype(int).ravel().tolist() for i in picks]
    return out


def image_preset(name: str) -> dict[str, Any]:
    """The recommended hyperparameters of an image set (dotted keys), {} if none is defined. An
    uploaded set takes the preset of the built-in set of its size (8x8 digits or MNIST)."""
    try:
        from ganlab.data.presets import image_preset as preset
    except ImportError:
        return {}
    if name.startswith("upload-") and name in IMAGE_SETS:
        name = "digits8" if IMAGE_SETS[name]["side"] <= 8 else "mnist"
    return dict(preset(name) or {})


__all__ = ["image_distribution", "image_preset", "is_image_set"]
