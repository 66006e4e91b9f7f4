"""A dataset of the images in one folder, with seed-addressed random crops."""

from __future__ import annotations

import os
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


# Above these a plain folder is "large": `imgen prepare` is suggested, once.
LARGE_IMAGES = 500
LARGE_BYTES = 2 * 10**9
_suggested: set[str] = set()


def world_size_env() -> int:
    """WORLD_SIZE as the launcher (torchrun, --nproc) sets it; 1 outside a job."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _suggest_prepare(folder: str | Path, why: str, warn: Warn | None) -> None:
    """One line, once per folder and process, pointing a large folder at ``imgen prepare``."""
    if str(folder) in _suggested or (world_size_env() > 1 and os.environ.get("RANK", "0") != "0"):
        return
    _suggested.add(str(folder))
    (warn or _warn_stderr)(
        f"{folder} is a large folder ({why}); `imgen prepare --data {folder} -o DATASET` once, "
        "then --data DATASET, reads sub-images instead (faster, bounded memory)"
    )


def cache_per_rank(folder: str | Path, paths: list[Path], warn: Warn | None) -> bool:
    """Whether to cache a folder when WORLD_SIZE > 1: only when it is small.

    Each rank would hold its own decoded copy (800 DIV2K images: 6.6 GB per rank, 53 GB on an
    8-GPU node), so a large folder (more than LARGE_IMAGES images, or LARGE_BYTES decoded by
    the headers' estimate) is decoded on access instead, said in one line. A prepared dataset
    is the way to share: its shards sit in the page cache once for every rank.
    """
    from imgen.data.folder import image_size

    decoded = 0
    if len(paths) <= LARGE_IMAGES:
        for path in paths:
            try:
                height, width = image_size(path)
            except DataError:
                continue  # reported by the load itself
            decoded += height * width * 3
        if decoded <= LARGE_BYTES:
            return True
    if os.environ.get("RANK", "0") == "0":
        size = f"{decoded / 1e9:.1f} GB decoded" if decoded else f"{len(paths)} images"
        (warn or _warn_stderr)(
            f"{folder} is not cached ({size}): each of the {world_size_env()} ranks would hold "
            f"its own copy; `imgen prepare --data {folder} -o DATASET` makes a dataset all "
            "ranks share"
        )
    _suggested.add(str(folder))
    return False


def _refuse_prepared(folder: str | Path) -> None:
    from imgen.data.prepared import is_prepared

    if is_prepared(folder):
        raise DataError(
            f"{folder} is a dataset made by imgen prepare, which this task does not read; "
            "give it the folder of images it was prepared from."
        )


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
        _refuse_prepared(folder)
        paths = scan_images(folder)
        self._images: list[np.ndarray] | None
        if cache and world_size_env() > 1:
            cache = cache_per_rank(folder, paths, warn)
        if cache:
            self._images, self.paths = load_images(paths, min_size=min_size, warn=warn)
            decoded = sum(img.nbytes for img in self._images)
            if decoded > LARGE_BYTES:
                _suggest_prepare(folder, f"{decoded / 1e9:.1f} GB decoded in memory", warn)
        else:
            self._images = None
            sizes, self.paths = probe_images(paths, min_size=min_size, warn=warn)
            if len(paths) > LARGE_IMAGES or sum(h * w * 3 for h, w in sizes) > LARGE_BYTES:
                _suggest_prepare(folder, "each crop decodes a whole image", warn)
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


def training_images(
    root: str | Path,
    crop: int | None,
    *,
    augment: bool = True,
    cache: bool = True,
    multiple: int = 1,
    warn: Warn | None = None,
    draw: Callable[[np.random.Generator], dict] | None = None,
    paired: bool = False,
) -> Dataset:
    """The training images of `root`: a :class:`imgen.data.prepared.PreparedDataset` when
    `root` was written by ``imgen prepare`` (its manifest), else an `ImageFolderDataset`.

    Both have the same item contract, so a task's dataset() calls this and works with either;
    `cache` applies to image folders only (a prepared set is read from the page cache, shared
    by every process on the machine). `paired` asks a prepared set for its stored LR crops.
    """
    from imgen.data.prepared import PreparedDataset, is_prepared

    if is_prepared(root):
        return PreparedDataset(
            root, crop, augment=augment, paired=paired, multiple=multiple, warn=warn, draw=draw
        )
    return ImageFolderDataset(
        root, crop, augment=augment, cache=cache, multiple=multiple, warn=warn, draw=draw
    )
