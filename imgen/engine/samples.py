"""Sample grids: one row per sample, one column per image kind (input | output | target),
each column named in a band above it when the task gives names (:meth:`Task.sample_labels`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

# Colours of the label band: the grid's black padding, with light text.
BAND = (0, 0, 0)
TEXT = (235, 235, 235)


def save_grid(
    columns: list[torch.Tensor],
    path: Path,
    padding: int = 2,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Save ``columns`` (each (B, C, H, W) in [0, 1]) side by side, one sample per row.

    Columns of different sizes (an LR input beside the SR output) are resized with nearest
    neighbour to the largest, so pixels stay visible. ``labels`` (one per column) are written
    in a band above the columns, in Pillow's built-in font; none: no band. ``title`` goes in
    a band above those (the trainer's step and phase).
    """
    from PIL import Image
    from torchvision.utils import make_grid

    if labels is not None and len(labels) != len(columns):
        raise ValueError(f"{len(labels)} labels for {len(columns)} columns")
    height = max(c.shape[-2] for c in columns)
    width = max(c.shape[-1] for c in columns)
    fitted = []
    for c in columns:
        c = c.detach().float().cpu().clamp(0, 1)
        if c.shape[1] == 1:
            c = c.expand(-1, 3, -1, -1)
        if c.shape[-2:] != (height, width):
            c = F.interpolate(c, size=(height, width), mode="nearest")
        fitted.append(c)
    rows = torch.stack(fitted, dim=1).flatten(0, 1)  # sample-major: row b holds b's columns
    grid = make_grid(rows, nrow=len(columns), padding=padding)
    # as torchvision's save_image rounds it
    array = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    image = Image.fromarray(array)
    if labels:
        image = label_columns(image, labels, width + padding, padding)
    if title:
        image = label_columns(image, [title], image.width, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def label_columns(image, labels: Sequence[str], pitch: int, padding: int):
    """``image`` (a PIL grid whose columns start every ``pitch`` pixels after ``padding``)
    with a band above it holding each column's label, centred on its column."""
    from PIL import Image, ImageDraw

    cell = pitch - padding
    font = label_font(cell)
    draw = ImageDraw.Draw(image)
    boxes = [draw.textbbox((0, 0), "Ag", font=font)]
    text_height = boxes[0][3] - boxes[0][1]
    margin = max(2, text_height // 3)
    band = text_height + 2 * margin
    out = Image.new("RGB", (image.width, image.height + band), BAND)
    out.paste(image, (0, band))
    draw = ImageDraw.Draw(out)
    for index, label in enumerate(labels):
        text = fit_text(draw, str(label), font, cell)
        if not text:
            continue
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        x = padding + index * pitch + (cell - (right - left)) // 2 - left
        draw.text((x, margin - boxes[0][1]), text, fill=TEXT, font=font)
    return out


def label_font(cell: int):
    """Pillow's own font (no font file), sized for columns ``cell`` pixels wide."""
    from PIL import ImageFont

    size = max(9, min(18, cell // 8))
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: scalable
    except TypeError:  # an older Pillow: its fixed bitmap font
        return ImageFont.load_default()


def fit_text(draw, text: str, font, width: int) -> str:
    """``text``, shortened from the end until it fits in ``width`` pixels."""
    while text:
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= width - 2:
            return text
        text = text[:-1]
    return text
