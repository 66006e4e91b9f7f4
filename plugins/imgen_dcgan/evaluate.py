"""Evaluation of the dcgan task: how generated samples compare with real images.

Needs no pretrained weights:

* ``nn_rms_fake``: mean RMS distance (pixels in [0, 1], at 32x32) from each sample to its
  nearest real image (or mirror image, when the run trained with flips); ``nn_rms_real``: the
  same from each real image to its nearest *other* real image; ``nn_ratio`` = fake / real.
  About 1: samples are as far from the data as real images are from each other; well below
  1: the generator copies training images; far above 1: samples are off the data.
* ``diversity``: mean pairwise RMS distance between samples over the same between real
  images: near 0 means mode collapse.
* conditional runs, with ``full``: ``class_accuracy``, the share of samples that a small CNN
  trained on the real images assigns to the class they were drawn for
  (``class_accuracy_real``: its accuracy on the real images, the ceiling).

With ``full``, FID and KID (Inception features, torchmetrics / torch-fidelity) when both
packages are installed (``pip install 'imgen[metrics]'``) and the Inception weights are
already on disk: nothing is ever downloaded; otherwise a note says what is missing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imgen.errors import DataError

# torch-fidelity's port of the TF Inception graph used by FID; torchmetrics loads it through
# torch.hub.load_state_dict_from_url, which looks in <torch hub dir>/checkpoints first. imgen
# downloads it there itself (imgen.hub), so that IMGEN_OFFLINE=1 is honoured.
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
)
INCEPTION_ENV = "IMGEN_INCEPTION_WEIGHTS"
DISTANCE_SIZE = 32
MAX_REFERENCE = 2000


def inception_weights(download: bool = True) -> tuple[Path | None, str]:
    """(the Inception weights file if present, else None; why it is missing).

    ``$IMGEN_INCEPTION_WEIGHTS`` names the file explicitly; otherwise torch hub's cache
    (``$TORCH_HOME/hub/checkpoints``), downloaded there from torch-fidelity's release when it
    is missing and ``download`` is true (never with ``IMGEN_OFFLINE=1``).
    """
    if os.environ.get(INCEPTION_ENV):
        path = Path(os.environ[INCEPTION_ENV])
        if path.is_file():
            return path, ""
        return None, f"{INCEPTION_ENV}={path} is not a file; point it at {INCEPTION_FILE}"
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if path.is_file():
        return path, ""
    if not download:
        return None, f"Inception weights not in cache: {path}; download {INCEPTION_URL} there"
    from imgen import hub

    try:
        return hub.download(INCEPTION_URL, path, what="FID's Inception weights"), ""
    except hub.DownloadError as exc:
        return None, str(exc)


def _small(images: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) -> (N, C * 32 * 32) float at 32x32 (area averaging), for distances."""
    images = images.float()
    if images.shape[-1] > DISTANCE_SIZE:
        images = F.interpolate(images, size=DISTANCE_SIZE, mode="area")
    return images.flatten(1)


def _rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise RMS distances (per pixel) between the rows of a and b."""
    return torch.cdist(a, b) / a.shape[1] ** 0.5


def nearest_distances(
    fakes: torch.Tensor, reals: torch.Tensor, *, mirrored: bool, per_fake: list | None = None
) -> tuple[float, float]:
    """(mean nearest-real distance of the fakes, mean nearest-other-real distance of reals);
    ``per_fake``, when given, receives each fake's own nearest-real distance.

    Args:
        fakes: generated images (N, C, S, S) in [0, 1].
        reals: real images (M, C, S, S) in [0, 1], M >= 2.
        mirrored: count the horizontal mirror of each real image as a real image too (the
            generator saw them when trained with flips); a real image's own mirror is never
            its neighbour.
    """
    ref = _small(reals)
    ref_all = torch.cat([ref, _small(reals.flip(-1))]) if mirrored else ref
    nearest = _rms(_small(fakes), ref_all).min(1).values
    if per_fake is not None:
        per_fake.extend(nearest.tolist())
    d_fake = nearest.mean()
    d_real = _rms(ref, ref_all)
    m = len(ref)
    own = torch.arange(m)
    d_real[own, own] = float("inf")
    if mirrored:
        d_real[own, own + m] = float("inf")
    return float(d_fake), float(d_real.min(1).values.mean())


def mean_pairwise(images: torch.Tensor) -> float:
    """Mean RMS distance over all pairs of different images."""
    x = _small(images)
    d = _rms(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


class _ClassNet(nn.Module):
    """A small CNN classifying 32x32 images; evaluates class-conditional samples."""

    def __init__(self, channels: int, classes: int, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for i in range(3):
            layers += [
                nn.Conv2d(c, width * 2**i, 3, 2, 1),
                nn.BatchNorm2d(width * 2**i),
                nn.ReLU(True),
            ]
            c = width * 2**i
        self.net = nn.Sequential(
            *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def class_accuracy(
    reals: torch.Tensor,
    labels: torch.Tensor,
    fakes: torch.Tensor,
    fake_labels: torch.Tensor,
    classes: int,
    *,
    steps: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """(accuracy on the fakes, accuracy on the reals) of a CNN fitted to the real images."""

    def small(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), size=DISTANCE_SIZE, mode="area") if x.shape[-1] > 32 else x

    # Evaluation runs under inference_mode; this small model is trained inside it.
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x_all, y_all = small(reals.cpu()).clone(), labels.cpu().clone()
        net = _ClassNet(reals.shape[1], classes)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            idx = torch.randint(len(x_all), (min(64, len(x_all)),), generator=generator)
            x = x_all[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.cross_entropy(net(x), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            fake_acc = (net(small(fakes.cpu()).clone()).argmax(1) == fake_labels.cpu()).float()
            real_acc = (net(x_all).argmax(1) == y_all).float()
    return float(fake_acc.mean()), float(real_acc.mean())


class _LastCall(nn.Module):
    """Remembers its last input and output: FID and KID then share each batch's Inception
    features (the costly part, about 6 GFLOPs an image) instead of computing them twice."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._last is None or self._last[0] is not x:
            self._last = (x, self.net(x))
        return self._last[1]


def fid_kid(
    reals: torch.Tensor, fakes: torch.Tensor, device: torch.device
) -> tuple[dict[str, float], list[str]]:
    """FID and KID through torchmetrics, or notes saying why they are unavailable."""
    missing = [m for m in ("torchmetrics", "torch_fidelity") if importlib.util.find_spec(m) is None]
    if missing:
        why = f"{' and '.join(missing)} not installed; pip install 'imgen[metrics]'"
        return {}, [f"fid: unavailable ({why})", f"kid: unavailable ({why})"]
    weights, why = inception_weights()
    if weights is None:
        return {}, [f"fid: unavailable ({why})", f"kid: unavailable ({why})"]
    import inspect

    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.kid import KernelInceptionDistance

    kwargs: dict[str, Any] = {}
    if "feature_extractor_weights_path" in inspect.signature(NoTrainInceptionV3).parameters:
        kwargs["feature_extractor_weights_path"] = str(weights)
    elif weights != Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE:
        why = f"this torchmetrics reads the weights from the torch hub cache only, not {weights}"
        return {}, [f"fid: unavailable ({why})", f"kid: unavailable ({why})"]
    # One extractor for both metrics; it takes uint8 images, as torch-fidelity does.
    inception = _LastCall(
        NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], **kwargs)
    )
    fid = FrechetInceptionDistance(feature=inception).to(device)
    kid = KernelInceptionDistance(feature=inception, subset_size=min(1000, len(reals), len(fakes)))
    kid = kid.to(device)
    for images, real in ((reals, True), (fakes, False)):
        for batch in images.split(100):
            batch = (batch.to(device).float() * 255).round().clamp(0, 255).to(torch.uint8)
            if batch.shape[1] == 1:
                batch = batch.expand(-1, 3, -1, -1)
            fid.update(batch, real=real)
            kid.update(batch, real=real)
    kid_mean, kid_std = kid.compute()
    notes = [
        f"fid/kid: {len(fakes)} samples against {len(reals)} real images (FID is biased "
        "upwards below ~10,000 samples; KID is unbiased)"
    ]
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}, notes


def evaluate_generation(
    task: Any, nets: dict, root: str | None, *, full: bool = False
) -> dict[str, Any]:
    """Score samples of ``nets["G"]`` against the real images of ``root`` (None: LFW).

    As many samples as real images (at least 256, at most 2,000), from seed 0; a conditional
    run draws each sample's class from the real images' classes, so both sets have the same
    class balance.
    """
    cfg, device = task.cfg, task.device
    data = task.dataset(cfg, root, "test")
    if len(data) < 2:
        raise DataError(f"evaluation needs at least two real images, found {len(data)}")
    reals = torch.stack([data[i]["image"] for i in range(len(data))]).float() / 255
    labels = torch.tensor(data.labels)
    n = min(max(len(data), 256), MAX_REFERENCE)
    z = torch.randn(n, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    fake_labels = labels[torch.arange(n) % len(labels)] if task.classes else None
    fakes = task._sample(nets["G"], z, fake_labels).cpu()

    reference = reals
    if len(reals) > MAX_REFERENCE:  # a fixed subset keeps the distance matrix small
        pick = torch.randperm(len(reals), generator=torch.Generator().manual_seed(0))
        reference = reals[pick[:MAX_REFERENCE]]
    each: list[float] = []
    d_fake, d_real = nearest_distances(fakes, reference, mirrored=cfg.flip, per_fake=each)
    metrics: dict[str, float] = {
        "nn_rms_fake": d_fake,
        "nn_rms_real": d_real,
        "nn_ratio": d_fake / max(d_real, 1e-12),
        "diversity": mean_pairwise(fakes[:500]) / max(mean_pairwise(reference[:500]), 1e-12),
    }
    notes: list[str] = []
    if full and task.classes:
        metrics["class_accuracy"], metrics["class_accuracy_real"] = class_accuracy(
            reals, labels, fakes, fake_labels, len(task.classes)
        )
    elif full:
        notes.append("class_accuracy: conditional runs only (--conditional)")
    if full:
        scores, fid_notes = fid_kid(reals, fakes, device)
        metrics |= scores
        notes += fid_notes
    return {
        "metrics": metrics,
        "data": str(root) if root is not None else "scikit-image's LFW subset (built in)",
        "images": n,
        "real_images": len(data),
        "classes": list(task.classes),
        # One row per generated sample (seeded): its distance to the nearest real image.
        "per_image": {f"sample_{i:04d}": {"nn_rms": d} for i, d in enumerate(each)},
        "notes": notes,
    }
