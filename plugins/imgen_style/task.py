"""The ``style`` task: CycleGAN between two unpaired domains A and B.

Two generators (G_AB, G_BA) and two discriminators (D_A judges A, D_B judges B); LSGAN,
cycle consistency, identity loss and an image pool of past fakes, as in Zhu et al. 2017. The
core's objective zoo (--gan-loss, --spectral-norm, --r1-weight, --n-critic) works on both
discriminators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from imgen.config import ImageToImageConfig, check_int, option
from imgen.nn.scaling import from_net, to_net
from imgen.task import GANTask

if TYPE_CHECKING:  # torch is imported where it runs: `imgen train TASK --help` stays fast
    import torch


@dataclass
class StyleConfig(ImageToImageConfig):
    """Options of ``imgen train style``."""

    data_a: str | None = option(
        None, "Folder of domain A images (instead of --data).", metavar="DIR"
    )
    data_b: str | None = option(
        None, "Folder of domain B images (instead of --data).", metavar="DIR"
    )
    direction: Literal["AtoB", "BtoA"] = option(
        "AtoB", "Which generator predict applies: G_AB (AtoB) or G_BA (BtoA).", predict=True
    )
    generator: str = option(
        "resnet", "Generator (the core's CycleGAN ResNet, or a plugin's).", arch=True
    )
    blocks: int = option(9, "Residual blocks: 9 (256x256) or 6 (128x128).", arch=True)
    upsample: Literal["deconv", "resize"] = option(
        "deconv",
        "Generator upsampling: transposed conv, or resize-conv (no checkerboard).",
        arch=True,
    )
    norm: Literal["batch", "instance", "none"] = option(
        "instance", "Normalization layers.", arch=True
    )
    gan_loss: Literal["vanilla", "lsgan", "hinge", "wgan-gp"] = option(
        "lsgan", "Adversarial loss (CycleGAN: lsgan): vanilla, lsgan, hinge, wgan-gp."
    )
    cycle_weight: float = option(10.0, "Cycle-consistency L1 weight (lambda_A = lambda_B).")
    identity_weight: float = option(
        0.5, "Identity loss weight, relative to --cycle-weight (0 disables)."
    )
    pool_size: int = option(50, "Past fakes kept for the discriminators (0: none).")

    def __post_init__(self) -> None:
        super().__post_init__()
        # The weights (finite, at least 0) are checked by the core for every *_weight option.
        check_int(self, "blocks", 0)
        check_int(self, "pool_size", 0)


GS = ("G_AB", "G_BA")


class Style(GANTask):
    """Unpaired translation: CycleGAN's two generators, two PatchGANs, cycle + identity."""

    name = "style"
    help = "unpaired translation / style transfer (CycleGAN) between two folders"
    Config = StyleConfig
    metrics = [
        "cycle_l1_A",
        "cycle_l1_B",
        "psnr_AtoB",
        "ssim_AtoB",
        "l1_AtoB",
        "realism_A",
        "realism_B",
    ]
    d_first = False  # CycleGAN updates the generators first
    examples = [
        "imgen train style --data ./facades --crop 128 --blocks 6 --steps 20000",
        "imgen train style --data-a ./horses --data-b ./zebras --upsample resize",
        "imgen train style --data ./facades --gan-loss hinge --spectral-norm --r1-weight 1",
    ]
    eval_examples = ["imgen eval style --run runs/style-20261127-101500 --data ./facades"]
    bench_variants = [{"name": "resnet-9", "options": {"generator": "resnet", "blocks": 9}}]
    data_help = (
        "imgen train style needs --data DIR (with trainA/ and trainB/) or --data-a DIR --data-b DIR"
    )

    def setup(self, cfg: StyleConfig, device: torch.device, *, train: bool = False) -> None:
        super().setup(cfg, device, train=train)
        if train:
            from imgen_style.pool import ImagePool

            self.pools = {
                "A": ImagePool(cfg.pool_size, seed=cfg.seed),
                "B": ImagePool(cfg.pool_size, seed=cfg.seed + 1),
            }

    def build(self, cfg: StyleConfig) -> dict[str, torch.nn.Module]:
        from imgen.plugins import create_model

        offered = {
            "in_channels": 3,
            "out_channels": 3,
            "ngf": cfg.ngf,
            "norm": cfg.norm,
            "blocks": cfg.blocks,
            "upsample": cfg.upsample,
        }
        nets = {
            name: create_model(cfg.generator, "generator", offered=offered, task=self.model_scope())
            for name in GS
        }
        if self.training:
            nets |= {name: self.build_discriminator(3) for name in ("D_A", "D_B")}
        return nets

    def lr_decay_start(self, cfg: StyleConfig) -> int:
        return cfg.steps // 2

    # The image pools are part of the training state: --resume restores them.
    def state_dict(self) -> dict:
        return {k: pool.state_dict() for k, pool in self.pools.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, pool in self.pools.items():
            pool.load_state_dict(state[k])

    # -- data ----------------------------------------------------------------------------------
    def domains(self, root: str | None, split: str) -> tuple[Path, Path]:
        from imgen_style.data import find_domains

        cfg = self.cfg
        if not (cfg.data_a and cfg.data_b):
            root = self.data_root(root)
        return find_domains(Path(root) if root else None, split, cfg.data_a, cfg.data_b)

    def dataset(self, cfg: StyleConfig, root: str | None, split: str):
        from imgen_style.data import UnalignedDataset

        dir_a, dir_b = self.domains(root, split)
        return UnalignedDataset(
            dir_a,
            dir_b,
            crop=cfg.crop,
            load_size=cfg.load_size,
            augment=split == "train",
            cache=cfg.cache,
        )

    def prepare(self, batch: dict) -> dict:
        return {
            k: batch[k].to(self.device, non_blocking=True).float().div_(255) for k in ("A", "B")
        }

    # -- math ----------------------------------------------------------------------------------
    @staticmethod
    def _apply(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return from_net(net(to_net(x)))

    def forward(self, nets: dict, batch: dict) -> dict:
        fake_B = self._apply(nets["G_AB"], batch["A"])
        fake_A = self._apply(nets["G_BA"], batch["B"])
        return {
            "fake_B": fake_B,
            "rec_A": self._apply(nets["G_BA"], fake_B),
            "fake_A": fake_A,
            "rec_B": self._apply(nets["G_AB"], fake_A),
        }

    @staticmethod
    def _critic(net: torch.nn.Module):
        """The discriminator on images in [0, 1] (penalties are taken with respect to them)."""
        return lambda x: net(to_net(x))

    def g_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        cfg, A, B = self.cfg, batch["A"], batch["B"]
        gan_AB = self.adversarial.generator(self._critic(nets["D_B"]), out["fake_B"])
        gan_BA = self.adversarial.generator(self._critic(nets["D_A"]), out["fake_A"])
        cycle_A = (out["rec_A"].float() - A).abs().mean()
        cycle_B = (out["rec_B"].float() - B).abs().mean()
        loss = gan_AB + gan_BA + cfg.cycle_weight * (cycle_A + cycle_B)
        logs = {"gan_AB": gan_AB, "gan_BA": gan_BA, "cycle_A": cycle_A, "cycle_B": cycle_B}
        if cfg.identity_weight > 0:
            # G_AB should leave a B image unchanged (and G_BA an A image): weight relative to
            # the cycle weight, as in the paper (lambda_identity * lambda_A).
            idt_B = (self._apply(nets["G_AB"], B).float() - B).abs().mean()
            idt_A = (self._apply(nets["G_BA"], A).float() - A).abs().mean()
            loss = loss + cfg.cycle_weight * cfg.identity_weight * (idt_A + idt_B)
            logs |= {"idt_A": idt_A, "idt_B": idt_B}
        return loss, logs

    def d_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        logs: dict[str, torch.Tensor] = {}
        total = 0.0
        for domain in ("A", "B"):
            # Each D judges its domain's real images against the pool's past fakes.
            fake = self.pools[domain].query(out[f"fake_{domain}"].detach())
            loss, parts = self.adversarial.discriminator(
                self._critic(nets[f"D_{domain}"]),
                batch[domain],
                fake,
                seeds=batch.get("sample_seed"),
            )
            loss = 0.5 * loss  # CycleGAN halves each D loss (penalties included)
            total = total + loss
            logs[f"d_{domain}"] = loss
            logs |= {f"{k}_{domain}": v for k, v in parts.items()}
        return total, logs

    # -- outputs -------------------------------------------------------------------------------
    def predict(
        self,
        nets: dict,
        image: torch.Tensor,
        *,
        direction: str | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        autocast_dtype: torch.dtype | None = None,
        **_: Any,
    ) -> torch.Tensor:
        direction = direction or self.cfg.direction
        G = nets["G_AB" if direction == "AtoB" else "G_BA"]
        return self.run_tiled(
            G,
            image,
            apply=lambda x: self._apply(G, x),
            tile=tile,
            tile_overlap=tile_overlap,
            out_dtype=out_dtype,
            autocast_dtype=autocast_dtype,
        )

    def export_network(self, nets: dict, *, direction: str | None = None, **_: Any) -> Any:
        from imgen.nn.image_function import ImageFunction

        direction = direction or self.cfg.direction
        return ImageFunction(nets["G_AB" if direction == "AtoB" else "G_BA"], signed=True)

    def sample_columns(self, batch: dict, out: dict) -> list[torch.Tensor]:
        return [batch["A"], out["fake_B"], out["rec_A"], batch["B"], out["fake_A"], out["rec_B"]]

    def sample_labels(self, batch: dict, out: dict) -> list[str]:
        return ["A", "fake B", "rec A", "B", "fake A", "rec B"]

    def evaluate(
        self,
        nets: dict,
        root: str,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        full: bool = False,
        metrics: Sequence[str] = (),
        autocast_dtype: torch.dtype | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        from imgen_style.evaluate import evaluate_style

        return evaluate_style(
            self,
            nets,
            root,
            realism=full,
            metrics=metrics,
            tile=tile,
            tile_overlap=tile_overlap,
            autocast_dtype=autocast_dtype,
        )
