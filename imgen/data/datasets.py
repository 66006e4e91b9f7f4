"""A dataset of the images in one folder, with seed-addressed random crops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from torch.utils.data import Dataset

from imgen.data.folder import (
    SizeLike,
    Warn,
    _warn_stderr,
    decode_image,
    load_images,
    probe_images,
    scan_images,
)
from imgen.data.transforms import (
    center_crop,
    paired_augment,
    paired_random_crop,
    sample_rng,
    to_tensor_uint8,
)
from imgen.errors import DataError

Item = int | tuple[int, int]
T = TypeVar("T")


class StandIns(Generic[T]):
    """Reads item ``i`` of a lazily decoded folder, standing in the next readable item for one
    that stopped being readable after the folder was checked.

    Without caching only the headers are checked before training, so a file truncated past
    its header, or deleted or replaced mid-run, fails at its first use, possibly at step
    10,000 and in a worker process. Such an item is replaced by the next one (``i + 1``,
    ``i + 2``, ... cyclically) that reads: a choice that depends on the files alone, so a
    resumed run draws the same stand-ins. Each broken file is warned about once (per process)
    by name; when more than half of the items cannot be read the run stops with a DataError,
    since what it would train on is no longer the data it was given.

    Args:
        paths: what to name in the messages, one entry per item (a path or a tuple of paths).
        read: reads item ``i``; raises :class:`imgen.errors.DataError` when it cannot.
        warn: receives each warning (default: one line on stderr).
    """

    def __init__(
        self,
        paths: Sequence[object],
        read: Callable[[int], T],
        warn: Warn | None = None,
    ) -> None:
        self.paths, self._read, self._warn = paths, read, warn or _warn_stderr
        self.broken: set[int] = set()

    def __call__(self, index: int) -> T:
        count = len(self.paths)
        for offset in range(count):
            i = (index + offset) % count
            if i in self.broken:
                continue
            try:
                return self._read(i)
            except DataError as exc:
                self._broke(i, exc)
        raise AssertionError("unreachable: _broke raises before every item is broken")

    def _broke(self, index: int, exc: DataError) -> None:
        self.broken.add(index)
        count, name = len(self.paths), _describe(self.paths[index])
        if len(self.broken) * 2 > count:
            raise DataError(
                f"{len(self.broken)} of the {count} training images can no longer be read "
                f"(the last: {name}: {exc}); restore the data folder, then continue with "
                "--resume."
            ) from exc
        self._warn(
            f"{name} can no longer be read ({exc}); training goes on with the next readable "
            "image in its place (the same one on --resume)"
        )


def _describe(path: object) -> str:
    if isinstance(path, tuple):
        return " + ".join(str(p) for p in path)
    return str(path)


class ImageSet:
    """The images of a folder, decoded once into memory (``cache``) or on each access.

    Corrupt files are skipped with one warning; an image smaller than ``min_size`` is a
    DataError (checked from the headers alone when not caching).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        min_size: SizeLike | None = None,
        cache: bool = True,
        warn: Warn | None = None,
    ) -> None:
        paths = scan_images(folder)
        self._images: list[np.ndarray] | None
        if cache:
            self._images, self.paths = load_images(paths, min_size=min_size, warn=warn)
        else:
            self._images = None
            _, self.paths = probe_images(paths, min_size=min_size, warn=warn)
        # A method, not a lambda: workers started with spawn (macOS, Windows) pickle the set.
        self._decode = StandIns(self.paths, self._decode_file, warn)

    def _decode_file(self, index: int) -> np.ndarray:
        return decode_image(self.paths[index])

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as an (H, W, 3) uint8 array (shared when cached: do not modify).

        Not cached, a file that can no longer be decoded is replaced by the next readable
        one, with a warning (see :class:`StandIns`).
        """
        if self._images is not None:
            return self._images[index]
        return self._decode(index)


class ImageFolderDataset(Dataset):
    """The images under `root` (recursively), as uint8 (3, H, W) tensors.

    Indexing contract (what makes resumed runs exact):

    - ``ds[index]``: deterministic, for evaluation: a centre crop of `crop` pixels, no
      augmentation.
    - ``ds[(index, seed)]``: for training: the random crop and the flips/rotation are drawn
      from ``sample_rng(seed)`` only, so the same pair always gives the same pixels, in any
      worker process and after a restart. `SampleStream` yields such pairs.

    With ``crop=None`` the whole image is returned, its bottom/right edges cropped to a
    multiple of `multiple` (so a network that needs sizes divisible by 8 can take it).
    ``draw``, when given, is called with the sample's generator after the crop and flips and
    its dict is added to the item: per-sample random parameters that the task applies later,
    batched on the device (SR's degradations); ``ds[index]`` gives it ``sample_rng(index)``.
    With ``cache=True`` every image is decoded once into memory (uint8); otherwise it is
    decoded on each access and only the headers are checked at construction. Undecodable
    files are skipped with one warning; an image smaller than the crop is a DataError here,
    not a surprise at step 10,000.
    """

    def __init__(
        self,
        root: str | Path,
        crop: int | None,
        *,
        augment: bool = True,
        cache: bool = True,
        multiple: int = 1,
        warn: Warn | None = None,
        draw: Callable[[np.random.Generator], dict] | None = None,
    ) -> None:
        if multiple < 1:
            raise ValueError(f"multiple must be a positive integer, got {multiple}.")
        if crop is not None and (crop <= 0 or crop % multiple):
            raise ValueError(f"crop={crop} must be a positive multiple of {multiple}.")
        self.root = Path(root)
        self.crop = crop
        self.augment = augment
        self.multiple = multiple
        self.draw = draw
        min_size = crop if crop is not None else multiple
        self._set = ImageSet(self.root, min_size=min_size, cache=cache, warn=warn)
        self.paths = self._set.paths

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """The full decoded image `index` as an (H, W, 3) uint8 array (do not modify it)."""
        return self._set.image(index)

    def __getitem__(self, item: Item) -> dict[str, Any]:
        if isinstance(item, tuple):
            index, seed = int(item[0]), int(item[1])
        else:
            index, seed = int(item), None
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} images.")
        index %= len(self)
        img = self.image(index)
        rng = sample_rng(seed) if seed is not None else None
        if self.crop is None:
            height, width = img.shape[:2]
            img = img[: height - height % self.multiple, : width - width % self.multiple]
        elif rng is None:
            img = center_crop(img, self.crop)
        else:
            (img,) = paired_random_crop([img], self.crop, rng)
        if rng is not None and self.augment:
            (img,) = paired_augment([img], rng)
        item: dict = {"image": to_tensor_uint8(img), "index": index}
        if self.draw is not None:
            item.update(self.draw(rng if rng is not None else sample_rng(index)))
        return item
