"""The ``dcgan`` task: images from noise (DCGAN) or from noise and a class (conditional DCGAN).

The generator maps z ~ N(0, I) (and a class) to an image; the discriminator tells real images
from generated ones through any objective of the core (``--gan-loss``, ``--spectral-norm``,
``--r1-weight``, ``--n-critic``). There is no input image: ``imgen predict`` samples a grid
(:meth:`DCGAN.generate`), and the sample grids written during training use a fixed noise, one
row per class when conditional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from imgen.config import GANConfig, option
from imgen.errors import UsageError
from imgen.nn.scaling import from_net, to_net
from imgen.task import GANTask

if TYPE_CHECKING:  # torch is imported where it runs: `imgen train TASK --help` stays fast
    import torch


def generation_labels(n: int, num_classes: int, label: int | None = None) -> list[int]:
    """The classes of ``n`` conditional samples: all ``label``, or else equal blocks in class
    order (sample i has class ``i * num_classes // n``), as a grid read row by row shows them.

    Example:
        >>> generation_labels(6, 3)
        [0, 0, 1, 1, 2, 2]
    """
    if num_classes <= 0:
        return []
    if label is not None:
        return [label] * n
    return [i * num_classes // n for i in range(n)]


# The fixed-noise sample grids: this many columns, and at most this many class rows.
GRID_COLUMNS = 8
GRID_MAX_ROWS = 16


@dataclass
class DCGANConfig(GANConfig):
    """Options of ``imgen train dcgan``."""

    data: str | None = option(
        None,
        "Folder of training images, each resized (shorter side, bicubic) and centre-cropped "
        "to --image-size; with --conditional, one subfolder per class. Without it: the 100 "
        "faces of scikit-image's LFW subset (25x25 grayscale, enlarged bicubic to "
        "--image-size, so blurry at 64; replicated to RGB unless --channels 1); with "
        "--conditional, its faces and background patches as two classes.",
        metavar="DIR",
    )
    image_size: Literal[32, 64, 128] = option(
        64, "Image size; sets the number of stride-2 stages (3, 4, 5) of both networks.", arch=True
    )
    channels: Literal[3, 1] = option(
        3, "Image channels: 3 (RGB) or 1 (grayscale, e.g. for the LFW faces).", arch=True
    )
    z_dim: int = option(100, "Length of the noise vector z.", arch=True)
    ngf: int = option(
        64, "Generator channels before the output layer (x2 per stage inward).", arch=True
    )
    ndf: int = option(64, "Discriminator channels of the first layer (x2 per stage).", arch=True)
    d_norm: Literal["auto", "batch", "layer", "none"] = option(
        "auto",
        "Discriminator normalisation: auto is batch norm (DCGAN), but layer norm with "
        "wgan-gp (its penalty is per sample) and none with --spectral-norm (SNGAN).",
        arch=True,
    )
    conditional: bool = option(
        False, "Class-conditional DCGAN: the classes are the subfolders of --data.", arch=True
    )
    classes: str | None = option(
        None,
        "Conditional: the class subfolders to use, comma-separated [default: all]. "
        "Stored in the run, so predict and eval need only the run directory.",
        metavar="A,B,...",
    )
    embed_dim: int = option(
        50, "Conditional: length of the class embedding appended to z.", arch=True
    )
    flip: bool = option(True, "Random horizontal flips of the training images.")
    cache: bool = option(
        True, "Keep the images, resized to --image-size, in memory (decoded once)."
    )
    generator: str = option("dcgan", "Generator model (dcgan, or a plugin's).", arch=True)
    discriminator: str = option("dcgan", "Discriminator model (dcgan, or a plugin's).", arch=True)
    crop: int = option(64, "Not used by dcgan: --image-size sets the size.")
    batch_size: int = option(64, "Samples per step.")
    steps: int = option(
        2000, "Total generator steps of the run (with --resume: train on until this step)."
    )
    sample_every: int = option(250, "Write a fixed-noise sample grid every N steps (0: never).")
    beta1: float = option(0.5, "Adam beta1 (0.5, as in DCGAN).")
    beta2: float = option(0.999, "Adam beta2.")
    ema: float = option(
        0.0,
        "EMA decay of the generator weights (0 disables, the default: the batch-norm "
        "generator would pair averaged weights with the raw weights' running statistics).",
    )


class DCGAN(GANTask):
    """DCGAN and conditional DCGAN: ``G(z[, y])`` against ``D(x[, y])``."""

    name = "dcgan"
    help = "image generation from noise (DCGAN, class-conditional DCGAN)"
    Config = DCGANConfig
    takes_image = False
    metrics = [
        "nn_rms_fake",
        "nn_rms_real",
        "nn_ratio",
        "diversity",
        "class_accuracy",
        "fid",
        "kid",
    ]
    d_first = True  # DCGAN updates the discriminator first
    examples = [
        "imgen train dcgan --steps 2000            # the LFW faces bundled with scikit-image",
        "imgen train dcgan --data ./faces --image-size 64 --gan-loss hinge --spectral-norm",
        "imgen train dcgan --data ./classes --conditional --image-size 32",
        "imgen predict --run runs/dcgan-20261127-101500 --n 64 --seed 1 -o grid.png",
    ]
    eval_examples = [
        "imgen eval dcgan --run runs/dcgan-20261127-101500          # against its training data",
        "imgen eval dcgan --run runs/dcgan-20261127-101500 --data ./faces --json",
    ]
    bench_variants = [{"name": "dcgan", "options": {"generator": "dcgan"}}]

    classes: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self, cfg: DCGANConfig, device: torch.device, *, train: bool = False) -> None:
        """Check the options; for training, find the classes and store them in ``cfg``."""
        from imgen_dcgan.data import LFW_CLASSES, find_classes, parse_classes

        super().setup(cfg, device, train=train)
        if self.d_norm == "batch" and cfg.gan_loss == "wgan-gp":
            raise UsageError(
                "--d-norm batch does not fit --gan-loss wgan-gp: batch norm mixes the samples "
                "that its per-sample gradient penalty needs apart; use --d-norm layer or none"
            )
        for name in ("z_dim", "ngf", "ndf", "embed_dim"):
            if getattr(cfg, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        wanted = parse_classes(cfg.classes or "")
        if cfg.classes is not None and not wanted:  # ",,," would silently mean every class
            raise UsageError(
                f"--classes {cfg.classes!r} names no class; give folder names separated by "
                "commas (cat,dog) or leave --classes out for every subfolder"
            )
        if not cfg.conditional:
            if wanted:
                raise UsageError("--classes applies to conditional runs only; add --conditional")
            self.classes = []
            return
        if train:  # the data decides; the run stores the answer (config.json) for later
            if cfg.data is None:
                self.classes = wanted or list(LFW_CLASSES)
            else:
                self.classes = find_classes(cfg.data, wanted or None)
            cfg.classes = ",".join(self.classes)
        elif not wanted:
            raise UsageError(
                "this conditional dcgan config has no class list (--classes); runs store it "
                "in config.json when training starts"
            )
        else:
            self.classes = wanted
        if len(self.classes) < 2:
            raise UsageError(
                f"--conditional needs at least two classes, got {', '.join(self.classes)}"
            )

    @property
    def d_norm(self) -> str:
        """The discriminator's normalisation, with ``auto`` resolved."""
        cfg = self.cfg
        if cfg.d_norm != "auto":
            return cfg.d_norm
        if cfg.spectral_norm:
            return "none"
        return "layer" if cfg.gan_loss == "wgan-gp" else "batch"

    def build(self, cfg: DCGANConfig) -> dict[str, torch.nn.Module]:
        from imgen.plugins import create_model

        nets = {
            "G": create_model(
                cfg.generator,
                "generator",
                task=self.model_scope(),
                image_size=cfg.image_size,
                z_dim=cfg.z_dim,
                out_channels=cfg.channels,
                ngf=cfg.ngf,
                num_classes=len(self.classes),
                embed_dim=cfg.embed_dim,
            )
        }
        if self.training:  # prediction and evaluation need the generator only
            nets["D"] = create_model(
                cfg.discriminator,
                "discriminator",
                task=self.model_scope(),
                image_size=cfg.image_size,
                in_channels=cfg.channels,
                ndf=cfg.ndf,
                num_classes=len(self.classes),
                norm=self.d_norm,
            )
        return nets

    # -- data --------------------------------------------------------------------------------
    def dataset(self, cfg: DCGANConfig, root: str | None, split: str):
        from imgen_dcgan.data import GenerationDataset, folder_sets, lfw_sets

        if root is None:
            sets = lfw_sets(self.classes or ["face"])
        else:
            sets = folder_sets(root, self.classes or None)
        return GenerationDataset(
            sets,
            image_size=cfg.image_size,
            channels=cfg.channels,
            z_dim=cfg.z_dim,
            flip=cfg.flip and split == "train",
            cache=cfg.cache,
        )

    def prepare(self, batch: dict) -> dict:
        import torch

        out = {
            "image": batch["image"].to(self.device, non_blocking=True).float().div_(255),
            "z": batch["z"].to(self.device, non_blocking=True),
        }
        if self.classes:
            out["label"] = torch.as_tensor(batch["label"]).to(self.device).long()
        return out

    # -- math --------------------------------------------------------------------------------
    def forward(self, nets: dict, batch: dict) -> dict:
        """``{"fake": G(z, label)}`` in [0, 1]; an empty batch (the trainer's sample grids)
        gives ``{"grid": (rows, columns, C, H, W)}`` from the fixed noise instead."""
        if "z" not in batch:
            return {"grid": self._grid(nets)}
        labels = batch["label"] if self.classes else None
        return {"fake": from_net(nets["G"](batch["z"], labels))}

    def _critic(self, nets: dict, batch: dict):
        labels = batch["label"] if self.classes else None
        return lambda x: nets["D"](x, labels)

    def d_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        loss, logs = self.adversarial.discriminator(
            self._critic(nets, batch),
            to_net(batch["image"]),
            to_net(out["fake"]),
            seeds=batch.get("sample_seed"),
        )
        return loss, {"d_loss": loss, **logs}

    def g_loss(self, nets: dict, batch: dict, out: dict) -> tuple[torch.Tensor, dict]:
        critic = self._critic(nets, batch)
        loss = self.adversarial.generator(critic, to_net(out["fake"]), to_net(batch["image"]))
        return loss, {"g_loss": loss}

    # -- outputs -----------------------------------------------------------------------------
    def generate(
        self, nets: dict, n: int, *, seed: int = 0, label: str | None = None
    ) -> torch.Tensor:
        """``n`` samples in [0, 1], shape (n, C, S, S), on the task's device.

        The noise depends on ``seed`` and ``n`` only, so the same seed with another ``label``
        shows the same noise in another class. A conditional run with no ``label`` draws
        every class in equal blocks, in class order (sample i has class ``i * K // n``).

        Raises:
            UsageError: for ``n < 1``, a label on an unconditional run, or an unknown class
                (the message lists the run's classes).
        """
        import torch

        if n < 1:
            raise UsageError(f"--n must be at least 1, got {n}")
        if label is not None and not self.classes:
            raise UsageError(
                f"--class {label} needs a conditional run (trained with --conditional); "
                "this one is unconditional"
            )
        if label is not None and label not in self.classes:
            raise UsageError(f"unknown class {label!r}; this run knows: {', '.join(self.classes)}")
        z = torch.randn(n, self.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
        labels = None
        if self.classes:
            index = self.classes.index(label) if label is not None else None
            labels = torch.tensor(generation_labels(n, len(self.classes), index))
        return self._sample(nets["G"], z, labels)

    def generated_labels(self, n: int, label: str | None = None) -> list[str]:
        if not self.classes:
            return []
        index = self.classes.index(label) if label is not None else None
        return [self.classes[i] for i in generation_labels(n, len(self.classes), index)]

    def _sample(
        self, generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        import torch

        chunks = []
        with torch.no_grad():
            for start in range(0, len(z), 256):
                part = z[start : start + 256].to(self.device)
                y = labels[start : start + 256].to(self.device) if labels is not None else None
                chunks.append(from_net(generator(part, y)).float().clamp(0, 1))
        return torch.cat(chunks)

    def _grid(self, nets: dict) -> torch.Tensor:
        """Fixed-noise samples (seed ``cfg.seed``), (rows, columns, C, S, S): one row per class
        with the same noise in every row, or 8 rows of distinct noise when unconditional."""
        import torch

        generator = torch.Generator().manual_seed(self.cfg.seed)
        if self.classes:
            rows = min(len(self.classes), GRID_MAX_ROWS)
            z = torch.randn(GRID_COLUMNS, self.cfg.z_dim, generator=generator).repeat(rows, 1)
            labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        else:
            rows = 8
            z = torch.randn(rows * GRID_COLUMNS, self.cfg.z_dim, generator=generator)
            labels = None
        images = self._sample(nets["G"], z, labels)
        return images.view(rows, GRID_COLUMNS, *images.shape[1:])

    def sample_columns(self, batch: dict, out: dict) -> list[torch.Tensor]:
        if "grid" in out:
            return list(out["grid"].unbind(1))
        return [batch["image"], out["fake"]] if "image" in batch else [out["fake"]]

    def sample_labels(self, batch: dict, out: dict) -> list[str]:
        if "grid" in out:  # columns of noise vectors: nothing to name
            return []
        return ["real", "fake"] if "image" in batch else ["fake"]

    def predict(self, nets: dict, image: torch.Tensor, **options: Any) -> torch.Tensor:
        raise UsageError(
            "dcgan generates images from noise and takes no input image; use "
            "imgen predict --run RUN --n 64 -o grid.png"
        )

    def evaluate(
        self,
        nets: dict,
        root: str | None,
        *,
        full: bool = False,
        metrics: Sequence[str] = (),
        **_: Any,
    ) -> dict[str, Any]:
        """Sample statistics against real images (``root``, else the run's training data).

        See :func:`imgen_dcgan.evaluate.evaluate_generation`; FID and KID only with ``full``.
        """
        from imgen_dcgan.evaluate import evaluate_generation

        if metrics:
            raise UsageError(
                f"--metric {metrics[0]}: a registered metric compares an output with its "
                "target, and dcgan's samples have none; its evaluation reports "
                + ", ".join(self.metrics)
            )

        return evaluate_generation(
            self, nets, root if root is not None else self.cfg.data, full=full
        )
