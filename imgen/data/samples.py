"""Scikit-image's bundled photos as a ready-made training folder (no download needed)."""

from __future__ import annotations

import os
from pathlib import Path

# Photos that ship inside scikit-image's wheel (no pooch download). Grayscale ones are fine:
# decoding turns them into RGB.
SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "immunohistochemistry",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
    "coins",
    "moon",
    "page",
    "clock",
    "text",
    "colorwheel",
)


def sample_folder(cache: str | Path | None = None) -> Path:
    """A folder holding scikit-image's sample photos as PNG files, written once.

    Args:
        cache: where to write them [default: ``$IMGEN_CACHE`` or ``~/.cache/imgen``].
    """
    import numpy as np
    import skimage.data
    from PIL import Image

    root = Path(cache or os.environ.get("IMGEN_CACHE") or Path.home() / ".cache" / "imgen")
    folder = root / "skimage-samples"
    folder.mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE_PHOTOS:
        path = folder / f"{name}.png"
        if path.exists():
            continue
        try:
            image = getattr(skimage.data, name)()
        except Exception:  # a photo this scikit-image version lacks or would download
            continue
        image = np.asarray(image)
        if image.dtype != np.uint8:
            image = (255 * (image.astype(np.float64) / max(image.max(), 1))).astype(np.uint8)
        tmp = path.with_suffix(".tmp.png")
        Image.fromarray(image).save(tmp)
        os.replace(tmp, path)
    return folder
