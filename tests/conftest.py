"""Shared fixtures: tiny real photos (crops of scikit-image's samples), no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
    """Four 64x64 crops of real photos (astronaut, coffee, chelsea, rocket) as PNG files."""
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = np.asarray(getattr(skimage.data, name)())
        h, w = image.shape[:2]
        crop = image[h // 2 - 32 : h // 2 + 32, w // 2 - 32 : w // 2 + 32]
        Image.fromarray(crop).save(folder / f"{name}.png")
    return folder
