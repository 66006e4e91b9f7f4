"""Training data of the dcgan task: square images of one size, their classes, and noise.

Any folder of images works: each image is resized (bicubic) so that its shorter side is the
image size and centre-cropped to a square. With ``--conditional`` the subfolders of the data
folder are the classes. With no folder, the faces of scikit-image's LFW subset are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from imgen.data.datasets import ImageSet
from imgen.data.folder import IMAGE_EXTENSIONS, Warn, _warn_stderr, is_image_file
from imgen.data.folder import image_size as image_size_of
from imgen.data.transforms import center_crop, sample_rng
from imgen.errors import DataError, MissingFolderError

__all__ = [
    "LFW_CLASSES",
    "ArraySet",
    "GenerationDataset",
    "find_classes",
    "fit_square",
    "folder_sets",
    "lfw_sets",
    "parse_classes",
]

#: The two halves of ``skimage.data.lfw_subset()``: 100 faces, then 100 background patches.
LFW_CLASSES: tuple[str, ...] = ("face", "background")


class _Images(Protocol):
    def __len__(self) -> int: ...
    def image(self, index: int) -> np.ndarray: ...


class ArraySet:
    """In-memory images with :class:`imgen.data.datasets.ImageSet`'s interface."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self._images = images

    def __len__(self) -> int:
        return len(self._images)

    def image(self, index: int) -> np.ndarray:
        return self._images[index]


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image so its shorter side is ``size``, then centre-crop.

    Bicubic resampling: Pillow antialiases when it shrinks, and when it enlarges (e.g. the
    25x25 LFW faces to 64x64) the result is smooth rather than blocky; no detail is invented.

    Example:
        >>> fit_square(np.zeros((30, 60, 3), np.uint8), 16).shape
        (16, 16, 3)
    """
    height, width = image.shape[:2]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        image = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BICUBIC))
    return np.ascontiguousarray(center_crop(image, size))


def _to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, channels); one channel is ITU-R 601 luma, as Pillow's "L"."""
    if channels == 3:
        return image
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]


def lfw_sets(classes: list[str]) -> list[ArraySet]:
    """The LFW subset bundled with scikit-image (25x25 grayscale, replicated to RGB).

    ``["face"]`` gives its 100 faces; ``["face", "background"]`` both halves, as two classes.
    """
    import skimage.data

    data = np.asarray(skimage.data.lfw_subset())  # (200, 25, 25), float in [0, 1]
    if data.dtype != np.uint8:
        data = np.clip(np.rint(data.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    halves = {"face": data[:100], "background": data[100:]}
    unknown = [c for c in classes if c not in halves]
    if unknown:
        raise DataError(
            f"the built-in LFW data has the classes {', '.join(LFW_CLASSES)}, not "
            f"{', '.join(unknown)}; pass --data DIR to train on your own classes."
        )
    return [ArraySet([np.repeat(x[:, :, None], 3, axis=2) for x in halves[c]]) for c in classes]


def parse_classes(text: str) -> list[str]:
    """``"cat,dog"`` -> ``["cat", "dog"]`` (the stored form of a conditional run's classes)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def find_classes(root: str | Path, wanted: list[str] | None = None) -> list[str]:
    """The class names of a conditional data folder: its subfolders, sorted.

    Args:
        root: the data folder.
        wanted: use these subfolders only (in this order); each must exist.

    Raises:
        DataError: when the folder has no subfolders, images lying directly in it (they would
            have no class), fewer than two classes, or a name that cannot be stored.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingFolderError(
            f"The data folder {root} does not exist; check the path given to --data."
        )
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if wanted:
        missing = [c for c in wanted if c not in folders]
        if missing:
            raise DataError(
                f"{root} has no class folder {', '.join(map(repr, missing))}; its subfolders "
                f"are: {', '.join(folders) or 'none'}."
            )
        return list(wanted)
    loose = [p for p in root.iterdir() if p.is_file() and is_image_file(p)]
    if loose:
        raise DataError(
            f"{len(loose)} image(s) lie directly in {root} (e.g. {loose[0].name}), where they "
            "have no class: --conditional reads the classes from subfolders, so move each "
            "image into DIR/<class name>/."
        )
    if len(folders) < 2:
        raise DataError(
            f"--conditional needs at least two class subfolders in {root}, found "
            f"{len(folders)}; put each class's images in {root}/<class name>/."
        )
    bad = [c for c in folders if "," in c]
    if bad:
        raise DataError(
            f"class folder names may not contain commas ({bad[0]!r} in {root}); rename it."
        )
    return folders


class GenerationDataset(Dataset):
    """Square images of one size with a class label and a noise vector per sample.

    Items are ``{"image": uint8 (C, S, S), "label": int, "z": float32 (z_dim,)}``. Indexing
    follows :class:`imgen.data.ImageFolderDataset`: ``ds[(index, seed)]`` (training) draws the
    horizontal flip and the noise from ``seed`` alone, so resumed runs see the same samples;
    ``ds[index]`` is unflipped with the noise of seed ``index``.

    Args:
        sets: one image set per class (a single set when unconditional).
        image_size: the output size S.
        channels: 3 (RGB) or 1 (luma).
        z_dim: length of the noise vector.
        flip: random horizontal flips in training.
        cache: resize every image once, up front (uint8 at S x S); otherwise on each access.
        warn: receives the warning about images smaller than S (default: stderr).
    """

    def __init__(
        self,
        sets: list[_Images],
        *,
        image_size: int,
        channels: int = 3,
        z_dim: int = 100,
        flip: bool = True,
        cache: bool = True,
        warn: Warn | None = None,
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}.")
        self.sets, self.image_size, self.channels = sets, image_size, channels
        self.z_dim, self.flip = z_dim, flip
        self.index = [(s, i) for s in range(len(sets)) for i in range(len(sets[s]))]
        self.labels = [s for s, _ in self.index]
        self._fitted: list[np.ndarray] | None = None
        sizes: list[tuple[int, int]] = []
        if cache:
            raws = [sets[s].image(i) for s, i in self.index]
            sizes = [raw.shape[:2] for raw in raws]
            self._fitted = [_to_channels(fit_square(r, image_size), channels) for r in raws]
        else:  # the headers tell the sizes without decoding
            sizes = [image_size_of(p) for s in sets for p in getattr(s, "paths", [])]
        small = sum(min(size) < image_size for size in sizes)
        # The built-in LFW faces are 25x25 by design (the help says so): no warning for them.
        if small and not all(isinstance(s, ArraySet) for s in sets):
            (warn or _warn_stderr)(
                f"{small} of {len(self.index)} image(s) are smaller than {image_size} pixels "
                "and are enlarged (bicubic): samples will be no sharper than they are."
            )

    def _fit(self, s: int, i: int) -> np.ndarray:
        return _to_channels(fit_square(self.sets[s].image(i), self.image_size), self.channels)

    def __len__(self) -> int:
        return len(self.index)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as an (S, S, C) uint8 array, unflipped."""
        if self._fitted is not None:
            return self._fitted[index]
        return self._fit(*self.index[index])

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        index, seed = (int(item[0]), int(item[1])) if isinstance(item, tuple) else (int(item), None)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} images.")
        index %= len(self)
        image = self.image(index)
        if seed is not None and self.flip and sample_rng(seed).random() < 0.5:
            image = image[:, ::-1]
        generator = torch.Generator().manual_seed(seed if seed is not None else index)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "label": self.labels[index],
            "z": torch.randn(self.z_dim, generator=generator),
        }


def folder_sets(
    root: str | Path, classes: list[str] | None, *, warn: Warn | None = None
) -> list[ImageSet]:
    """One :class:`ImageSet` for the whole folder (``classes=None``) or one per class folder.

    The sets read headers only: :class:`GenerationDataset` keeps the images at the training
    size, so full-size copies (gigabytes for a face data set) are never held in memory.
    """
    root = Path(root)
    if classes is None:
        return [ImageSet(root, cache=False, warn=warn)]
    sets = []
    for name in classes:
        try:
            sets.append(ImageSet(root / name, cache=False, warn=warn))
        except DataError as exc:
            if "No images found" not in str(exc):
                raise
            raise DataError(
                f"the class folder {root / name} holds no images (looked for "
                f"{', '.join(IMAGE_EXTENSIONS)}); add some or remove the folder."
            ) from None
    return sets
