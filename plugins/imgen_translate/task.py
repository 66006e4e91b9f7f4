"""The ``translate`` task: learn B from A on paired images (pix2pix).

Images are in [0, 1] everywhere outside the networks; the generator and discriminator see
them scaled to [-1, 1], as in pix2pix (tanh output).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from imgen.config import ImageToImageConfig, option
from imgen.errors import UsageError
from imgen.nn.scaling import from_net, to_net
from imgen.task import Task


@dataclass
class TranslateConfig(ImageToImageConfig):
    """Options of ``imgen train translate`` (the GAN objective's options come from
    :class:`imgen.config.GANConfig`: --gan-loss, --spectral-norm, --gp-weight, --r1-weight,
    --n-critic)."""

    direction: Literal["AtoB", "BtoA"] = option(
        "AtoB", "Translate A to B, or B to A (facades labels->photos: BtoA).", eval=True
    )
    condition: Literal["edges", "gray", "blur", "mask", "sketch"] | None = option(
        None,
        "Derive A from a folder of photos: edges (Canny), gray, blur, mask (holes), sketch.",
        eval=True,
    )
    generator: str = option("unet", "Generator: unet, unet-timm, resnet (or a plugin's).")
    depth: int = option(8, "U-Net depth: 8 (unet_256), 7 (unet_128).")
    dropout: bool = option(True, "Dropout 0.5 in the U-Net's innermost blocks (pix2pix).")
    encoder: str = option("resnet34", "timm encoder of unet-timm (any timm.list_models() name).")
    encoder_weights: str | None = option(
        None,
        "Pretrained encoder weights file [default: the Hugging Face cache, if any].",
        metavar="PATH",
    )
    blocks: int = option(9, "Residual blocks of the resnet generator.")
    l1_weight: float = option(100.0, "L1 loss weight.")


class Translate(Task):
    """Paired conditional translation: U-Net + PatchGAN, GAN + L1 (pix2pix)."""

    name = "translate"
    help = "paired image-to-image translation (pix2pix)"
    Config = TranslateConfig
    metrics = ["psnr", "ssim", "l1", "lpips"]
    d_first = True
    training = False
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

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, cfg: TranslateConfig, device: torch.device, *, train: bool = False) -> None:
        super().setup(cfg, device, train=train)
        self.training = train
        if cfg.load_size is not None and cfg.load_size < cfg.crop:
            raise UsageError(f"--load-size {cfg.load_size} is smaller than --crop {cfg.crop}")

    def build(self, cfg: TranslateConfig) -> dict[str, torch.nn.Module]:
        from imgen.plugins import create_model

        G = create_model(
            cfg.generator,
            "generator",
            in_channels=3,
            out_channels=3,
            ngf=cfg.ngf,
            depth=cfg.depth,
            norm=cfg.norm,
            dropout=cfg.dropout,
            encoder=cfg.encoder,
            encoder_weights=cfg.encoder_weights,
            blocks=cfg.blocks,
        )
        if self.training and getattr(G, "weights_note", None):
            print(f"imgen: {G.weights_note}", file=sys.stderr)
        nets = {"G": G}
        if self.training:  # the discriminator sees the condition and the image, concatenated
            nets["D"] = create_model(
                cfg.discriminator,
                "discriminator",
                in_channels=6,
                ndf=cfg.ndf,
                n_layers=cfg.d_layers,
                norm=cfg.norm,
            )
        return nets

    def lr_decay_start(self, cfg: TranslateConfig) -> int:
        return cfg.steps // 2

    # -- data ----------------------------------------------------------------------------------
    def dataset(self, cfg: TranslateConfig, root: str | None, split: str):
        from imgen.errors import DataError
        from imgen_translate.data import build_dataset

        if root is None:
            raise DataError(
                "imgen train translate needs --data: a folder with trainA/ and "
                "trainB/ (or A/ and B/, or pix2pix AB images in train/), or a "
                "folder of photos with --condition"
            )
        train = split == "train"
        return build_dataset(
            Path(root),
            split,
            condition=cfg.condition,
            crop=cfg.crop,
            load_size=cfg.load_size,
            direction=cfg.direction,
            augment=train,
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

    # -- math ----------------------------------------------------------------------------------
    def forward(self, nets: dict, batch: dict) -> dict:
        return {"fake": from_net(nets["G"](to_net(batch["A"])))}

    def _critic(self, nets: dict, condition: torch.Tensor):
        return lambda image: nets["D"](to_net(torch.cat([condition, image], dim=1)))

    def d_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        from imgen.losses.adversarial import discriminator_objective

        cfg = self.cfg
        loss, logs = discriminator_objective(
            cfg.gan_loss,
            self._critic(nets, batch["A"]),
            batch["B"],
            out["fake"],
            gp_weight=cfg.gp_weight,
            r1_weight=cfg.r1_weight,
        )
        # pix2pix halves the D loss to slow D down; penalties included, so their ratio to the
        # adversarial term stays what --gp-weight / --r1-weight say.
        loss = 0.5 * loss
        return loss, {"d_loss": loss, **logs}

    def g_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        from imgen.losses.adversarial import generator_objective

        gan = generator_objective(self.cfg.gan_loss, self._critic(nets, batch["A"]), out["fake"])
        l1 = (out["fake"].float() - batch["B"]).abs().mean()
        return gan + self.cfg.l1_weight * l1, {"gan": gan, "l1": l1}

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
        """``image`` is A (or, with --condition, a photo the condition is derived from)."""
        if self.cfg.condition:
            from imgen_translate.conditions import make_condition
            from imgen_translate.data import hole_mask

            extra = {}
            if self.cfg.condition == "mask":  # inpaint a centred hole (25 % of the image)
                holes = hole_mask(image.shape[-2], image.shape[-1], None)
                extra["mask"] = torch.from_numpy(holes)[None, None].to(image.device)
            image = make_condition(self.cfg.condition, image, extra)
        return self.translate(nets, image, tile=tile, tile_overlap=tile_overlap)

    def translate(
        self,
        nets: dict,
        condition: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
    ) -> torch.Tensor:
        """G on a condition image of any size: padded to G's multiple and cropped back."""
        from imgen.inference import predict_tiled

        G = nets["G"]
        out = predict_tiled(
            lambda x: from_net(G(to_net(x))),
            condition,
            tile=tile,
            overlap=tile_overlap,
            multiple=getattr(G, "required_multiple", 1),
        )
        return out.clamp(0, 1)

    def sample_columns(self, batch: dict, out: dict) -> list[torch.Tensor]:
        return [batch["A"], out["fake"], batch["B"]]

    def evaluate(
        self, nets: dict, root: str, *, tile: int | None = None, tile_overlap: int = 32, **_: Any
    ) -> dict[str, Any]:
        from imgen_translate.evaluate import evaluate_translate

        return evaluate_translate(self, nets, Path(root), tile=tile, tile_overlap=tile_overlap)
