"""Registered metrics over image pairs: one row per image, their means, and what was missing.

Every task that compares its outputs with targets scores them here, so ``imgen eval TASK
--metric NAME`` computes any registered metric (a plugin's included) and an unavailable one
(LPIPS without its cached weights) is left out with one note, in one place.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from imgen.errors import RegistryError, UsageError
from imgen.metrics.lpips import MetricUnavailable

__all__ = ["ImageScores", "metric_function"]


def metric_function(name: str) -> Any:
    """The function registered as metric ``name``.

    Raises:
        UsageError: for an unknown name, with the closest registered ones.
    """
    from imgen.plugins import registries

    try:
        return registries().metrics.get(name)
    except RegistryError as exc:
        raise UsageError(f"{exc} (imgen plugins lists the registered metrics)") from None


def _takes_crop_border(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "crop_border" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class ImageScores:
    """Per-image values of registered metrics on ``(output, target)`` pairs, and their means.

    Outputs are scored as the 8-bit images a user would save (quantized first); PSNR and
    SSIM quantize both images anyway, as BasicSR does. A metric that takes ``crop_border``
    gets it (SR's protocol leaves ``scale`` pixels of border out); the others see the whole
    image. A metric that raises :class:`imgen.metrics.MetricUnavailable` is dropped with a
    note (``"lpips: unavailable (...)"``).

    Args:
        names: registered metric names, in report order.
        crop_border: passed to the metrics that accept it.
        suffix: appended to every reported name (``"_AtoB"``, ``"_noisy"``).

    Example:
        >>> scores = ImageScores(["psnr", "l1"])
        >>> x = torch.randint(0, 256, (1, 3, 16, 16)) / 255  # an 8-bit image
        >>> row = scores.add("a.png", x, x)
        >>> row["l1"], scores.summary()["images"]
        (0.0, 1)
    """

    def __init__(self, names: Sequence[str], *, crop_border: int = 0, suffix: str = "") -> None:
        self.functions = {name: metric_function(name) for name in dict.fromkeys(names)}
        self.crop_border = crop_border
        self.suffix = suffix
        self.rows: dict[str, dict[str, float]] = {}
        self.notes: list[str] = []

    def score(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """The metrics of one pair, without recording them (images in [0, 1], (1, C, H, W))."""
        from imgen.metrics import quantize

        output = (quantize(output) / 255).to(target.dtype)
        values: dict[str, float] = {}
        for name, fn in list(self.functions.items()):
            kwargs = {"crop_border": self.crop_border} if _takes_crop_border(fn) else {}
            try:
                value = fn(output, target, **kwargs)
            except MetricUnavailable as exc:
                del self.functions[name]
                self.notes.append(f"{name}: unavailable ({exc})")
                continue
            values[name + self.suffix] = float(torch.as_tensor(value).double().mean())
        return values

    def add(self, key: str, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Score a pair and record it as the row ``key``; returns the row.

        ``key`` names one image: its path relative to the data folder
        (:func:`imgen.data.image_key`), not its file name, which two images in different
        subfolders share. A key already recorded is a ValueError, not a silent merge.
        """
        if key in self.rows:
            raise ValueError(
                f"ImageScores already has a row {key!r}; key each image by its path relative "
                "to the data folder (imgen.data.image_key), which is unique."
            )
        return self.merge(key, self.score(output, target))

    def merge(self, key: str, values: dict[str, float]) -> dict[str, float]:
        """Add ``values`` (e.g. another table's :meth:`score`) to the row ``key``."""
        row = self.rows.setdefault(key, {})
        row.update(values)
        return row

    def means(self) -> dict[str, float]:
        """Each metric's mean over the rows that have it, in the order first seen."""
        names = list(dict.fromkeys(k for row in self.rows.values() for k in row))
        return {
            k: sum(row[k] for row in self.rows.values() if k in row)
            / sum(k in row for row in self.rows.values())
            for k in names
        }

    def summary(self) -> dict[str, Any]:
        """``{"metrics": means, "images": rows, "per_image": rows, "notes": notes}``."""
        return {
            "metrics": self.means(),
            "images": len(self.rows),
            "per_image": self.rows,
            "notes": list(self.notes),
        }
