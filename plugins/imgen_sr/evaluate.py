"""SR evaluation on BasicSR's protocol: uint8 images, Y channel, ``scale`` pixels of border."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from imgen.errors import DataError


def find_pairs(root: Path, scale: int) -> list[tuple[Path, Path | None]]:
    """(HR, LR or None) pairs: ``X{s}/HR`` + ``X{s}/LR``, ``HR`` + ``LR``, or HR images alone.

    With LR None the LR image is made by MATLAB bicubic downscaling of the HR image.
    """
    from imgen.data.folder import scan_images

    for hr_dir, lr_dir in (
        (root / f"X{scale}" / "HR", root / f"X{scale}" / "LR"),
        (root / "HR", root / "LR"),
    ):
        if hr_dir.is_dir() and lr_dir.is_dir():
            hr_files = scan_images(hr_dir)
            # Matched by the path relative to HR/ and LR/ without extension, so that sub/a.png
            # and other/a.png are two images.
            lr_by_stem = {_stem(p, lr_dir): p for p in scan_images(lr_dir)}
            missing = [
                p.relative_to(hr_dir).as_posix()
                for p in hr_files
                if _stem(p, hr_dir) not in lr_by_stem
            ]
            if missing:
                raise DataError(
                    f"{lr_dir} has no LR image for {', '.join(missing[:5])}; "
                    f"name each LR image like its HR image"
                )
            return [(p, lr_by_stem[_stem(p, hr_dir)]) for p in hr_files]
    if (root / "HR").is_dir():
        return [(p, None) for p in scan_images(root / "HR")]
    return [(p, None) for p in scan_images(root)]


def _stem(path: Path, folder: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def _uint8(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)


def _tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return _uint8(image, device).float().div_(255)


def sr_pairs(
    root: Path, scale: int, device: torch.device
) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(name, LR, HR)`` in [0, 1] on ``device`` for each HR image of ``root``: the HR cut
    to a multiple of ``scale``, the LR read from its folder (size checked) or made by MATLAB
    bicubic downscaling of the uint8 HR, as the benchmarks' LR images are made.

    ``name`` is the HR image's path relative to ``root``. Under ``imgen eval`` a pair that
    cannot be read (or whose LR has the wrong size) is skipped and listed at the end."""
    from imgen.data.folder import decode_image, image_key
    from imgen.data.resize import imresize
    from imgen.failures import record_failure
    from imgen.progress import tick

    for hr_path, lr_path in find_pairs(root, scale):
        path = hr_path
        try:
            hr = decode_image(hr_path)
            h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
            hr_t = _tensor(hr[:h, :w], device)
            if lr_path is None:
                lr_t = imresize(_uint8(hr[:h, :w], device), 1 / scale).float().div_(255)
            else:
                path = lr_path
                lr_t = _tensor(decode_image(lr_path), device)
                if lr_t.shape[-2:] != (h // scale, w // scale):
                    raise DataError(
                        f"{lr_path} is {lr_t.shape[-1]}x{lr_t.shape[-2]}, but its HR "
                        f"image {hr_path.name} at x{scale} needs "
                        f"{w // scale}x{h // scale}"
                    )
        except DataError as exc:
            if record_failure(path, exc):
                tick()
                continue
            raise
        tick(h * w / 1e6)  # imgen eval's progress bar: one HR image done
        yield image_key(hr_path, root), lr_t, hr_t
