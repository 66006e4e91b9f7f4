"""Training data: :func:`tiny_image_folder` writes some, :func:`check_dataset` checks what a task
makes of it."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from imgen.task import Task
from imgen.testing.common import Range, _check_range, _fail


def tiny_image_folder(
    folder: str | Path, count: int = 4, size: tuple[int, int] = (48, 64), seed: int = 0
) -> Path:
    """Write ``count`` small RGB PNG images with some structure (gradients, a disc, stripes),
    enough for one training step of any image task; returns the folder.

    Args:
        folder: created if missing.
        count: number of images (named ``image_000.png`` ...).
        size: (height, width) of each image.
        seed: the images depend on nothing else.

    Example:
        >>> import tempfile
        >>> folder = tiny_image_folder(tempfile.mkdtemp(), count=2, size=(32, 40))
        >>> sorted(p.name for p in folder.iterdir())
        ['image_000.png', 'image_001.png']
    """
    import numpy as np
    from PIL import Image

    if count < 1 or min(size) < 1:
        raise ValueError(
            f"tiny_image_folder needs count >= 1 and a positive size, got {count}, {size}."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    for i in range(count):
        # Smooth colour ramps plus edges: denoisers, edge detectors and GANs all see
        # something to learn, and the images differ from each other.
        a, b, c = rng.uniform(0.2, 1.0, 3)
        cy, cx, r = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width, height / 4
        disc = ((y - cy) ** 2 + (x - cx) ** 2 < r**2).astype(np.float64)
        stripes = (np.sin(x / rng.uniform(2, 6)) > 0).astype(np.float64)
        image = np.stack(
            [
                a * x / width + 0.3 * disc,
                b * y / height + 0.2 * stripes,
                c * (1 - x / width) * 0.7 + 0.3 * disc * stripes,
            ],
            axis=-1,
        )
        image = (255 * np.clip(image, 0, 1)).astype(np.uint8)
        Image.fromarray(image).save(folder / f"image_{i:03d}.png")
    return folder


def check_dataset(
    task: Task,
    cfg: Any,
    data: str | Path | None,
    *,
    keys: Iterable[str] | None = None,
    ranges: Mapping[str, Range] | None = None,
    batch_size: int = 2,
) -> dict[str, tuple[int, ...]]:
    """Check a task's training data: seed-addressed items, a dataset that pickles (for spawned
    loader workers) and a prepared batch in range.

    Args:
        task: a task already ``setup()`` for training (``prepare`` uses its device).
        cfg: its config.
        data: the folder given as ``--data``.
        keys: keys the prepared batch must have.
        ranges: the ``(low, high)`` range of a key; every other floating tensor that is an
            image (3-D in a dataset item, 4-D in the batch) must be in [0, 1].
        batch_size: samples in the checked batch.

    Returns:
        The shape of every tensor of the prepared batch.
    """
    from torch.utils.data import default_collate

    subject = f"task {task.name!r}"
    ranges = dict(ranges or {})
    dataset = task.dataset(cfg, None if data is None else str(data), "train")
    if len(dataset) < 1:
        raise _fail(subject, f"dataset() over {data} is empty")
    first, again = dataset[(0, 1234)], dataset[(0, 1234)]
    if not isinstance(first, Mapping):
        raise _fail(subject, f"dataset items must be dicts of tensors, got {type(first).__name__}")
    if not _same_item(first, again):
        raise _fail(
            subject,
            "dataset[(index, seed)] differs between two calls; draw every random choice "
            "(crop, flip, noise) from the seed, e.g. with imgen.data.sample_rng(seed), so that "
            "--resume is exact",
        )
    try:  # loader workers started with spawn (macOS, Windows) get the dataset pickled
        copy = pickle.loads(pickle.dumps(dataset))
    except Exception as exc:
        raise _fail(
            subject,
            f"the dataset cannot be pickled ({type(exc).__name__}: {exc}), so data-loader "
            "workers started with spawn (macOS, Windows) fail; keep lambdas, local functions "
            "and open files out of it (methods pickle)",
        ) from None
    if not _same_item(first, copy[(0, 1234)]):
        raise _fail(subject, "a pickled copy of the dataset gives other items than the dataset")
    for key, value in first.items():  # (C, H, W) images; other tensors (noise...) if declared
        if (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and (value.ndim == 3 or key in ranges)
        ):
            _check_range(subject, f"dataset item[{key!r}]", value, ranges.get(key, (0.0, 1.0)))
    items = [dataset[(i % len(dataset), 1000 + i)] for i in range(batch_size)]
    batch = task.prepare(default_collate(items))
    if not isinstance(batch, Mapping):
        raise _fail(subject, f"prepare() must return a dict, got {type(batch).__name__}")
    missing = sorted(set(keys or ()) - set(batch))
    if missing:
        raise _fail(
            subject,
            f"the prepared batch lacks {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, batch))}",
        )
    shapes = {}
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor):
            continue
        shapes[key] = tuple(value.shape)
        if value.ndim == 4 and value.shape[0] != batch_size:
            raise _fail(subject, f"batch[{key!r}] has {value.shape[0]} samples, not {batch_size}")
        if value.is_floating_point() and (value.ndim == 4 or key in ranges):
            _check_range(subject, f"batch[{key!r}]", value, ranges.get(key, (0.0, 1.0)))
    return shapes


def _same_item(a: Mapping, b: Mapping) -> bool:
    if set(a) != set(b):
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True
