"""The ``sr`` task: learn HR from LR made on the fly by MATLAB bicubic downscaling."""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from imgen.config import PairedGANConfig, check_float, check_int, option
from imgen.errors import UsageError
from imgen.task import PairedGANTask

if TYPE_CHECKING:  # torch is imported where it runs: `imgen train TASK --help` stays fast
    import torch

DEFAULT_CROP = 128  # --crop default, rounded down to a multiple of --scale and of 8


@dataclass
class SRConfig(PairedGANConfig):
    """Options of ``imgen train sr`` (with the core's GAN options: --spectral-norm,
    --gp-weight, --r1-weight, --n-critic; they matter only when --gan-weight > 0)."""

    scale: int = option(
        4,
        "Upscaling factor, 1 to 8 (srresnet: 2, 3, 4; rrdbnet: 1, 2, 3, 4; 1 restores at the "
        "same size, for imported restoration models).",
        eval=True,
        arch=True,
    )
    crop: int | None = option(
        None,
        "Training crop, in HR pixels: a multiple of --scale (and of 8 for --discriminator "
        "unet, at least 32 for vgg) [default: 128; 120 with --scale 3].",
    )
    data_lr: str | None = option(
        None,
        "Folder of LR images made from --data's HR images, matched by relative path (any "
        "extension), each exactly --scale times smaller: train on these pairs (aligned crops, "
        "no --degradation applied).",
        metavar="DIR",
    )
    degradation: str = option(
        "bicubic",
        "How the LR training input is made from each HR crop, on the training device: bicubic "
        "(MATLAB imresize, as the benchmarks' LR), realesrgan (Real-ESRGAN's second-order "
        "blur, resize, noise and JPEG), or FILE.toml (realesrgan with the file's parameters; "
        "they are stored in config.json).",
        metavar="bicubic|realesrgan|FILE.toml",
    )
    degradation_options: dict[str, Any] | None = option(  # noqa: RUF009 - a field(), default None
        None,
        "Parameters of --degradation realesrgan over its defaults, as a JSON object, e.g. "
        "'{\"jpeg_range\": [60, 95]}' (a FILE.toml ignores them; config.json keeps all).",
    )
    usm_gt: bool = option(
        False,
        "Sharpen the HR targets by unsharp masking (Real-ESRGAN: radius 50, weight 0.5, "
        "threshold 10) and make the LR from them; the discriminator still sees the HR as is.",
    )
    generator: str = option(
        "srresnet",
        "Generator: srresnet, rrdbnet, compact (Real-ESRGAN), swinir, hat, dat, span, omnisr "
        "(spandrel's, in a published configuration), bicubic, or a plugin's; `imgen models` "
        "lists them.",
        eval=True,
        arch=True,
    )
    generator_options: dict[str, Any] | None = option(  # noqa: RUF009 - a field(), default None
        None,
        "More keyword arguments of the generator, as a JSON object, e.g. "
        "'{\"num_grow_ch\": 32}' (imported models store theirs here).",
        eval=True,
        arch=True,
    )
    num_feat: int = option(64, "Generator features.", arch=True)
    num_block: int | None = option(
        None, "Generator blocks [default: 16 srresnet, 23 rrdbnet].", arch=True
    )
    discriminator: str = option("vgg", "Discriminator: vgg or unet (spectral norm).", arch=True)
    gan_loss: Literal["vanilla", "lsgan", "hinge", "wgan-gp", "ragan"] = option(
        "ragan", "Adversarial loss (ragan: relativistic average, as ESRGAN)."
    )
    gan_weight: float = option(0.005, "Adversarial loss weight; 0 trains PSNR-oriented (no D).")
    pretrain_steps: int | None = option(
        None,
        "Steps of L1 alone (the PSNR model, no discriminator) before the GAN phase, which "
        "starts from their EMA weights with a fresh discriminator, as ESRGAN and Real-ESRGAN "
        "train in two runs; 0 trains the GAN from step 0 [default: 5/7 of --steps (their "
        "1,000k + 400k iterations); 0 with --init or --gan-weight 0].",
    )
    perceptual_weight: float = option(
        1.0,
        "VGG19 perceptual loss weight (GAN training only; "
        "skipped with a warning when the weights are missing).",
    )
    perceptual_layers: dict[str, Any] | None = option(  # noqa: RUF009 - a field(), default None
        None,
        "VGG19 layers of the perceptual loss and their weights, as a JSON object [default: "
        '\'{"conv5_4": 1}\', ESRGAN\'s]; Real-ESRGAN\'s: \'{"conv1_2": 0.1, "conv2_2": 0.1, '
        '"conv3_4": 1, "conv4_4": 1, "conv5_4": 1}\'.',
    )
    vgg_weights: str | None = option(
        None,
        "VGG19 weights file for the perceptual loss [default: torchvision's, from the torch hub "
        "cache, downloaded there when missing unless IMGEN_OFFLINE=1].",
        metavar="PATH",
    )
    cache: bool = option(
        True,
        "Keep the decoded training images in memory (one copy per process; a large folder "
        "with several ranks is not cached; a folder made by imgen prepare never is).",
    )
    lr_schedule: Literal["constant", "linear", "cosine"] = option(
        "cosine", "Learning-rate schedule after warmup: constant, linear decay to 0, cosine."
    )
    lr: float = option(
        5e-4,
        "Learning rate of the pixel-loss training (the whole run with --gan-weight 0, else "
        "the --pretrain-steps phase); --gan-lr is the GAN phase's.",
    )

    def __post_init__(self) -> None:
        if not 1 <= self.scale <= 8:
            raise UsageError(f"--scale {self.scale} is not supported; use 1 to 8")
        from imgen.data.degradations import resolve_degradation

        # Stored resolved: "realesrgan" with every parameter (a FILE.toml read now), so a
        # resumed or evaluated run reads no file and keeps its parameters.
        kind, params = resolve_degradation(self.degradation, self.degradation_options)
        self.degradation = kind
        self.degradation_options = None if params is None else params.to_dict()
        if self.data_lr is not None and kind != "bicubic":
            raise UsageError(
                f"--data-lr gives the LR images, --degradation {kind} would make them; pass "
                "one of the two"
            )
        if self.data_lr is not None and self.data is None:
            raise UsageError("--data-lr LR_DIR goes with --data HR_DIR, the images it matches")
        if self.crop is None:  # stored resolved, so a resumed or evaluated run keeps it
            step = math.lcm(self.scale, 8)  # also fits both discriminators
            self.crop = DEFAULT_CROP - DEFAULT_CROP % step
        super().__post_init__()
        check_int(self, "num_feat", 1)
        if self.num_block is not None:
            check_int(self, "num_block", 1)
        check_float(self, "perceptual_weight", 0)
        if self.perceptual_layers is not None:
            _check_perceptual_layers(self.perceptual_layers)
        if self.crop % self.scale:
            raise UsageError(
                f"--crop {self.crop} is not a multiple of --scale {self.scale}; pass --crop "
                f"{max(self.crop - self.crop % self.scale, self.scale)}"
            )
        lr_crop = self.crop // self.scale
        if self.generator == "rrdbnet" and self.scale == 2 and lr_crop % 2:
            raise UsageError(
                f"--crop {self.crop} does not fit --generator rrdbnet at --scale 2 (needs a "
                f"multiple of 4, for an even LR crop); pass --crop {max(self.crop // 4 * 4, 4)}"
            )
        if self.gan_weight > 0 and self.discriminator == "vgg" and self.crop < 32:
            raise UsageError(
                f"--crop {self.crop} is too small for --discriminator vgg (needs at least "
                f"32); pass a larger --crop or --gan-weight 0"
            )
        if self.gan_weight > 0 and self.discriminator == "unet" and self.crop % 8:
            step = math.lcm(8, self.scale)
            raise UsageError(
                f"--crop {self.crop} does not fit --discriminator unet (needs a multiple "
                f"of 8); pass --crop {max(self.crop // step * step, step)}"
            )


def _check_perceptual_layers(layers: dict[str, Any]) -> None:
    import difflib

    from imgen.losses.perceptual import VGG19_LAYER_NAMES

    if not layers:
        raise UsageError("--perceptual-layers needs at least one VGG19 layer, e.g. conv5_4")
    for name, weight in layers.items():
        if name not in VGG19_LAYER_NAMES:
            close = difflib.get_close_matches(name, VGG19_LAYER_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"--perceptual-layers: {name!r} is not a VGG19 layer; {hint}use names like "
                "conv1_2, conv5_4, relu5_4 or pool5"
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise UsageError(
                f"--perceptual-layers: the weight of {name} must be a number of at least 0, "
                f"got {weight!r}"
            )


def degradation_params(cfg: SRConfig) -> Any:
    """The run's :class:`imgen.data.degradations.DegradationOptions` (None for bicubic)."""
    from imgen.data.degradations import DegradationOptions

    if cfg.degradation == "bicubic":
        return None
    return DegradationOptions.from_dict(cfg.degradation_options or {}, source="config")


def _draw_degradation(params: Any, rng: Any) -> dict[str, Any]:
    from imgen.data.degradations import draw_params

    return {"degradation": draw_params(params, rng)}


class SuperResolution(PairedGANTask):
    """Super-resolution: SRResNet / ESRGAN training, BasicSR evaluation protocol."""

    name = "sr"
    help = "super-resolution from a folder of HR images (SRResNet, ESRGAN)"
    Config = SRConfig
    metrics = ["psnr_y", "ssim_y", "lpips"]
    examples = [
        "imgen train sr --steps 200 --batch-size 4       # scikit-image's sample photos",
        "imgen train sr --data ./photos --scale 4 --gan-weight 0 --steps 20000",
        "imgen train sr --data ./photos --generator rrdbnet --init runs/sr-psnr",
        "imgen train sr --data ./photos --degradation realesrgan --usm-gt --gan-weight 0",
        "imgen train sr --data ./HR --data-lr ./LR --scale 4    # existing LR/HR pairs",
        "imgen train sr --data ./DIV2K-sub --scale 4   # made by imgen prepare (large sets)",
        "imgen train sr --resume runs/sr-20261127-101500 --steps 40000",
    ]
    eval_examples = [
        "imgen eval sr --generator bicubic --scale 4 --data ./Set5",
        "imgen eval sr --run runs/sr-20261127-101500 --data ./Set14 --json",
    ]
    # imgen bench --sections data: 2K PNGs against prepared shards and the cache.
    prepared_data = {
        "prepare": {"scale": 4},
        "configs": {
            "bicubic": {"degradation": "bicubic", "scale": 4},
            "realesrgan": {"degradation": "realesrgan", "scale": 4},
        },
        # The GPU run the loader must keep fed: ESRGAN's RRDBNet at its batch and GT crop
        # (the pixel-loss phase is the fastest step, so the one that asks the most crops/s).
        "demand": {
            "variant": "rrdbnet",
            "batch_size": 16,
            "crop": 128,
            "phases": {"pixel-loss phase": {"gan_weight": 0}, "GAN phase": {}},
        },
    }
    bench_variants = [
        {"name": "srresnet", "options": {"generator": "srresnet"}},
        {"name": "rrdbnet", "options": {"generator": "rrdbnet"}},
    ]
    input_key, output_key, target_key = "lr", "sr", "hr"
    default_data = True

    perceptual: torch.nn.Module | None = None

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, cfg: SRConfig, device: torch.device, *, train: bool = False) -> None:
        # --scale and --crop are checked by SRConfig; the crop only matters for training.
        super().setup(cfg, device, train=train)
        self.perceptual = None
        if train and cfg.gan_weight > 0 and cfg.perceptual_weight > 0:
            from imgen.losses.perceptual import WeightsUnavailable
            from imgen.plugins import create_loss

            try:
                self.perceptual = create_loss(
                    "perceptual", weights_path=cfg.vgg_weights, layer_weights=cfg.perceptual_layers
                )
                self.perceptual = self.perceptual.to(device)
            except WeightsUnavailable as exc:
                if cfg.vgg_weights:  # asked for explicitly: stop
                    raise UsageError(str(exc)) from None
                print(
                    f"imgen: perceptual loss off: {exc}. Training goes on with the pixel and "
                    "adversarial losses only.",
                    flush=True,
                    file=sys.stderr,
                )

    def build_generator(self, cfg: SRConfig) -> torch.nn.Module:
        from imgen.plugins import create_model

        offered: dict[str, Any] = {
            "upscale": cfg.scale,
            "scale": cfg.scale,
            "num_feat": cfg.num_feat,
        }
        if cfg.num_block is not None:
            offered["num_block"] = cfg.num_block
        try:
            G = create_model(
                cfg.generator,
                "generator",
                offered=offered,
                task=self.model_scope(),
                **(cfg.generator_options or {}),
            )
        except ValueError as exc:  # e.g. a scale the generator does not have
            raise UsageError(f"--generator {cfg.generator}: {exc}") from None
        return G

    def output_scale(self) -> int:
        return self.cfg.scale

    def crop_border(self) -> int:
        return self.cfg.scale

    # -- data ----------------------------------------------------------------------------------
    def dataset(self, cfg: SRConfig, root: str | None, split: str) -> torch.utils.data.Dataset:
        from imgen.data.datasets import training_images
        from imgen.data.prepared import is_prepared, prepared_scale

        if cfg.data_lr is not None:
            from imgen_sr.data import PairedSRDataset

            if is_prepared(self.data_root(root)):
                raise UsageError(
                    f"--data {root} is a dataset made by imgen prepare, and --data-lr pairs "
                    "folders of images; drop --data-lr (imgen prepare --scale stores LR crops)."
                )

            return PairedSRDataset(
                self.data_root(root), cfg.data_lr, cfg.crop, cfg.scale, cache=cfg.cache
            )
        draw = None
        if cfg.degradation == "realesrgan":
            # Each sample's degradation is drawn in the loader, from the sample's seed.
            draw = functools.partial(_draw_degradation, degradation_params(cfg))
        root = self.data_root(root)
        if is_prepared(root) and cfg.degradation == "bicubic" and not cfg.usm_gt:
            # Its stored LR crops (imgen prepare --scale) are the bicubic LR the task would
            # make: read them when they are of this scale.
            paired = prepared_scale(root) == cfg.scale
            return training_images(root, cfg.crop, draw=draw, paired=paired)
        return training_images(root, cfg.crop, augment=True, cache=cfg.cache, draw=draw)

    def prepare(self, batch: dict) -> dict:
        from imgen.data.degradations import degrade, usm_sharp
        from imgen.data.resize import imresize

        cfg, device = self.cfg, self.device
        hr = batch["image"].to(device, non_blocking=True)
        if "lr" in batch:  # --data-lr: the LR images are given
            lr = batch["lr"].to(device, non_blocking=True).float().div_(255)
            return self._targets(lr, hr.float().div_(255))
        if cfg.degradation == "bicubic" and not cfg.usm_gt:
            # LR exactly as the benchmarks' LR images are made: MATLAB's uint8 bicubic path.
            lr = imresize(hr, 1 / cfg.scale)
            return {"lr": lr.float().div_(255), "hr": hr.float().div_(255)}
        real = hr.float().div_(255)
        # Real-ESRGAN makes the LR from the sharpened HR, which is also the pixel target.
        source = usm_sharp(real) if cfg.usm_gt else real
        if cfg.degradation == "bicubic":
            lr = imresize(source, 1 / cfg.scale).clamp_(0, 1).mul_(255).round_().div_(255)
        else:
            params = {k: v.to(device, non_blocking=True) for k, v in batch["degradation"].items()}
            lr = degrade(source, params, cfg.scale)
        out = {"lr": lr, "hr": source}
        if cfg.usm_gt:
            out["hr_real"] = real
        return out

    def _targets(self, lr: torch.Tensor, hr: torch.Tensor) -> dict:
        if not self.cfg.usm_gt:
            return {"lr": lr, "hr": hr}
        from imgen.data.degradations import usm_sharp

        return {"lr": lr, "hr": usm_sharp(hr), "hr_real": hr}

    def real_images(self, batch: dict) -> torch.Tensor:
        # --usm-gt: L1 and perceptual against the sharpened HR, the discriminator's real
        # images unsharpened (Real-ESRGAN's l1_gt_usm / percep_gt_usm on, gan_gt_usm off).
        return batch.get("hr_real", batch["hr"])

    # -- math ----------------------------------------------------------------------------------
    def extra_losses(self, nets: dict, batch: dict, out: dict) -> dict:
        if self.perceptual is None:
            return {}
        return {"perceptual": (self.cfg.perceptual_weight, self.perceptual(out["sr"], batch["hr"]))}

    # -- evaluation ----------------------------------------------------------------------------
    def eval_pairs(self, root: str):
        from imgen_sr.evaluate import sr_pairs

        return sr_pairs(Path(root), self.cfg.scale, self.device)

    def evaluate(self, nets: dict, root: str | None, **options: Any) -> dict[str, Any]:
        return {**super().evaluate(nets, root, **options), "scale": self.cfg.scale}
