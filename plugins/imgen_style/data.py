"""Unpaired data for the style task: two folders of images, one per domain (CycleGAN).

`find_domains` locates the two folders (``trainA/`` + ``trainB/``, ``testA/`` + ``testB/``, or
``A/`` + ``B/``; explicit ``--data-a``/``--data-b`` win). `UnalignedDataset` serves one image
of each domain per item; the domains may differ in count and in image size.

Indexing contract (shared with `imgen.data.datasets.ImageFolderDataset`): ``ds[index]`` is
deterministic (evaluation: A[index % nA] and B[index % nB], no random crop, no flip);
``ds[(index, seed)]`` draws every random choice (the B image, crop corners, flips) from
``sample_rng(seed)`` alone, so the same pair gives the same pixels in any worker and after a
resume. Items hold uint8 (3, H, W) tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from imgen.data.datasets import ImageSet
from imgen.data.folder import Warn, scan_images
from imgen.data.transforms import (
    check_crop_sizes,
    paired_augment,
    paired_random_crop,
    sample_rng,
    to_tensor_uint8,
)
from imgen.errors import DataError

__all__ = ["UnalignedDataset", "find_domains", "test_pairs"]

Item = int | tuple[int, int]

_FIX = "pass --data DIR with trainA/ and trainB/, or --data-a X --data-b Y"


def find_domains(
    root: str | Path | None,
    split: str,
    data_a: str | Path | None = None,
    data_b: str | Path | None = None,
) -> tuple[Path, Path]:
    """The (A, B) domain folders for `split` ("train", "test", ...).

    Explicit `data_a` and `data_b` win, for every split. Otherwise ``root/<split>A`` +
    ``root/<split>B`` (``trainA``/``trainB`` for "train", ``testA``/``testB`` for "test"),
    falling back to ``root/A`` + ``root/B``.

    Raises:
        DataError: only one of data_a/data_b is given, a folder is missing, or `root` holds
            neither pair of folders (the message names what is missing and the fix).
    """
    data_a, data_b = data_a or None, data_b or None  # "" (an unset option) is not given
    if data_a is not None or data_b is not None:
        if data_a is None or data_b is None:
            given, lacking = (
                ("--data-a", "--data-b") if data_a is not None else ("--data-b", "--data-a")
            )
            raise DataError(f"{given} was given without {lacking}; {_FIX}.")
        dirs = (Path(data_a), Path(data_b))
        for flag, folder in zip(("--data-a", "--data-b"), dirs, strict=True):
            if not folder.is_dir():
                raise DataError(
                    f"The {flag} folder {folder} does not exist or is not a folder; {_FIX}."
                )
        return dirs
    if root is None:
        raise DataError(f"No data given; {_FIX}.")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"The data folder {root} does not exist or is not a folder; {_FIX}.")
    candidates = [(f"{split}A", f"{split}B"), ("A", "B")]
    for a_name, b_name in candidates:
        a_dir, b_dir = root / a_name, root / b_name
        if a_dir.is_dir() and b_dir.is_dir():
            return a_dir, b_dir
        if a_dir.is_dir() or b_dir.is_dir():
            have, lack = (a_name, b_name) if a_dir.is_dir() else (b_name, a_name)
            raise DataError(f"{root} has {have}/ but no {lack}/; add {root / lack}, or {_FIX}.")
    tried = " or ".join(f"{a}/+{b}/" for a, b in candidates)
    raise DataError(f"{root} has no {tried} for split {split!r}; {_FIX}.")


def test_pairs(dir_a: str | Path, dir_b: str | Path) -> list[tuple[Path, Path]]:
    """(a, b) files with the same name (relative path without extension) in both folders.

    Test folders of some data sets (facades' testA/testB) are paired by name; this finds
    those pairs, sorted by A's path, or returns an empty list when no name is shared. When a
    folder holds several files of one name (``1.jpg`` and ``1.png``) the first in sorted
    order is used.
    """
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    b_keyed: dict[str, Path] = {}
    for path in scan_images(dir_b):
        b_keyed.setdefault(path.relative_to(dir_b).with_suffix("").as_posix(), path)
    pairs: list[tuple[Path, Path]] = []
    seen: set[str] = set()
    for path in scan_images(dir_a):
        key = path.relative_to(dir_a).with_suffix("").as_posix()
        if key in b_keyed and key not in seen:
            seen.add(key)
            pairs.append((path, b_keyed[key]))
    return pairs


test_pairs.__test__ = False  # not a pytest test, despite its name


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to size x size with PIL's bicubic filter."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.array(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))


class UnalignedDataset(Dataset):
    """Unpaired images of two domains A and B (CycleGAN's unaligned dataset).

    Items are ``{"A": uint8 (3, H, W), "B": uint8 (3, H, W), "index": int}``; the length is
    max(nA, nB).

    - ``ds[(index, seed)]`` (training): A is ``A[index % nA]``, B is drawn at random
      (``rng.integers(nB)``, CycleGAN with serial_batches off), rng = ``sample_rng(seed)``.
      Each image independently: resized (PIL bicubic) to load_size x load_size if set, a
      random `crop` x `crop` crop, and with `augment` a random horizontal flip; A and B get
      separate corners and flips.
    - ``ds[index]`` (evaluation, deterministic): ``A[index % nA]`` and ``B[index % nB]``,
      resized to crop x crop when `load_size` is set (pix2pix/CycleGAN test phase), else
      the full images unchanged (the two may differ in size).

    With ``cache=True`` every image is decoded once into memory (uint8); otherwise only the
    headers are read here and images are decoded on access. Without `load_size`, an image
    smaller than `crop` is a DataError naming the file. ``crop=None`` means no crop.
    """

    def __init__(
        self,
        dir_a: str | Path,
        dir_b: str | Path,
        *,
        crop: int | None,
        load_size: int | None,
        augment: bool,
        cache: bool = True,
        warn: Warn | None = None,
    ) -> None:
        check_crop_sizes(crop, load_size)
        self.dir_a, self.dir_b = Path(dir_a), Path(dir_b)
        self.crop = crop
        self.load_size = load_size
        self.augment = augment
        min_size = crop if load_size is None else None
        self._a = ImageSet(self.dir_a, min_size=min_size, cache=cache, warn=warn)
        self._b = ImageSet(self.dir_b, min_size=min_size, cache=cache, warn=warn)

    @property
    def paths_a(self) -> list[Path]:
        """The A files, sorted (undecodable files left out)."""
        return self._a.paths

    @property
    def paths_b(self) -> list[Path]:
        """The B files, sorted (undecodable files left out)."""
        return self._b.paths

    def __len__(self) -> int:
        return max(len(self._a), len(self._b))

    def _train(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.load_size is not None:
            img = _resize(img, self.load_size)
        if self.crop is not None:
            (img,) = paired_random_crop([img], self.crop, rng)
        if self.augment:
            (img,) = paired_augment([img], rng, hflip=True, vflip=False, rot90=False)
        return img

    def __getitem__(self, item: Item) -> dict[str, torch.Tensor | int]:
        if isinstance(item, tuple):
            index, seed = int(item[0]), int(item[1])
        else:
            index, seed = int(item), None
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {n} images.")
        index %= n
        a = self._a.image(index % len(self._a))
        if seed is None:
            b = self._b.image(index % len(self._b))
            if self.load_size is not None:
                size = self.crop if self.crop is not None else self.load_size
                a, b = _resize(a, size), _resize(b, size)
        else:
            rng = sample_rng(seed)
            b = self._b.image(int(rng.integers(len(self._b))))
            a = self._train(a, rng)
            b = self._train(b, rng)
        return {"A": to_tensor_uint8(a), "B": to_tensor_uint8(b), "index": index}
