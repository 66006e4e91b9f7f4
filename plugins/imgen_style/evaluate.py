"""Evaluation of the style task.

* cycle reconstruction L1 per direction (A -> B -> A and B -> A -> B), images in [0, 1];
* when the test folders hold pairs with the same file names, PSNR/SSIM/L1 of each
  translation against its partner (and LPIPS when available);
* with ``realism``, a domain-realism score that needs no pretrained weights: a small CNN
  trained on the real train A vs train B images, applied to the translations (the share of
  fake_B it takes for B, and of fake_A for A).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

REALISM_SIZE = 64
#: Registered metrics of each translation against its test partner (same file name).
PAIRED_METRICS = ("psnr", "ssim", "l1", "lpips")


def load_image(path: Path, size: int | None) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1]; resized (bicubic) to size x size when ``size`` is given."""
    from imgen.data.folder import decode_image

    image = Image.fromarray(decode_image(path))
    if size:
        image = image.resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


class DomainClassifier(nn.Module):
    """A four-layer CNN telling domain A (0) from domain B (1) at 64x64."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i in range(4):
            layers += [
                nn.Conv2d(channels, width * 2**i, 3, stride=2, padding=1),
                nn.BatchNorm2d(width * 2**i),
                nn.ReLU(inplace=True),
            ]
            channels = width * 2**i
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * 2 - 1)).squeeze(1)


def train_domain_classifier(
    a: torch.Tensor, b: torch.Tensor, *, steps: int = 300, batch: int = 32, seed: int = 0
) -> DomainClassifier:
    """Fit :class:`DomainClassifier` on real images of A (label 0) and B (label 1)."""
    generator = torch.Generator().manual_seed(seed)
    # Evaluation runs under inference_mode; this small model is trained inside it.
    with torch.inference_mode(False), torch.enable_grad():
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = DomainClassifier()
        images = torch.cat([a, b]).clone()  # normal tensors, usable by autograd
        labels = torch.cat([torch.zeros(len(a)), torch.ones(len(b))])
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        net.train()
        for _ in range(steps):
            idx = torch.randint(len(images), (batch,), generator=generator)
            x = images[idx]
            flip = torch.rand(batch, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = nn.functional.binary_cross_entropy_with_logits(net(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def _share(net: DomainClassifier, images: list[torch.Tensor], label: int) -> float:
    x = torch.cat(
        [
            nn.functional.interpolate(
                i, size=REALISM_SIZE, mode="bilinear", antialias=True, align_corners=False
            )
            for i in images
        ]
    )
    predicted = (net(x) > 0).long()
    return float((predicted == label).float().mean())


def evaluate_style(
    task: Any,
    nets: dict,
    root: str | None,
    *,
    realism: bool = False,
    tile: int | None = None,
    tile_overlap: int = 32,
    metrics: Sequence[str] = (),
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Cycle L1 both ways; with test pairs, :data:`PAIRED_METRICS` and ``metrics`` (registered
    names) of each translation against its partner; with ``realism``, the domain realism."""
    from imgen.data.folder import image_key, read_or_skip, scan_images
    from imgen.metrics import quantize
    from imgen_style.data import test_pairs

    cfg, device = task.cfg, task.device
    size = cfg.crop if cfg.load_size else None
    dir_a, dir_b = task.domains(root, "test")

    def load_named(folder: Path, at: int | None) -> list[tuple[str, torch.Tensor]]:
        """(key, image) of ``folder``'s images; under ``imgen eval`` unreadable ones are
        skipped and listed at the end (:func:`imgen.data.folder.read_or_skip`)."""
        out = []
        for path in scan_images(folder):
            image = read_or_skip(path, lambda q: load_image(q, at))
            if image is not None:
                out.append((f"{folder.name}/{image_key(path, folder)}", image))
        return out

    def load_readable(folder: Path, at: int | None) -> list[torch.Tensor]:
        return [image for _, image in load_named(folder, at)]

    named = {"A": load_named(dir_a, size), "B": load_named(dir_b, size)}
    test = {side: [x.to(device) for _, x in named[side]] for side in named}
    per_image: dict[str, dict[str, float]] = {}

    def translate(x: torch.Tensor, direction: str) -> torch.Tensor:
        y = task.predict(
            nets,
            x,
            direction=direction,
            tile=tile,
            tile_overlap=tile_overlap,
            autocast_dtype=autocast_dtype,
        )
        return quantize(y).float() / 255  # scored as the uint8 image a user would save

    fakes = {
        "B": [translate(x, "AtoB") for x in test["A"]],
        "A": [translate(x, "BtoA") for x in test["B"]],
    }
    metrics_out: dict[str, float] = {}
    for side, fake_side, back in (("A", "B", "BtoA"), ("B", "A", "AtoB")):
        errors = []
        for (key, _), fake, x in zip(named[side], fakes[fake_side], test[side], strict=True):
            error = (translate(fake, back) - x).abs().mean().item()
            per_image.setdefault(key, {})[f"cycle_l1_{side}"] = error
            errors.append(error)
        metrics_out[f"cycle_l1_{side}"] = float(np.mean(errors)) if errors else float("nan")
    notes: list[str] = []
    pairs = test_pairs(dir_a, dir_b)
    if pairs:
        names = list(dict.fromkeys([*PAIRED_METRICS, *metrics]))
        tables = {d: task.scores(names, suffix=f"_{d}") for d in ("AtoB", "BtoA")}
        resized = False
        for path_a, path_b in pairs:
            a, b = (read_or_skip(p, lambda q: load_image(q, size)) for p in (path_a, path_b))
            if a is None or b is None:
                continue
            a, b = a.to(device), b.to(device)
            for direction, source, target in (("AtoB", a, b), ("BtoA", b, a)):
                fake = translate(source, direction)
                if target.shape != fake.shape:  # partners of another size: compare at this one
                    target = nn.functional.interpolate(
                        target,
                        size=fake.shape[-2:],
                        mode="bicubic",
                        antialias=True,
                        align_corners=False,
                    ).clamp(0, 1)
                    resized = True
                # The pair's name, its path relative to the A folder: sub/a.png, not a.png.
                tables[direction].add(image_key(path_a, dir_a), fake, target)
        for table in tables.values():
            metrics_out |= table.means()
            for key, row in table.rows.items():  # the pair's row, under its A image's key
                per_image.setdefault(f"{dir_a.name}/{key}", {}).update(row)
        notes += list(dict.fromkeys(n for t in tables.values() for n in t.notes))
        if resized:
            notes.append(
                "paired metrics: partners of another size were resized (bicubic) to "
                "the translated image's size"
            )
    else:
        if metrics:
            notes.append(f"--metric {', '.join(metrics)}: skipped, as the paired metrics")
        notes.append("paired metrics: skipped (no test files share a name across A and B)")
    if realism:
        train_a, train_b = task.domains(root, "train")
        small = [load_readable(d, REALISM_SIZE) for d in (train_a, train_b)]
        classifier = train_domain_classifier(torch.cat(small[0]), torch.cat(small[1]))
        cpu = {k: [x.cpu() for x in v] for k, v in fakes.items()}
        metrics_out["realism_A"] = _share(classifier, cpu["A"], 0)
        metrics_out["realism_B"] = _share(classifier, cpu["B"], 1)
        real = {k: [x.cpu() for x in v] for k, v in test.items()}
        metrics_out["realism_real_accuracy"] = (
            _share(classifier, real["A"], 0) * len(real["A"])
            + _share(classifier, real["B"], 1) * len(real["B"])
        ) / (len(real["A"]) + len(real["B"]))
    return {
        "metrics": metrics_out,
        "images": len(test["A"]) + len(test["B"]),
        "pairs": len(pairs),
        "per_image": per_image,
        "notes": notes,
    }
