"""Random crops and flips applied identically to a group of aligned images.

Images are numpy (H, W, C) arrays or torch (..., C, H, W) tensors; a group may mix both.
Every random decision comes from an explicit `np.random.Generator`, so a sample is a pure
function of its seed (see `sample_rng`), which is what makes resumed runs exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Image = np.ndarray | torch.Tensor


def sample_rng(seed: int) -> np.random.Generator:
    """The generator that draws every random choice for one sample (PCG64)."""
    return np.random.default_rng(int(seed))


def _hw(img: Image) -> tuple[int, int]:
    if isinstance(img, np.ndarray):
        return int(img.shape[0]), int(img.shape[1])
    return int(img.shape[-2]), int(img.shape[-1])


def _crop(img: Image, top: int, left: int, height: int, width: int) -> Image:
    if isinstance(img, np.ndarray):
        return img[top : top + height, left : left + width]
    return img[..., top : top + height, left : left + width]


def _infer_scales(sizes: Sequence[tuple[int, int]]) -> list[int]:
    """Scale of each image relative to the smallest, from the shapes; must be integers."""
    base_h, base_w = min(sizes)
    scales = []
    for height, width in sizes:
        scale = height // base_h
        if scale * base_h != height or scale * base_w != width:
            raise ValueError(
                f"Image sizes {list(sizes)} are not integer multiples of {base_h}x{base_w}; "
                "pass scales= explicitly or fix the pair."
            )
        scales.append(scale)
    return scales


def paired_random_crop(
    images: Sequence[Image],
    size: int | tuple[int, int],
    rng: np.random.Generator,
    scales: Sequence[int] | None = None,
) -> list[Image]:
    """Crop the same region from images of different integer scales.

    `scales[i]` is image i's resolution relative to the others (e.g. [1, 4] for LR, HR);
    by default it is inferred from the shapes. `size` (int or (height, width)) is in the
    pixels of the largest-scale image and must be divisible by max(scales)/min(scales).
    The corner is drawn on the coarsest grid, so every crop covers exactly the same area.
    Returns views (numpy) or slices (torch) in the input order.
    """
    if not images:
        raise ValueError("paired_random_crop needs at least one image.")
    sizes = [_hw(img) for img in images]
    scales = list(scales) if scales is not None else _infer_scales(sizes)
    if len(scales) != len(images) or min(scales) < 1:
        raise ValueError(f"scales={scales} must hold one positive integer per image.")
    crop_h, crop_w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    s_min, s_max = min(scales), max(scales)
    if any(s_max % s or s % s_min for s in scales):
        raise ValueError(
            f"scales={scales} must all divide the largest and be multiples of the smallest."
        )
    ratio = s_max // s_min
    if crop_h <= 0 or crop_w <= 0 or crop_h % ratio or crop_w % ratio:
        raise ValueError(
            f"Crop {crop_h}x{crop_w} must be positive and divisible by {ratio}, the ratio "
            f"between the largest and smallest scales {scales}."
        )
    # Work on the grid of the smallest-scale image: its pixel is `ratio` largest pixels.
    base_ch, base_cw = crop_h // ratio, crop_w // ratio
    base_sizes = {(h * s_min / s, w * s_min / s) for (h, w), s in zip(sizes, scales, strict=True)}
    if len(base_sizes) != 1:
        raise ValueError(
            f"Image sizes {sizes} do not match scales {scales}: each image must be exactly "
            "its scale times the smallest one."
        )
    base_h, base_w = (int(v) for v in base_sizes.pop())
    if base_h < base_ch or base_w < base_cw:
        raise ValueError(
            f"Images of size {sizes} are smaller than the {crop_h}x{crop_w} crop; "
            "use a smaller crop."
        )
    top = int(rng.integers(0, base_h - base_ch + 1))
    left = int(rng.integers(0, base_w - base_cw + 1))
    out = []
    for img, scale in zip(images, scales, strict=True):
        f = scale // s_min
        out.append(_crop(img, top * f, left * f, base_ch * f, base_cw * f))
    return out


def center_crop(img: Image, size: int | tuple[int, int]) -> Image:
    """Deterministic centre crop (the top-left pixel wins when the margin is odd)."""
    crop_h, crop_w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    height, width = _hw(img)
    if height < crop_h or width < crop_w:
        raise ValueError(
            f"Image of size {height}x{width} is smaller than the {crop_h}x{crop_w} crop."
        )
    return _crop(img, (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w)


def _flip_rotate(img: Image, hflip: bool, vflip: bool, rot90: bool) -> Image:
    if isinstance(img, np.ndarray):
        if hflip:
            img = img[:, ::-1]
        if vflip:
            img = img[::-1]
        if rot90:
            img = np.rot90(img, 1, axes=(0, 1))
        return img
    if hflip:
        img = img.flip(-1)
    if vflip:
        img = img.flip(-2)
    if rot90:
        img = torch.rot90(img, 1, dims=(-2, -1))  # same direction as np.rot90 above
    return img


def paired_augment(
    images: Sequence[Image],
    rng: np.random.Generator,
    hflip: bool = True,
    vflip: bool = True,
    rot90: bool = True,
) -> list[Image]:
    """Apply the same random horizontal flip, vertical flip and 90-degree rotation to all.

    Each enabled operation happens with probability 1/2; together they cover all eight
    symmetries of the square. Three numbers are always drawn, so disabling one operation
    does not change the decisions made for the others.
    """
    draws = rng.random(3) < 0.5
    do_h, do_v, do_r = bool(draws[0] and hflip), bool(draws[1] and vflip), bool(draws[2] and rot90)
    return [_flip_rotate(img, do_h, do_v, do_r) for img in images]


def to_tensor_uint8(img: Image) -> torch.Tensor:
    """Convert an (H, W, 3) or (H, W) uint8 array to a contiguous (3, H, W) uint8 tensor.

    The copy also resolves the negative strides that flips leave behind. A (3, H, W) uint8
    tensor is made contiguous.
    """
    if isinstance(img, torch.Tensor):
        if img.dtype != torch.uint8 or img.ndim != 3:
            raise ValueError(
                f"Expected a (3, H, W) uint8 tensor, got {img.dtype} {tuple(img.shape)}."
            )
        return img.contiguous()
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3) or img.dtype != np.uint8:
        raise ValueError(f"Expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}.")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.uint8))


def check_crop_sizes(crop: int | None, load_size: int | None) -> None:
    """Refuse a crop or resize size that is not positive, or a crop larger than the resize.

    Raises:
        UsageError: naming the values and the fix.
    """
    from imgen.errors import UsageError

    if crop is not None and crop <= 0:
        raise UsageError(f"crop must be a positive number of pixels, got {crop}.")
    if load_size is not None and load_size <= 0:
        raise UsageError(f"load_size must be a positive number of pixels, got {load_size}.")
    if crop is not None and load_size is not None and crop > load_size:
        raise UsageError(
            f"crop ({crop}) is larger than load_size ({load_size}); images are resized to "
            "load_size before the crop, so use crop <= load_size."
        )
