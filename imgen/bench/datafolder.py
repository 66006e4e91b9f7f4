"""A data folder that every task can read, made of real photos, for the benchmark runs.

``ROOT/trainA/NAME.png`` and ``ROOT/trainB/NAME.png`` with matching names: the paired layout
(translate), the two unpaired domains (style), and, scanned recursively, a plain folder of
photos (sr, dcgan). The photos are scikit-image's bundled samples (no download), each
centre-cropped to a square and resized to ``size`` so that any training crop up to ``size``
fits; B is A mirrored, so paired tasks see a real, if easy, mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _square(image: np.ndarray, size: int) -> Image.Image:
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image[top : top + side, left : left + side])
    return crop.convert("RGB").resize((size, size), Image.BICUBIC)


def photos(limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 array) of scikit-image's sample photos that ship with its wheel."""
    import skimage.data

    from imgen.data.samples import SKIMAGE_PHOTOS

    out = []
    for name in SKIMAGE_PHOTOS[:limit]:
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a photo this scikit-image version lacks or would download
            continue
        if image.dtype != np.uint8:
            image = (255 * (image.astype(np.float64) / max(image.max(), 1))).astype(np.uint8)
        out.append((name, image))
    return out


def make_data_folder(root: str | Path, size: int, count: int = 16) -> Path:
    """Write the folder (``count`` photo pairs of ``size`` x ``size``) and return it."""
    root = Path(root)
    for split in ("trainA", "trainB"):
        (root / split).mkdir(parents=True, exist_ok=True)
    for name, image in photos(count):
        a = _square(image, size)
        a.save(root / "trainA" / f"{name}.png")
        a.transpose(Image.FLIP_LEFT_RIGHT).save(root / "trainB" / f"{name}.png")
    return root


def sample_image(size: int, index: int = 0) -> np.ndarray:
    """One (size, size, 3) uint8 photo for inference and metrics (a real image, not noise)."""
    found = photos(index + 1)
    return np.array(_square(found[index % len(found)][1], size))  # writable, for torch
