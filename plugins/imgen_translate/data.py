"""Paired data for the translate task: A/B folders, pix2pix AB images, or plain photos.

Three folder layouts are recognised (`find_layout`), in this order:

- ``pairs``: ``trainA/`` + ``trainB/`` (``testA/`` + ``testB/``, else ``valA/`` + ``valB/`` for
  the test split), or ``A/`` + ``B/`` for any split. Files are matched by name without the
  extension (``trainA/1.jpg`` pairs with ``trainB/1.png``); subfolders are matched by their
  relative path.
- ``ab``: pix2pix side-by-side images (A on the left half, B on the right) in ``train/``,
  ``val/`` or ``test/`` (the test split reads ``test/``, else ``val/``).
- ``single``: a plain folder of photos (none of the folders above), from which the task
  derives the condition (edges, grayscale, ...; see `conditions`).

Indexing contract (shared with `imgen.data.datasets.ImageFolderDataset`): ``ds[index]`` is
deterministic (evaluation: no random crop, no flip); ``ds[(index, seed)]`` draws every random
choice (crop corner, flip, mask holes) from ``sample_rng(seed)`` alone, so the same pair gives
the same pixels in any worker and after a resume. Items hold uint8 (3, H, W) tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from imgen.data.datasets import StandIns
from imgen.data.folder import (
    Warn,
    _warn_stderr,
    decode_image,
    load_images,
    probe_images,
    scan_images,
)
from imgen.data.transforms import (
    check_crop_sizes,
    paired_augment,
    paired_random_crop,
    sample_rng,
    to_tensor_uint8,
)
from imgen.errors import DataError, UsageError

__all__ = [
    "CONDITION_CHOICES",
    "Layout",
    "PairedDataset",
    "PhotoDataset",
    "build_dataset",
    "find_layout",
    "hole_mask",
]

Item = int | tuple[int, int]
LayoutKind = Literal["pairs", "ab", "single"]

# The names `conditions.CONDITIONS` defines; repeated here so data.py need not import kornia.
CONDITION_CHOICES = ("edges", "gray", "blur", "mask", "sketch")
DIRECTIONS = ("AtoB", "BtoA")

_MAX_NAMED = 10  # files named in one error message; the count is always given in full
_MASK_COVERAGE = (0.12, 0.38)  # target hole fraction; rounding keeps it within 10-40 %


def _split_names(split: str) -> tuple[str, ...]:
    """Folder name stems tried for `split`, in order: the test split falls back to val."""
    return {"train": ("train",), "test": ("test", "val"), "val": ("val", "test")}.get(
        split, (split,)
    )


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED])
    if len(names) > _MAX_NAMED:
        shown += f" and {len(names) - _MAX_NAMED} more"
    return shown


@dataclass(frozen=True)
class Layout:
    """A data folder as `find_layout` understood it.

    Attributes:
        kind: ``"pairs"`` (two folders of matching names), ``"ab"`` (side-by-side AB images)
            or ``"single"`` (plain photos, for derived conditions).
        a_dir: the A folder (pairs), the AB folder (ab), or None (single).
        b_dir: the B folder (pairs), the AB folder (ab), or the photo folder (single).
        files: for ``"pairs"`` a list of ``(a_path, b_path)`` tuples; for ``"ab"`` and
            ``"single"`` a list of image paths. Sorted by path, so the order is the same on
            every machine.
    """

    kind: LayoutKind
    a_dir: Path | None
    b_dir: Path
    files: list = field(repr=False)


def _stem_key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _keyed(paths: list[Path], root: Path) -> dict[str, Path]:
    """Map each file's relative path without extension to the file; duplicates are errors."""
    keyed: dict[str, Path] = {}
    for path in paths:
        key = _stem_key(path, root)
        if key in keyed:
            raise DataError(
                f"{root} holds both {keyed[key].name} and {path.name} for the name {key!r}; "
                "keep one of them so that every A image has exactly one B partner."
            )
        keyed[key] = path
    return keyed


def _match_pairs(a_dir: Path, b_dir: Path, warn: Warn | None) -> list[tuple[Path, Path]]:
    a_keyed = _keyed(scan_images(a_dir), a_dir)
    b_keyed = _keyed(scan_images(b_dir), b_dir)
    missing = [p.relative_to(a_dir).as_posix() for k, p in a_keyed.items() if k not in b_keyed]
    if missing:
        raise DataError(
            f"{b_dir} has no partner for {_listing(missing)} ({len(missing)} of "
            f"{len(a_keyed)} image(s)); every image in {a_dir} needs one with the same name "
            f"in {b_dir}."
        )
    extra = [p.relative_to(b_dir).as_posix() for k, p in b_keyed.items() if k not in a_keyed]
    if extra:
        (warn or _warn_stderr)(
            f"{len(extra)} image(s) in {b_dir} have no partner in {a_dir} and are not used: "
            f"{_listing(extra)}"
        )
    return [(a_keyed[k], b_keyed[k]) for k in a_keyed]


def find_layout(root: str | Path, split: str = "train", *, warn: Warn | None = None) -> Layout:
    """Work out how the folder `root` holds its images for `split` ("train", "test", ...).

    Tried in this order: (a) ``<split>A/`` + ``<split>B/`` (the test split falls back to
    ``valA/`` + ``valB/``), (b) ``A/`` + ``B/``, (c) side-by-side AB images in ``<split>/``
    (test falls back to ``val/``), (d) a plain folder of photos: `root` itself, when it holds
    none of the folders above. Images in B without a partner in A are skipped with one
    warning (to `warn`, default stderr).

    Raises:
        DataError: `root` is missing or empty; only one folder of a pair exists; an A image
            has no B partner (the first 10 are named); `root` is arranged in splits but has
            none for `split`.
    """
    root = Path(root)
    if not root.is_dir():
        scan_images(root)  # raises the standard "does not exist" / "is a file" error
    names = _split_names(split)
    for a_name, b_name in [(f"{n}A", f"{n}B") for n in names] + [("A", "B")]:
        a_dir, b_dir = root / a_name, root / b_name
        if a_dir.is_dir() and b_dir.is_dir():
            return Layout("pairs", a_dir, b_dir, _match_pairs(a_dir, b_dir, warn))
        if a_dir.is_dir() or b_dir.is_dir():
            have, lack = (a_name, b_name) if a_dir.is_dir() else (b_name, a_name)
            raise DataError(
                f"{root} has {have}/ but no {lack}/; add {root / lack} with the partner images "
                f"(same file names), or remove {have}/."
            )
    for name in names:
        ab_dir = root / name
        if ab_dir.is_dir():
            return Layout("ab", ab_dir, ab_dir, scan_images(ab_dir))
    split_dirs = {f"{s}{x}" for s in ("train", "val", "test") for x in ("", "A", "B")}
    known = [f"{p.name}/" for p in sorted(root.iterdir()) if p.is_dir() and p.name in split_dirs]
    if known:
        wanted = ", ".join([f"{n}A/+{n}B/" for n in names] + ["A/+B/"] + [f"{n}/" for n in names])
        raise DataError(
            f"{root} is arranged in splits ({', '.join(known)}) but has none for split "
            f"{split!r}; add one of {wanted}, or point --data at a folder for this split."
        )
    return Layout("single", None, root, scan_images(root))


# -- decoding and resizing ------------------------------------------------------------------


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to size x size with PIL's bicubic filter."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.array(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise UsageError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}.")


class _Source:
    """The images of a layout, decoded once (cache) or on access; `get(i)` -> (A, B) or photo.

    For ``sides=("A", "B")`` `get` returns both sides; for ``sides=("B",)`` or ``("A",)`` only
    that side (the photo of a derived condition). Files that cannot be decoded are skipped
    with one warning, and so is the partner of a skipped file.
    """

    def __init__(
        self,
        layout: Layout,
        sides: tuple[str, ...],
        *,
        min_hw: tuple[int, int] | None,
        check_pair_sizes: bool,
        cache: bool,
        warn: Warn | None,
    ) -> None:
        self.kind = layout.kind
        self.sides = sides
        self.cache = cache
        read = load_images if cache else probe_images
        # One list of files per stored image: ("A", "B") for pairs, the single file otherwise.
        if layout.kind == "pairs":
            columns = {
                "A": [a for a, _ in layout.files],
                "B": [b for _, b in layout.files],
            }
            columns = {s: columns[s] for s in sides}
        else:
            columns = {"AB" if layout.kind == "ab" else "photo": list(layout.files)}
        min_size = None
        if min_hw is not None:
            min_size = (min_hw[0], 2 * min_hw[1]) if layout.kind == "ab" else min_hw
        loaded: dict[str, dict[Path, object]] = {}
        for name, paths in columns.items():
            data, kept = read(paths, min_size=min_size, warn=warn)
            loaded[name] = dict(zip(kept, data, strict=True))
        rows = [
            dict(zip(columns, paths, strict=True)) for paths in zip(*columns.values(), strict=True)
        ]
        rows = [r for r in rows if all(p in loaded[c] for c, p in r.items())]
        if not rows:
            raise DataError(
                f"No complete pair could be decoded in {layout.b_dir}; replace the unreadable "
                "images."
            )
        self.paths = [tuple(r.values()) for r in rows]
        self._data = [tuple(loaded[c][p] for c, p in r.items()) for r in rows]
        for paths, data in zip(self.paths, self._data, strict=True):
            shapes = [d.shape[:2] if cache else tuple(d) for d in data]
            if layout.kind == "ab" and shapes[0][1] % 2:
                raise DataError(
                    f"{paths[0]} is {shapes[0][1]} pixels wide, an odd width that cannot be "
                    "split into A (left half) and B (right half); crop or pad it to an even "
                    "width."
                )
            if check_pair_sizes and len(shapes) == 2 and shapes[0] != shapes[1]:
                (ha, wa), (hb, wb) = shapes
                raise DataError(
                    f"The pair {paths[0]} ({ha}x{wa}) and {paths[1]} ({hb}x{wb}) differ in size "
                    "(height x width); A and B of a pair must be aligned images of the same "
                    "size: fix or remove the pair, or set load_size to resize both."
                )
        if not cache:
            self._data = []
        # Not cached, a pair whose file can no longer be decoded is replaced by the next one.
        self._decode = StandIns(self.paths, self._decode_files, warn)  # a method: picklable

    def _decode_files(self, index: int) -> tuple[np.ndarray, ...]:
        return tuple(decode_image(p) for p in self.paths[index])

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, index: int) -> list[np.ndarray]:
        arrays = self._data[index] if self.cache else self._decode(index)
        if self.kind != "ab":
            return list(arrays)
        (ab,) = arrays
        half = ab.shape[1] // 2
        halves = {"A": ab[:, :half], "B": ab[:, half:]}
        return [halves[s] for s in self.sides]


def _parse_item(item: Item, n: int) -> tuple[int, np.random.Generator | None]:
    if isinstance(item, tuple):
        index, seed = int(item[0]), int(item[1])
    else:
        index, seed = int(item), None
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for {n} images.")
    return index % n, (sample_rng(seed) if seed is not None else None)


def _transform(
    images: list[np.ndarray],
    rng: np.random.Generator | None,
    crop: int | None,
    load_size: int | None,
    augment: bool,
) -> list[np.ndarray]:
    """pix2pix's resize_and_crop (or plain crop) + shared horizontal flip.

    Training (rng given): resize to load_size (if set), random crop (if set) at the same
    corner in every image, horizontal flip with probability 1/2 (if `augment`). Evaluation
    (rng None): resize to crop x crop when load_size is set (pix2pix's test phase), else the
    images unchanged.
    """
    if rng is None:
        if load_size is not None:
            size = crop if crop is not None else load_size
            images = [_resize(img, size) for img in images]
        return images
    if load_size is not None:
        images = [_resize(img, load_size) for img in images]
    if crop is not None:
        images = paired_random_crop(images, crop, rng)
    if augment:
        images = paired_augment(images, rng, hflip=True, vflip=False, rot90=False)
    return images


# -- datasets -------------------------------------------------------------------------------


class PairedDataset(Dataset):
    """Aligned (condition, target) pairs from a ``pairs`` or ``ab`` folder layout.

    Items are ``{"A": uint8 (3, H, W), "B": uint8 (3, H, W), "index": int}``; "A" is the
    network input and "B" the target (swapped with ``direction="BtoA"``).

    - ``ds[(index, seed)]`` (training): with `load_size` both images are first resized
      (PIL bicubic) to load_size x load_size; then a `crop` x `crop` crop at the same corner
      in A and B and, with `augment`, a shared horizontal flip, all drawn from
      ``sample_rng(seed)``.
    - ``ds[index]`` (evaluation): with `load_size`, both resized to crop x crop (pix2pix's
      test phase); without it the full images, unchanged.

    With ``cache=True`` every image is decoded once into memory (uint8); otherwise only the
    headers are read here and images are decoded on access. Checked at construction: AB
    images of odd width, images smaller than `crop` (without `load_size`), and pairs whose
    A and B differ in size (without `load_size`; with it both are resized anyway).

    Args:
        root: the data folder (see `find_layout`).
        split: "train", "test" or "val".
        crop: training crop size in pixels, or None for whole images.
        load_size: resize both images to this square size first, or None.
        direction: "AtoB" (A is the input) or "BtoA".
        augment: random horizontal flip in training.
        cache: decode everything once at construction.
        warn: receives warnings (skipped files, unpaired B images); default stderr.
        layout: a layout already found for `root` (skips `find_layout`).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        crop: int | None = 256,
        load_size: int | None = None,
        direction: str = "AtoB",
        augment: bool = True,
        cache: bool = True,
        warn: Warn | None = None,
        layout: Layout | None = None,
    ) -> None:
        _check_direction(direction)
        check_crop_sizes(crop, load_size)
        self.root = Path(root)
        self.split = split
        self.crop = crop
        self.load_size = load_size
        self.direction = direction
        self.augment = augment
        self.layout = layout or find_layout(self.root, split, warn=warn)
        if self.layout.kind == "single":
            raise DataError(_no_pairs_message(self.root))
        min_hw = (crop, crop) if crop is not None and load_size is None else None
        self._source = _Source(
            self.layout,
            ("A", "B"),
            min_hw=min_hw,
            check_pair_sizes=load_size is None,
            cache=cache,
            warn=warn,
        )

    @property
    def paths(self) -> list[tuple[Path, ...]]:
        """The files of each item: ``(a_path, b_path)`` for pairs, ``(ab_path,)`` for AB."""
        return self._source.paths

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, item: Item) -> dict[str, torch.Tensor | int]:
        index, rng = _parse_item(item, len(self))
        a, b = _transform(self._source.get(index), rng, self.crop, self.load_size, self.augment)
        if self.direction == "BtoA":
            a, b = b, a
        return {"A": to_tensor_uint8(a), "B": to_tensor_uint8(b), "index": index}


def hole_mask(height: int, width: int, rng: np.random.Generator | None) -> np.ndarray:
    """Rectangular holes (1 = hole) covering roughly 10-40 % of a height x width image.

    With an rng: 1 to 4 holes in disjoint cells of the image (the whole image, its two
    halves, or its four quarters), so they never overlap and the covered fraction is the
    drawn target (12-38 %) up to rounding. Without one (evaluation): one centred hole of half
    the height and half the width (25 %). Returns an (H, W) uint8 array.
    """
    mask = np.zeros((height, width), dtype=np.uint8)
    if rng is None:
        h, w = max(1, height // 2), max(1, width // 2)
        top, left = (height - h) // 2, (width - w) // 2
        mask[top : top + h, left : left + w] = 1
        return mask
    target = float(rng.uniform(*_MASK_COVERAGE))
    count = int(rng.integers(1, 5))
    if count == 1:
        cells = [(0, 0, height, width)]
    elif count == 2:
        if rng.random() < 0.5:  # split top/bottom, else left/right
            cells = [(0, 0, height // 2, width), (height // 2, 0, height - height // 2, width)]
        else:
            cells = [(0, 0, height, width // 2), (0, width // 2, height, width - width // 2)]
    else:
        hh, hw = height // 2, width // 2
        quarters = [
            (0, 0, hh, hw),
            (0, hw, hh, width - hw),
            (hh, 0, height - hh, hw),
            (hh, hw, height - hh, width - hw),
        ]
        cells = [quarters[i] for i in sorted(rng.permutation(4)[:count])]
    hole_area = target * height * width / count
    for top, left, ch, cw in cells:
        frac = min(1.0, hole_area / (ch * cw))  # of the cell; <= 0.51 for 3 holes
        root = math.sqrt(frac)
        lo, hi = max(frac, 0.7 * root), min(1.0, root / 0.7)
        h = min(ch, max(1, round(float(rng.uniform(lo, hi)) * ch)))
        w = min(cw, max(1, round(hole_area / h)))
        y = top + int(rng.integers(0, ch - h + 1))
        x = left + int(rng.integers(0, cw - w + 1))
        mask[y : y + h, x : x + w] = 1
    return mask


class PhotoDataset(Dataset):
    """Photos from which the task derives its condition (edges, gray, blur, mask, sketch).

    Items are ``{"image": uint8 (3, H, W), "index": int}``, plus ``"mask": uint8 (1, H, W)``
    (1 = hole, see `hole_mask`) when ``condition == "mask"``; the holes are drawn from the
    same ``sample_rng(seed)`` after the crop and flip (a centred hole for ``ds[index]``).
    Cropping, resizing and flipping follow `PairedDataset`.

    On a ``single`` layout the photos are its images. On a layout with pairs the photos are
    the target side: B for ``direction="AtoB"``, A for ``"BtoA"`` (the right or left half of
    AB images); the other side is not read.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        crop: int | None = 256,
        load_size: int | None = None,
        augment: bool = True,
        cache: bool = True,
        condition: str | None = None,
        direction: str = "AtoB",
        warn: Warn | None = None,
        layout: Layout | None = None,
    ) -> None:
        _check_direction(direction)
        check_crop_sizes(crop, load_size)
        if condition is not None and condition not in CONDITION_CHOICES:
            raise UsageError(_unknown_condition_message(condition))
        self.root = Path(root)
        self.split = split
        self.crop = crop
        self.load_size = load_size
        self.augment = augment
        self.condition = condition
        self.direction = direction
        self.layout = layout or find_layout(self.root, split, warn=warn)
        side = "B" if direction == "AtoB" else "A"
        min_hw = (crop, crop) if crop is not None and load_size is None else None
        self._source = _Source(
            self.layout, (side,), min_hw=min_hw, check_pair_sizes=False, cache=cache, warn=warn
        )

    @property
    def paths(self) -> list[tuple[Path, ...]]:
        """The file of each item, as a 1-tuple."""
        return self._source.paths

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, item: Item) -> dict[str, torch.Tensor | int]:
        index, rng = _parse_item(item, len(self))
        (img,) = _transform(self._source.get(index), rng, self.crop, self.load_size, self.augment)
        out: dict[str, torch.Tensor | int] = {"image": to_tensor_uint8(img), "index": index}
        if self.condition == "mask":
            out["mask"] = torch.from_numpy(hole_mask(img.shape[0], img.shape[1], rng))[None]
        return out


def _no_pairs_message(root: Path) -> str:
    return (
        f"{root} has no A/B pairs (no trainA/+trainB/, A/+B/ or train/ with AB images); "
        f"pass --condition {'|'.join(CONDITION_CHOICES)} to derive the input from these "
        "photos, or arrange the pairs as trainA/ and trainB/ with matching file names."
    )


def _unknown_condition_message(condition: str) -> str:
    return f"Unknown condition {condition!r}; choose one of {', '.join(CONDITION_CHOICES)}."


def build_dataset(
    root: str | Path, split: str = "train", *, condition: str | None = None, **kw
) -> PairedDataset | PhotoDataset:
    """The dataset the translate task trains or evaluates on.

    Without `condition` the folder must hold pairs (`PairedDataset`); a plain folder of
    photos is a DataError that suggests ``--condition``. With `condition` the photos are
    read by `PhotoDataset`, whatever the layout: on a folder with pairs the target side (B,
    or A with ``direction="BtoA"``) supplies the photos and the other side is ignored, so a
    paired data set can also train e.g. a colourisation model on its targets.

    Args:
        root: the data folder.
        split: "train", "test" or "val".
        condition: None, or one of ``CONDITION_CHOICES``.
        **kw: crop, load_size, direction, augment, cache, warn (see the datasets).
    """
    if condition is not None and condition not in CONDITION_CHOICES:
        raise UsageError(_unknown_condition_message(condition))
    layout = find_layout(root, split, warn=kw.get("warn"))
    if condition is None:
        if layout.kind == "single":
            raise DataError(_no_pairs_message(Path(root)))
        return PairedDataset(root, split, layout=layout, **kw)
    return PhotoDataset(root, split, condition=condition, layout=layout, **kw)
