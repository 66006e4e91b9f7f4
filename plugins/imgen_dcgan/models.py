"""DCGAN's generator and discriminator (Radford et al. 2015), optionally class-conditional.

The seed article's "64x64" generator (a linear layer to 128x4x4 and two stride-2 transposed
convolutions) made 16x16 images, and its conditional discriminator concatenated a 784-long
vector with image channels. Here the number of stride-2 stages follows from ``image_size``
(4 -> 8 -> ... -> image_size), which :func:`num_stages` checks, and the condition enters the
discriminator as a projection (Miyato & Koyama 2018), which works at every size.

At ``image_size=64``, ``z_dim=100``, ``ngf=ndf=64`` and three channels the two networks are
layer for layer those of the PyTorch DCGAN example: 3,576,704 and 2,765,568 parameters.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "dcgan_init", "num_stages"]

Norm = Literal["batch", "layer", "none"]


def num_stages(image_size: int) -> int:
    """Stride-2 stages between 4x4 and ``image_size`` (a power of two >= 8).

    Example:
        >>> num_stages(64)
        4
    """
    if (
        not isinstance(image_size, int)
        or isinstance(image_size, bool)
        or image_size < 8
        or image_size & (image_size - 1)
    ):
        raise ValueError(
            "image_size must be a power of two of at least 8 (e.g. 32, 64, 128), "
            f"got {image_size!r}."
        )
    return int(math.log2(image_size)) - 2


@torch.no_grad()
def dcgan_init(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN's initialisation: conv, linear and embedding weights from N(0, std), norm scales
    from N(1, std), every bias 0 (section 4 of the paper; the PyTorch example's ``weights_init``).
    """
    for m in module.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def _check_labels(
    labels: torch.Tensor | None, num_classes: int, batch: int, who: str
) -> torch.Tensor | None:
    """Validate class labels: (B,) integers in [0, num_classes), present iff conditional."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError(
                f"{who} is unconditional (num_classes=0) but got labels; build it with "
                "num_classes > 0 to condition on classes."
            )
        return None
    if labels is None:
        raise ValueError(
            f"{who} is conditional on {num_classes} classes: pass labels of shape (B,)."
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"{who} needs integer class labels, got dtype {labels.dtype}.")
    if labels.shape != (batch,):
        raise ValueError(
            f"{who} needs one label per sample, shape ({batch},), got {tuple(labels.shape)}."
        )
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{who} got labels outside [0, {num_classes}): min {int(labels.min())}, "
            f"max {int(labels.max())}."
        )
    return labels.long()


class DCGANGenerator(nn.Module):
    """DCGAN generator: noise (and a class) to an image of ``image_size`` pixels in [-1, 1].

    ``z`` (concatenated with a learned class embedding when ``num_classes > 0``) is projected
    to a 4x4 map of ``ngf * 2**(stages-1)`` channels by a 4x4 transposed convolution (the
    paper's "project and reshape", without bias since batch norm follows), then every stride-2
    transposed convolution (kernel 4, padding 1) doubles the size and halves the channels, with
    batch norm and ReLU; the last one maps ``ngf`` channels to ``out_channels``, then tanh.

    Args:
        image_size: output height and width, a power of two >= 8 (32, 64, 128...).
        z_dim: length of the noise vector (100 in the paper).
        out_channels: image channels (3 for RGB, 1 for grayscale).
        ngf: channels of the last hidden layer (the widest has ``ngf * image_size / 8``).
        num_classes: 0 for DCGAN; the number of classes for the conditional model.
        embed_dim: length of the class embedding concatenated to ``z`` (conditional only).

    Shape:
        - z: :math:`(B, z\\_dim)` or :math:`(B, z\\_dim, 1, 1)`.
        - labels: :math:`(B,)` integers in ``[0, num_classes)``, for the conditional model only.
        - Output: :math:`(B, out\\_channels, image\\_size, image\\_size)` in [-1, 1].

    Example:
        >>> g = DCGANGenerator(image_size=32, ngf=8)
        >>> g(torch.randn(2, 100)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        image_size: int = 64,
        z_dim: int = 100,
        out_channels: int = 3,
        ngf: int = 64,
        num_classes: int = 0,
        embed_dim: int = 50,
    ) -> None:
        super().__init__()
        stages = num_stages(image_size)
        for name, value in (("z_dim", z_dim), ("out_channels", out_channels), ("ngf", ngf)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}.")
        if num_classes < 0 or (num_classes and embed_dim < 1):
            raise ValueError(
                f"num_classes must be >= 0 and embed_dim >= 1, got {num_classes} and {embed_dim}."
            )
        self.image_size, self.z_dim, self.num_classes = image_size, z_dim, num_classes
        self.out_channels = out_channels
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        width = ngf * 2 ** (stages - 1)
        in_dim = z_dim + (embed_dim if num_classes else 0)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        dcgan_init(self)
        if self.embed is not None:
            # The embedding sits beside z ~ N(0, 1): at DCGAN's 0.02 the class would start
            # fifty times weaker than the noise, and conditioning would be slow to appear.
            nn.init.normal_(self.embed.weight, 0.0, 1.0)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() == 4 and z.shape[2:] == (1, 1):
            z = z.flatten(1)
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(
                f"DCGANGenerator needs z of shape (B, {self.z_dim}) or (B, {self.z_dim}, 1, 1), "
                f"got {tuple(z.shape)}."
            )
        labels = _check_labels(labels, self.num_classes, z.shape[0], "DCGANGenerator")
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)
        return self.main(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: an image (and its class) to one logit per image.

    Stride-2 convolutions (kernel 4, padding 1) halve the size down to 4x4 and double the
    channels from ``ndf``, each followed by a normalisation (none after the first, as in the
    paper) and LeakyReLU 0.2; a 4x4 valid convolution gives the logit. The conditional model
    adds the projection term :math:`\\langle e_y, \\phi(x) \\rangle` of Miyato & Koyama (2018),
    where :math:`\\phi(x)` is the 4x4 feature map summed over space and :math:`e_y` a learned
    class embedding: the condition costs one embedding, whatever the image size.

    Args:
        image_size: input height and width, a power of two >= 8.
        in_channels: image channels.
        ndf: channels of the first layer.
        num_classes: 0 for DCGAN; the number of classes for the conditional model.
        norm: "batch" (DCGAN), "layer" (per-sample, as WGAN-GP's critic needs) or "none"
            (e.g. with spectral normalization).

    Shape:
        - x: :math:`(B, in\\_channels, image\\_size, image\\_size)`, images in [-1, 1].
        - labels: :math:`(B,)` integers, for the conditional model only.
        - Output: :math:`(B,)` logits.

    Example:
        >>> d = DCGANDiscriminator(image_size=32, ndf=8)
        >>> d(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        image_size: int = 64,
        in_channels: int = 3,
        ndf: int = 64,
        num_classes: int = 0,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        stages = num_stages(image_size)
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}.")
        if in_channels < 1 or ndf < 1 or num_classes < 0:
            raise ValueError(
                f"in_channels and ndf must be >= 1 and num_classes >= 0, got {in_channels}, "
                f"{ndf} and {num_classes}."
            )
        self.image_size, self.in_channels, self.num_classes = image_size, in_channels, num_classes
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
        ]
        width = ndf
        for _ in range(stages - 1):
            layers.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width * 2))
            elif norm == "layer":  # over (C, H, W) of each sample: no mixing across the batch
                layers.append(nn.GroupNorm(1, width * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, 4, 1, 0, bias=False)
        self.embed = nn.Embedding(num_classes, width) if num_classes else None
        dcgan_init(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"DCGANDiscriminator needs images of shape (B, {', '.join(map(str, expected))}), "
                f"got {tuple(x.shape)}."
            )
        labels = _check_labels(labels, self.num_classes, x.shape[0], "DCGANDiscriminator")
        h = self.features(x)
        logits = self.head(h).flatten(1).sum(1)
        if self.embed is not None:
            logits = logits + (self.embed(labels).to(h.dtype) * h.sum((2, 3))).sum(1)
        return logits
