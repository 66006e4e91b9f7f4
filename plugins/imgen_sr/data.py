"""Training data of the sr task from existing LR/HR pairs (``--data HR_DIR --data-lr LR_DIR``).

HR and LR images are matched by their path relative to their folder without the extension
(``HR/city/1.png`` with ``LR/city/1.jpg``), as :func:`imgen_sr.evaluate.find_pairs` matches
evaluation pairs. Each LR image must be exactly ``scale`` times smaller than its HR image
cut to a multiple of ``scale`` (the HR's last rows/columns beyond it are left out, as the
evaluation does); every pair is checked from the file headers before training, and a
missing or mis-sized partner is a DataError that names it.

Indexing contract (shared with :class:`imgen.data.ImageFolderDataset`): ``ds[(index, seed)]``
draws the crop corner on the LR grid and the flips/rotation from ``sample_rng(seed)`` alone;
the LR crop at ``(y, x)`` and the HR crop at ``(y * scale, x * scale)`` cover the same area
and get the same flips. ``ds[index]`` is the centred aligned crop, no augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from imgen.data.datasets import StandIns, cache_per_rank, world_size_env
from imgen.data.folder import Warn, _warn_stderr, decode_image, image_size, scan_images
from imgen.data.transforms import paired_augment, paired_random_crop, sample_rng, to_tensor_uint8
from imgen.errors import DataError

__all__ = ["PairedSRDataset", "match_lr"]

_MAX_NAMED = 5


def _stem(path: Path, folder: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED])
    return shown + (f" and {len(names) - _MAX_NAMED} more" if len(names) > _MAX_NAMED else "")


def match_lr(
    hr_dir: str | Path, lr_dir: str | Path, *, warn: Warn | None = None
) -> list[tuple[Path, Path]]:
    """``(HR, LR)`` path pairs, matched by relative path without the extension.

    Raises:
        DataError: an HR image has no LR partner (the first ones are named), or a folder
            is missing or empty.
    """
    hr_dir, lr_dir = Path(hr_dir), Path(lr_dir)
    hr_files = scan_images(hr_dir)
    lr_by_stem: dict[str, Path] = {}
    for path in scan_images(lr_dir):
        lr_by_stem.setdefault(_stem(path, lr_dir), path)
    missing = [
        p.relative_to(hr_dir).as_posix() for p in hr_files if _stem(p, hr_dir) not in lr_by_stem
    ]
    if missing:
        raise DataError(
            f"{lr_dir} has no LR image for {_listing(missing)} ({len(missing)} of "
            f"{len(hr_files)} HR image(s) in {hr_dir}); name each LR image like its HR image "
            "(the same relative path, any extension)"
        )
    used = {_stem(p, hr_dir) for p in hr_files}
    extra = [p.relative_to(lr_dir).as_posix() for k, p in lr_by_stem.items() if k not in used]
    if extra:
        (warn or _warn_stderr)(
            f"{len(extra)} image(s) in {lr_dir} have no HR image in {hr_dir} and are not "
            f"used: {_listing(extra)}"
        )
    return [(p, lr_by_stem[_stem(p, hr_dir)]) for p in hr_files]


def _check_pair(hr_path: Path, lr_path: Path, hr_hw, lr_hw, scale: int, lr_crop: int) -> None:
    (hr_h, hr_w), (lr_h, lr_w) = hr_hw, lr_hw
    if (lr_h, lr_w) != (hr_h // scale, hr_w // scale):
        raise DataError(
            f"{lr_path} is {lr_w}x{lr_h} (width x height), but its HR image {hr_path} "
            f"({hr_w}x{hr_h}) at x{scale} needs {hr_w // scale}x{hr_h // scale}; make the "
            "LR image from the HR one, or pass the --scale they were made at"
        )
    if lr_h < lr_crop or lr_w < lr_crop:
        raise DataError(
            f"{lr_path} is {lr_w}x{lr_h}, smaller than the {lr_crop}x{lr_crop} LR crop "
            f"(--crop {lr_crop * scale} at x{scale}); use a smaller --crop or remove the pair"
        )


class PairedSRDataset(Dataset):
    """Aligned LR/HR crops from an HR folder and the LR folder made from it.

    Items are ``{"image": HR uint8 (3, crop, crop), "lr": LR uint8 (3, crop / scale,
    crop / scale), "index": int}``.

    Args:
        hr_root: the HR images (recursively).
        lr_root: their LR partners (same relative paths, any extension).
        crop: the HR crop; a multiple of ``scale``.
        scale: the SR factor between the folders.
        augment: random flips and 90-degree rotation, the same for both images.
        cache: decode every pair once at construction (else each access decodes it).
        warn: receives warnings (LR images without an HR partner); default stderr.
    """

    def __init__(
        self,
        hr_root: str | Path,
        lr_root: str | Path,
        crop: int,
        scale: int,
        *,
        augment: bool = True,
        cache: bool = True,
        warn: Warn | None = None,
    ) -> None:
        if scale < 1 or crop < scale or crop % scale:
            raise ValueError(f"crop={crop} must be a positive multiple of scale={scale}.")
        self.crop, self.scale, self.augment = crop, scale, augment
        self.pairs = match_lr(hr_root, lr_root, warn=warn)
        lr_crop = crop // scale
        for hr_path, lr_path in self.pairs:
            _check_pair(hr_path, lr_path, image_size(hr_path), image_size(lr_path), scale, lr_crop)
        self.paths = [hr for hr, _ in self.pairs]
        self._read = StandIns(self.pairs, self._decode, warn)
        if cache and world_size_env() > 1:  # a large set: not one decoded copy per rank
            cache = cache_per_rank(hr_root, self.paths, warn)
        self._cache = [self._decode(i) for i in range(len(self.pairs))] if cache else None

    def _decode(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        hr_path, lr_path = self.pairs[index]
        hr, lr = decode_image(hr_path), decode_image(lr_path)
        lr_h, lr_w = lr.shape[:2]
        if (lr_h, lr_w) != (hr.shape[0] // self.scale, hr.shape[1] // self.scale):
            raise DataError(f"{lr_path} no longer matches {hr_path} at x{self.scale}")
        return hr[: lr_h * self.scale, : lr_w * self.scale], lr

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        index, seed = (int(item[0]), int(item[1])) if isinstance(item, tuple) else (int(item), None)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} pairs.")
        index %= len(self)
        hr, lr = self._cache[index] if self._cache is not None else self._read(index)
        s, lr_crop = self.scale, self.crop // self.scale
        if seed is None:
            top, left = (lr.shape[0] - lr_crop) // 2, (lr.shape[1] - lr_crop) // 2
            lr = lr[top : top + lr_crop, left : left + lr_crop]
            hr = hr[top * s : (top + lr_crop) * s, left * s : (left + lr_crop) * s]
        else:
            rng = sample_rng(seed)
            lr, hr = paired_random_crop([lr, hr], self.crop, rng, scales=[1, s])
            if self.augment:
                lr, hr = paired_augment([lr, hr], rng)
        return {"image": to_tensor_uint8(hr), "lr": to_tensor_uint8(lr), "index": index}
