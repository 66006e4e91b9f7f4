"""The ``translate`` task: learn B from A on paired images (pix2pix).

Images are in [0, 1] everywhere outside the networks; the generator and discriminator see
them scaled to [-1, 1], as in pix2pix (tanh output).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from imgen.config import ImageToImageConfig, PairedGANConfig, check_int, option
from imgen.errors import UsageError
from imgen.task import PairedGANTask

if TYPE_CHECKING:  # torch is imported where it runs: `imgen train TASK --help` stays fast
    import torch


@dataclass
class TranslateConfig(ImageToImageConfig, PairedGANConfig):
    """Options of ``imgen train translate`` (the GAN objective's options come from
    :class:`imgen.config.GANConfig`: --gan-loss, --spectral-norm, --gp-weight, --r1-weight,
    --n-critic)."""

    renamed: ClassVar[dict[str, str]] = {"l1_weight": "pixel_weight"}  # --l1-weight until 0.1.0

    direction: Literal["AtoB", "BtoA"] = option(
        "AtoB", "Translate A to B, or B to A (facades labels->photos: BtoA).", eval=True
    )
    condition: Literal["edges", "gray", "blur", "mask", "sketch"] | None = option(
        None,
        "Derive A from a folder of photos: edges (Canny), gray, blur, mask (holes), sketch.",
        eval=True,
    )
    generator: str = option(
        "unet", "Generator: unet, unet-timm, resnet (or a plugin's).", arch=True
    )
    depth: int = option(8, "U-Net depth: 8 (unet_256), 7 (unet_128).", arch=True)
    dropout: bool = option(
        True, "Dropout 0.5 in the U-Net's innermost blocks (pix2pix).", arch=True
    )
    encoder: str = option(
        "resnet34", "timm encoder of unet-timm (any timm.list_models() name).", arch=True
    )
    encoder_weights: str | None = option(
        None,
        "Pretrained encoder weights file [default: the Hugging Face cache, if any].",
        metavar="PATH",
    )
    blocks: int = option(9, "Residual blocks of the resnet generator.", arch=True)
    pixel_weight: float = option(100.0, "Pixel (L1) loss weight (pix2pix's lambda_L1).")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "blocks", 1)
        if self.generator == "unet":  # checked here, not at step 0 by the network
            check_int(self, "depth", 5)
            multiple = 2**self.depth
            if self.crop % multiple:
                raise UsageError(unet_crop_message(self.crop, self.depth))


def unet_crop_message(crop: int, depth: int) -> str:
    """Why ``--crop`` does not fit the U-Net of ``--depth`` (whose sides are multiples of
    ``2**depth``), and the --depth that would fit, if any."""
    multiple = 2**depth
    fits = [d for d in range(depth - 1, 4, -1) if crop % 2**d == 0]
    problem = "is too small for" if crop < multiple else "does not fit"
    larger = "a larger --crop" if crop < multiple else f"a --crop that is a multiple of {multiple}"
    fix = f"pass --depth {fits[0]} or {larger}" if fits else f"pass {larger}"
    return (
        f"--crop {crop} {problem} the U-Net of --depth {depth} (needs a multiple of "
        f"{multiple}); {fix}"
    )


class Translate(PairedGANTask):
    """Paired conditional translation: U-Net + PatchGAN, GAN + L1 (pix2pix)."""

    name = "translate"
    help = "paired image-to-image translation (pix2pix)"
    Config = TranslateConfig
    metrics = ["psnr", "ssim", "l1", "lpips"]
    examples = [
        "imgen train translate --data ./facades --direction BtoA --steps 20000",
        "imgen train translate --data ./photos --condition edges --crop 128 --depth 7",
        "imgen train translate --data ./pairs --generator unet-timm --encoder resnet34",
        "imgen train translate --data ./pairs --gan-loss wgan-gp --n-critic 5 --norm instance",
        "imgen train translate --data ./pairs --gan-loss hinge --spectral-norm",
    ]
    eval_examples = [
        "imgen eval translate --run runs/translate-20261127-101500 --data ./facades --json",
    ]
    # unet_256 needs sides that are multiples of 256: on the CPU it runs at pix2pix's own
    # batch 1 and 256 crop rather than at the CPU profile's smaller crop.
    bench_variants = [
        {"name": "unet", "options": {"generator": "unet"}, "cpu": {"batch_size": 1, "crop": 256}}
    ]
    input_key, output_key, target_key = "A", "fake", "B"
    signed = True  # the networks see [-1, 1], as in pix2pix (tanh output)
    conditional_d = True  # D judges the condition and the image, concatenated
    d_weight = 0.5  # pix2pix halves the D loss to slow D down
    data_help = (
        "imgen train translate needs --data: a folder with trainA/ and trainB/ (or A/ and "
        "B/, or pix2pix AB images in train/), or a folder of photos with --condition"
    )

    def build_generator(self, cfg: TranslateConfig) -> torch.nn.Module:
        from imgen.nn.contract import weights_note
        from imgen.plugins import create_model

        offered = {
            "in_channels": 3,
            "out_channels": 3,
            "ngf": cfg.ngf,
            "depth": cfg.depth,
            "norm": cfg.norm,
            "dropout": cfg.dropout,
            "encoder": cfg.encoder,
            "encoder_weights": cfg.encoder_weights,
            "blocks": cfg.blocks,
        }
        G = create_model(cfg.generator, "generator", offered=offered, task=self.model_scope())
        if self.training and weights_note(G):
            print(f"imgen: {weights_note(G)}", file=sys.stderr)
        return G

    def lr_decay_start(self, cfg: TranslateConfig) -> int:
        return cfg.steps // 2

    # -- data ----------------------------------------------------------------------------------
    def dataset(self, cfg: TranslateConfig, root: str | None, split: str):
        from imgen_translate.data import build_dataset

        return build_dataset(
            Path(self.data_root(root)),
            split,
            condition=cfg.condition,
            crop=cfg.crop,
            load_size=cfg.load_size,
            direction=cfg.direction,
            augment=split == "train",
            cache=cfg.cache,
        )

    def prepare(self, batch: dict) -> dict:
        from imgen_translate.conditions import make_condition

        def image(key: str) -> torch.Tensor:
            return batch[key].to(self.device, non_blocking=True).float().div_(255)

        if "image" in batch:  # a derived condition, made on the device for the whole batch
            B = image("image")
            extra = {"mask": batch["mask"].to(self.device)} if "mask" in batch else {}
            return {"A": make_condition(self.cfg.condition, B, extra), "B": B}
        return {"A": image("A"), "B": image("B")}

    # -- outputs -------------------------------------------------------------------------------
    def predict_input(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` is A or, with --condition, a photo the condition is derived from."""
        import torch

        if not self.cfg.condition:
            return image
        from imgen_translate.conditions import make_condition
        from imgen_translate.data import hole_mask

        extra = {}
        if self.cfg.condition == "mask":  # inpaint a centred hole (25 % of the image)
            holes = hole_mask(image.shape[-2], image.shape[-1], None)
            extra["mask"] = torch.from_numpy(holes)[None, None].to(image.device)
        return make_condition(self.cfg.condition, image, extra)

    def eval_pairs(self, root: str):
        """The test pairs (A, B) of ``root``, as training reads them (the test split), named
        by the path of the pair's first file relative to ``root``. Under ``imgen eval`` a
        pair that cannot be read is skipped and listed at the end."""
        import torch

        from imgen.data import image_key
        from imgen.errors import DataError
        from imgen.failures import record_failure

        dataset = self.dataset(self.cfg, root, "test")
        for index in range(len(dataset)):
            first = dataset.paths[index][0]
            try:
                item = dataset[index]
            except DataError as exc:
                bad = [p for p in dataset.paths[index] if str(p) in str(exc)]
                if record_failure(bad[0] if bad else first, exc):
                    continue
                raise
            batch = self.prepare(
                {k: v[None] if isinstance(v, torch.Tensor) else v for k, v in item.items()}
            )
            yield image_key(first, root), batch["A"], batch["B"]

    def evaluate(self, nets: dict, root: str | None, **options: Any) -> dict[str, Any]:
        return {**super().evaluate(nets, root, **options), "direction": self.cfg.direction}
