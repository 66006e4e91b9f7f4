"""The ``denoise`` task: learn clean images from noisy ones made on the fly.

Any folder of ordinary images is training data: each crop gets Gaussian or Poisson noise
drawn from the sample's seed (so ``--resume`` is exact), a DnCNN learns to remove it with a
pixel loss, and a PatchGAN from imgen's core registry adds an adversarial term that keeps
textures from being smoothed away (``--gan-weight 0`` trains without it). Evaluation reports
PSNR and SSIM of the denoised images and, for reference, of the noisy ones.

Only imgen's public API is used: :mod:`imgen.task`, :mod:`imgen.config`, :mod:`imgen.data`,
:mod:`imgen.losses`, :mod:`imgen.metrics`, :mod:`imgen.inference`, :mod:`imgen.plugins`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from imgen.config import PairedGANConfig, option
from imgen.errors import UsageError
from imgen.task import PairedGANTask
from torch.utils.data import Dataset

__all__ = ["Denoise", "DenoiseConfig", "NoisyImages", "add_noise"]

NOISES = ("gaussian", "poisson")


def add_noise(
    image: torch.Tensor,
    kind: str = "gaussian",
    *,
    sigma: float = 25 / 255,
    peak: float = 30.0,
    clip: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add Gaussian (read) or Poisson (shot) noise to images in [0, 1].

    - ``gaussian``: ``image + sigma * N(0, 1)``, the additive white Gaussian noise of the
      denoising benchmarks (``sigma = 25/255`` is their middle level).
    - ``poisson``: ``Poisson(peak * image) / peak``: photon counting with ``peak`` photons at
      white, so darker pixels are relatively noisier; lower ``peak`` is noisier.

    Args:
        image: clean images in [0, 1].
        kind: ``gaussian`` or ``poisson``.
        sigma: standard deviation of the Gaussian noise, in image units (``25 / 255`` is
            sigma 25 on 8-bit levels).
        peak: photons at white for the Poisson noise, > 0.
        clip: clip the result to [0, 1], as a camera's output is (the Gaussian benchmarks
            leave it unclipped).
        generator: draws the noise (a seeded one makes it reproducible).

    Returns:
        The noisy images, float32, same shape.

    Shape:
        - image: :math:`(*, H, W)`, e.g. :math:`(B, 3, H, W)` or :math:`(3, H, W)`.
        - Output: the same.

    Example:
        >>> clean = torch.full((1, 3, 64, 64), 0.5)
        >>> noisy = add_noise(clean, sigma=0.1, generator=torch.Generator().manual_seed(0))
        >>> round(float((noisy - clean).std()), 2)
        0.1
    """
    if not isinstance(image, torch.Tensor) or image.ndim < 2:
        raise ValueError(
            f"add_noise expects an image tensor (*, H, W), got {type(image).__name__}."
        )
    if kind not in NOISES:
        raise ValueError(f"add_noise: unknown noise {kind!r}; use gaussian or poisson.")
    if kind == "gaussian" and sigma < 0:
        raise ValueError(f"add_noise: sigma must be >= 0, got {sigma}.")
    if kind == "poisson" and peak <= 0:
        raise ValueError(f"add_noise: peak must be > 0, got {peak}.")
    image = image.float()
    if kind == "gaussian":
        noise = torch.randn(image.shape, generator=generator, device=image.device)
        noisy = image + sigma * noise
    else:
        rates = image.clamp(min=0) * peak
        noisy = torch.poisson(rates, generator=generator) / peak
    return noisy.clamp(0, 1) if clip else noisy


def noise_generator(seed: int) -> torch.Generator:
    """The generator of one sample's noise (torch's seeds are 64-bit; SampleStream's may be
    larger)."""
    return torch.Generator().manual_seed(int(seed) % (2**63))


@dataclass
class DenoiseConfig(PairedGANConfig):
    """Options of ``imgen train denoise``."""

    noise: Literal["gaussian", "poisson"] = option(
        "gaussian",
        "Noise added to the clean images: gaussian (read noise) or poisson (shot).",
        eval=True,
    )
    sigma: float = option(
        25.0,
        "Gaussian noise standard deviation, in 8-bit levels (15, 25, 50 are usual).",
        eval=True,
    )
    peak: float = option(30.0, "Poisson noise: photons at white (lower is noisier).", eval=True)
    clip: bool = option(
        True,
        "Clip noisy images to [0, 1], as a camera would (off: the AWGN benchmark way).",
        eval=True,
    )
    generator: str = option("dncnn", "Generator: dncnn (or another plugin's).")
    depth: int = option(17, "DnCNN convolutions (17: DnCNN-S, 20: blind DnCNN-B).")
    features: int = option(64, "DnCNN features per layer.")
    discriminator: str = option("patchgan", "Discriminator: patchgan or pixelgan (imgen's core).")
    ndf: int = option(64, "Discriminator features in the first layer.")
    d_layers: int = option(3, "PatchGAN layers (3: 70x70 receptive field).")
    gan_weight: float = option(
        0.005, "Adversarial loss weight; 0 trains with the pixel loss alone (no discriminator)."
    )
    pixel_loss: str = option(
        "l1", "Pixel loss: l1, l2 (DnCNN's MSE), charbonnier or any registered loss."
    )
    cache: bool = option(True, "Keep the decoded training images in memory.")
    crop: int = option(64, "Training crop, in pixels.")
    lr: float = option(1e-3, "Learning rate (generator; the discriminator's too unless --d-lr).")
    beta2: float = option(0.999, "Adam beta2.")
    lr_schedule: Literal["constant", "linear", "cosine"] = option(
        "cosine", "Learning-rate schedule after warmup: constant, linear decay to 0, cosine."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma < 0:
            raise UsageError(f"--sigma must be >= 0, got {self.sigma}")
        if self.peak <= 0:
            raise UsageError(f"--peak must be > 0, got {self.peak}")

    def discriminator_options(self) -> dict[str, Any]:
        return {"ndf": self.ndf, "n_layers": self.d_layers, "norm": "batch"}


class NoisyImages(Dataset):
    """Crops of a folder's images, each with its own noise drawn from the sample's seed.

    Items: ``{"image": uint8 (3, H, W) clean crop, "noisy": float32 (3, H, W) in [0, 1]}``
    (unclipped noise can leave [0, 1]). ``ds[(index, seed)]`` draws the crop, the flips and
    the noise from ``seed``; ``ds[index]`` is a centre crop with noise seeded by ``index``.
    """

    def __init__(self, images: Dataset, cfg: DenoiseConfig) -> None:
        self.images = images
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        sample = self.images[item]
        seed = item[1] if isinstance(item, tuple) else int(item)
        clean = sample["image"].float().div(255)
        noisy = _noisy(clean, self.cfg, noise_generator(seed))
        return {"image": sample["image"], "noisy": noisy, "index": sample["index"]}


def _noisy(clean: torch.Tensor, cfg: DenoiseConfig, generator: torch.Generator) -> torch.Tensor:
    return add_noise(
        clean,
        cfg.noise,
        sigma=cfg.sigma / 255,
        peak=cfg.peak,
        clip=cfg.clip,
        generator=generator,
    )


class Denoise(PairedGANTask):
    """Denoising: DnCNN + PatchGAN, pixel + adversarial loss, PSNR/SSIM evaluation.

    Evaluation gives each image noise seeded by its position in the sorted folder, so every
    evaluation of a folder sees the same noisy images; ``*_noisy`` scores the noisy input.
    """

    name = "denoise"
    help = "remove Gaussian or Poisson noise (DnCNN + PatchGAN), noise added on the fly"
    Config = DenoiseConfig
    metrics: ClassVar[list[str]] = ["psnr", "ssim"]
    examples: ClassVar[list[str]] = [
        "imgen train denoise --steps 200 --batch-size 4       # scikit-image's sample photos",
        "imgen train denoise --data ./photos --sigma 50 --steps 20000",
        "imgen train denoise --data ./photos --noise poisson --peak 10 --gan-weight 0",
    ]
    eval_examples: ClassVar[list[str]] = [
        "imgen eval denoise --run runs/denoise-20261127-101500 --data ./BSD68 --json",
    ]
    input_key, output_key, target_key = "noisy", "denoised", "clean"
    reference_suffix = "_noisy"
    default_data = True

    def build_generator(self, cfg: DenoiseConfig) -> torch.nn.Module:
        from imgen.plugins import create_model

        return create_model(
            cfg.generator, "generator", in_channels=3, depth=cfg.depth, features=cfg.features
        )

    def dataset(self, cfg: DenoiseConfig, root: str | None, split: str) -> Dataset:
        from imgen.data import ImageFolderDataset

        images = ImageFolderDataset(
            self.data_root(root), cfg.crop, augment=split == "train", cache=cfg.cache
        )
        return NoisyImages(images, cfg)

    def prepare(self, batch: dict) -> dict:
        clean = batch["image"].to(self.device, non_blocking=True).float().div_(255)
        return {"noisy": batch["noisy"].to(self.device, non_blocking=True), "clean": clean}

    def degrade(self, target: torch.Tensor, index: int) -> torch.Tensor:
        from imgen.errors import DataError

        if min(target.shape[-2:]) < 11:  # SSIM's window
            raise DataError(f"evaluation image {index} is smaller than 11x11 pixels")
        return _noisy(target.cpu(), self.cfg, noise_generator(index)).to(target.device)
