"""``imgen degrade``: LR images (and HR crops) written from a folder of HR images.

Each image gets its own seed from ``--seed`` and its path relative to the folder, so an
image's output depends on neither the other files nor their order, and two runs write the
same bytes. The random choices (crop corner, then the degradation's parameters) come from
that seed's generator, exactly as a training sample's come from its seed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgen.errors import DataError, UsageError

__all__ = ["degrade_folder", "image_seed"]


def image_seed(seed: int, key: str) -> int:
    """The seed of the image whose path relative to the folder is ``key`` (POSIX form).

    Example:
        >>> image_seed(0, "a.png") == image_seed(0, "a.png") != image_seed(1, "a.png")
        True
    """
    from imgen.data.sampler import sample_seed

    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return sample_seed(seed, int.from_bytes(digest, "little"))


def _outputs(paths: list[Path], root: Path) -> list[Path]:
    """Each file's output path (relative, ``.png``); two files that would share one are an
    error naming both."""
    seen: dict[Path, Path] = {}
    for path in paths:
        name = path.relative_to(root).with_suffix(".png")
        if name in seen:
            raise DataError(
                f"{seen[name]} and {path} would both be written as {name.as_posix()}; rename "
                "one of them"
            )
        seen[name] = path
    return list(seen)


def _save(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = image.permute(1, 2, 0).cpu().numpy()
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")


def degrade_folder(
    root: str | Path,
    out: str | Path,
    *,
    kind: str,
    params: Any,
    scale: int,
    seed: int = 0,
    crop: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Write the LR image of every image under ``root`` to ``out``.

    Without ``crop``: ``out/REL.png``, the LR of the whole image (its last rows and columns
    beyond a multiple of ``scale`` left out), mirroring ``root``'s subfolders. With
    ``crop``: a random ``crop`` x ``crop`` HR crop per image to ``out/HR/REL.png`` and its LR
    to ``out/LR/REL.png`` (the layout ``imgen eval sr --data out`` reads). An image that
    cannot be read, or is smaller than the crop, is skipped and listed at the end (see
    :mod:`imgen.failures`).

    Args:
        root: folder of HR images (recursively).
        out: output folder (created).
        kind: ``"bicubic"`` (MATLAB imresize, as ``imgen train sr``'s default) or
            ``"realesrgan"``.
        params: the :class:`~imgen.data.degradations.DegradationOptions` of ``realesrgan``.
        scale: the SR factor.
        seed: with each image's relative path, fixes every random choice.
        crop: HR crop side (a multiple of ``scale``), or None for whole images.
        device: where the degradation runs (``auto``, ``cpu``, ``cuda``...).
        progress: a progress bar on stderr.

    Returns:
        ``{"written": N, "skipped": M, "out": str}``.
    """
    from tqdm.auto import tqdm

    from imgen.data.degradations.pipeline import degrade, draw_params
    from imgen.data.folder import decode_image, image_key, scan_images
    from imgen.data.resize import imresize
    from imgen.data.transforms import paired_random_crop, sample_rng, to_tensor_uint8
    from imgen.engine.device import resolve_device
    from imgen.failures import Failure, report_failures

    if crop is not None and (crop < scale or crop % scale):
        raise UsageError(f"--crop {crop} is not a positive multiple of --scale {scale}")
    root, out = Path(root), Path(out)
    if out.is_file():
        raise UsageError(f"-o {out} is a file; imgen degrade writes its PNGs into a folder")
    run_on = resolve_device(device)
    paths = scan_images(root)
    names = _outputs(paths, root)
    failed: list[Failure] = []
    written = 0
    bar = tqdm(
        list(zip(paths, names, strict=True)),
        file=sys.stderr,
        unit="img",
        desc="degrade",
        disable=not progress,
        dynamic_ncols=True,
    )
    for path, name in bar:
        try:
            image = decode_image(path)
            rng = sample_rng(image_seed(seed, image_key(path, root)))
            if crop is not None:
                if min(image.shape[:2]) < crop:
                    raise DataError(
                        f"{path} is {image.shape[1]}x{image.shape[0]}, smaller than --crop {crop}"
                    )
                (image,) = paired_random_crop([image], crop, rng)
            height, width = image.shape[0] // scale * scale, image.shape[1] // scale * scale
            if height == 0 or width == 0:
                raise DataError(f"{path} is smaller than --scale {scale} pixels")
            hr = to_tensor_uint8(image[:height, :width])[None].to(run_on)
        except DataError as exc:
            failed.append(Failure.of(path, exc))
            continue
        with torch.no_grad():
            if kind == "bicubic":
                lr = imresize(hr, 1 / scale)
            else:
                drawn = {k: v[None] for k, v in draw_params(params, rng).items()}
                lr = degrade(hr.float().div_(255), drawn, scale).mul_(255).round_().byte()
        if crop is None:
            _save(lr[0], out / name)
        else:
            _save(hr[0], out / "HR" / name)
            _save(lr[0], out / "LR" / name)
        written += 1
    bar.close()
    report_failures(failed)
    return {"written": written, "skipped": len(failed), "out": str(out)}
