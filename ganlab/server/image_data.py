"""Image sets as the server offers them: picker entries for ``/api/schema`` and their presets.

The sets themselves are :data:`ganlab.data.images.IMAGE_SETS` (vendored 8x8 digits and MNIST-5k,
Fashion-MNIST when Debian's package is installed); the engine trains on them by name
(``Trainer(data="mnist")``).
"""

from __future__ import annotations

import copy
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
           "preset": image_preset(name), "presets": image_presets(name), "has_modes": False, "takes_params": False,
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


def image_presets(name: str) -> dict[str, dict[str, Any]]:
    """The named presets of an image set (``recommended``, and ``collapse``: a setting that writes
    few classes on purpose, for teaching), as config changes; {} if none is defined. An uploaded
    set takes the presets of the built-in set of its size (8x8 digits or MNIST)."""
    try:
        from ganlab.data.image_presets import IMAGE_PRESETS
    except ImportError:  # the engine defines none
        return {}
    if name.startswith("upload-") and name in IMAGE_SETS:
        name = "digits8" if IMAGE_SETS[name]["side"] <= 8 else "mnist"
    return copy.deepcopy(IMAGE_PRESETS.get(name, {}))


def image_preset(name: str) -> dict[str, Any]:
    """The recommended hyperparameters of an image set, {} if none is defined."""
    return image_presets(name).get("recommended", {})


__all__ = ["image_distribution", "image_preset", "image_presets", "is_image_set"]
