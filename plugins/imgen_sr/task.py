"""The ``sr`` task: learn HR from LR made on the fly by MATLAB bicubic downscaling."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from imgen.config import GANConfig, option
from imgen.errors import UsageError
from imgen.task import Task


@dataclass
class SRConfig(GANConfig):
    """Options of ``imgen train sr`` (with the core's GAN options: --spectral-norm,
    --gp-weight, --r1-weight, --n-critic; they matter only when --gan-weight > 0)."""

    scale: int = option(4, "Upscaling factor: 2, 3 or 4.", eval=True)
    generator: str = option(
        "srresnet", "Generator: srresnet, rrdbnet, bicubic (or a plugin's).", eval=True
    )
    num_feat: int = option(64, "Generator features.")
    num_block: int | None = option(None, "Generator blocks [default: 16 srresnet, 23 rrdbnet].")
    discriminator: str = option("vgg", "Discriminator: vgg or unet (spectral norm).")
    gan_loss: Literal["vanilla", "lsgan", "hinge", "wgan-gp", "ragan"] = option(
        "ragan", "Adversarial loss (ragan: relativistic average, as ESRGAN)."
    )
    gan_weight: float = option(0.005, "Adversarial loss weight; 0 trains PSNR-oriented (no D).")
    pixel_loss: Literal["l1", "charbonnier"] = option("l1", "Pixel loss.")
    pixel_weight: float = option(1.0, "Pixel loss weight.")
    perceptual_weight: float = option(
        1.0,
        "VGG19 perceptual loss weight (GAN training only; "
        "skipped with a warning when the weights are missing).",
    )
    vgg_weights: str | None = option(
        None,
        "VGG19 weights file for the perceptual loss [default: torch hub cache].",
        metavar="PATH",
    )
    init: str | None = option(
        None,
        "Start the generator from this run's weights (e.g. GAN "
        "fine-tuning of a PSNR-oriented run).",
        metavar="RUN_DIR",
    )
    cache: bool = option(True, "Keep the decoded training images in memory.")
    lr_schedule: Literal["constant", "linear", "cosine"] = option(
        "cosine", "Learning-rate schedule after warmup: constant, linear decay to 0, cosine."
    )
    lr: float = option(5e-4, "Learning rate (generator; the discriminator's too unless --d-lr).")


class SuperResolution(Task):
    """Super-resolution: SRResNet / ESRGAN training, BasicSR evaluation protocol."""

    name = "sr"
    help = "super-resolution from a folder of HR images (SRResNet, ESRGAN)"
    Config = SRConfig
    training = False
    metrics = ["psnr_y", "ssim_y", "lpips"]
    examples = [
        "imgen train sr --steps 200 --batch-size 4       # scikit-image's sample photos",
        "imgen train sr --data ./photos --scale 4 --gan-weight 0 --steps 20000",
        "imgen train sr --data ./photos --generator rrdbnet --init runs/sr-psnr",
        "imgen train sr --resume runs/sr-20261127-101500 --steps 40000",
    ]
    eval_examples = [
        "imgen eval sr --generator bicubic --scale 4 --data ./Set5",
        "imgen eval sr --run runs/sr-20261127-101500 --data ./Set14 --json",
    ]

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, cfg: SRConfig, device: torch.device, *, train: bool = False) -> None:
        super().setup(cfg, device, train=train)
        if cfg.scale not in (2, 3, 4):
            raise UsageError(f"--scale {cfg.scale} is not supported; use 2, 3 or 4")
        if cfg.crop % cfg.scale:
            raise UsageError(f"--crop {cfg.crop} is not a multiple of --scale {cfg.scale}")
        self.training = train
        self.pixel = self.perceptual = None
        if not train:
            return
        from imgen.losses.pixel import CharbonnierLoss, L1Loss

        self.pixel = (L1Loss() if cfg.pixel_loss == "l1" else CharbonnierLoss()).to(device)
        if cfg.gan_weight > 0 and cfg.perceptual_weight > 0:
            from imgen.losses.perceptual import PerceptualLoss, WeightsUnavailable

            try:
                self.perceptual = PerceptualLoss(weights_path=cfg.vgg_weights).to(device)
            except WeightsUnavailable as exc:
                if cfg.vgg_weights:
                    raise UsageError(str(exc)) from None
                print(
                    f"imgen: WARNING: perceptual loss disabled: {exc}", flush=True, file=sys.stderr
                )

    def build(self, cfg: SRConfig) -> dict[str, torch.nn.Module]:
        from imgen.plugins import create_model

        kwargs: dict[str, Any] = {
            "upscale": cfg.scale,
            "scale": cfg.scale,
            "num_feat": cfg.num_feat,
        }
        if cfg.num_block is not None:
            kwargs["num_block"] = cfg.num_block
        nets = {"G": create_model(cfg.generator, "generator", **kwargs)}
        if self.training and cfg.init:
            from imgen.engine.checkpoint import load_weights

            nets["G"].load_state_dict(load_weights(cfg.init, ema=True)["G"])
        if self.training and cfg.gan_weight > 0:  # evaluation and prediction need only G
            nets["D"] = create_model(cfg.discriminator, "discriminator", num_feat=64)
        return nets

    # -- data ----------------------------------------------------------------------------------
    def dataset(self, cfg: SRConfig, root: str | None, split: str) -> torch.utils.data.Dataset:
        from imgen.data.datasets import ImageFolderDataset
        from imgen.data.samples import sample_folder

        if root is None:
            root = str(sample_folder())
            print(
                f"imgen: no --data given: training on scikit-image's sample photos in {root}",
                file=sys.stderr,
            )
        return ImageFolderDataset(root, cfg.crop, augment=True, cache=cfg.cache)

    def prepare(self, batch: dict) -> dict:
        from imgen.data.resize import imresize

        hr = batch["image"].to(self.device, non_blocking=True)
        # LR exactly as the benchmarks' LR images are made: MATLAB's uint8 bicubic path.
        lr = imresize(hr, 1 / self.cfg.scale)
        return {"lr": lr.float().div_(255), "hr": hr.float().div_(255)}

    # -- math ----------------------------------------------------------------------------------
    def forward(self, nets: dict, batch: dict) -> dict:
        return {"sr": nets["G"](batch["lr"])}

    def d_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        from imgen.losses.adversarial import discriminator_objective

        cfg = self.cfg
        loss, logs = discriminator_objective(
            cfg.gan_loss,
            nets["D"],
            batch["hr"],
            out["sr"],
            gp_weight=cfg.gp_weight,
            r1_weight=cfg.r1_weight,
        )
        return loss, {"d_loss": loss, **logs}

    def g_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        cfg, sr, hr = self.cfg, out["sr"], batch["hr"]
        pixel = self.pixel(sr.float(), hr)
        loss = cfg.pixel_weight * pixel
        logs = {"pixel": pixel}
        if "D" in nets and cfg.gan_weight > 0:
            from imgen.losses.adversarial import generator_objective

            if self.perceptual is not None:
                perceptual = self.perceptual(sr, hr)
                loss = loss + cfg.perceptual_weight * perceptual
                logs["perceptual"] = perceptual
            gan = generator_objective(cfg.gan_loss, nets["D"], sr, hr)
            loss = loss + cfg.gan_weight * gan
            logs["gan"] = gan
        return loss, logs

    # -- outputs -------------------------------------------------------------------------------
    def predict(
        self,
        nets: dict,
        image: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        **_: Any,
    ) -> torch.Tensor:
        from imgen.inference import predict_tiled

        G = nets["G"]
        out = predict_tiled(
            G,
            image,
            scale=self.cfg.scale,
            tile=tile,
            overlap=tile_overlap,
            multiple=getattr(G, "required_multiple", 1),
        )
        return out.clamp(0, 1)

    def sample_columns(self, batch: dict, out: dict) -> list[torch.Tensor]:
        return [batch["lr"], out["sr"], batch["hr"]]

    def evaluate(
        self, nets: dict, root: str, *, tile: int | None = None, tile_overlap: int = 32, **_: Any
    ) -> dict[str, Any]:
        from imgen_sr.evaluate import evaluate_sr

        return evaluate_sr(self, nets, Path(root), tile=tile, tile_overlap=tile_overlap)
