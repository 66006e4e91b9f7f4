"""The ResNet generator of CycleGAN (Johnson et al.'s fast style-transfer network).

The layers, their order and the state-dict keys are those of the reference ``ResnetGenerator``
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``), so its ``*_net_G.pth`` files
load directly (with ``upsample="deconv"``).

References:
    - Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution".
    - Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
      Networks", Appendix 7.2.
    - Odena et al. 2016, "Deconvolution and Checkerboard Artifacts" (``upsample="resize"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from imgen.nn.contract import ImageModel
from imgen.nn.norm import init_gan_normal, norm_layer, uses_bias

__all__ = ["ResnetBlock", "ResnetGenerator"]

_PADDINGS = ("reflect", "replicate", "zero")
_UPSAMPLES = ("deconv", "resize")


def _pad(padding: str, size: int) -> tuple[list[nn.Module], int]:
    """Explicit padding layers and the conv ``padding`` argument that together pad by ``size``."""
    if padding == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    return [], size


class ResnetBlock(nn.Module):
    """Residual block ``x + [pad, conv3x3, norm, ReLU, (dropout), pad, conv3x3, norm](x)``.

    No activation after the sum, as Johnson et al. (and the reference).

    Args:
        dim: channels in and out.
        padding: ``"reflect"``, ``"replicate"`` or ``"zero"``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        dropout: put ``Dropout(0.5)`` between the two convs.

    Shape:
        - Input: :math:`(B, C, H, W)` with ``C = dim``.
        - Output: :math:`(B, C, H, W)`.

    Example:
        >>> block = ResnetBlock(8)
        >>> block(torch.rand(1, 8, 5, 5)).shape
        torch.Size([1, 8, 5, 5])
    """

    def __init__(
        self, dim: int, padding: str = "reflect", norm: str = "instance", dropout: bool = False
    ):
        super().__init__()
        if padding not in _PADDINGS:
            raise ValueError(f"Unknown padding {padding!r}; choose one of {', '.join(_PADDINGS)}.")
        norm_fn, bias = norm_layer(norm), uses_bias(norm)
        pad, p = _pad(padding, 1)
        layers = [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_fn(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad(padding, 1)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_fn(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(ImageModel):
    """The CycleGAN generator (the reference's ``ResnetGenerator``).

    In the paper's notation, ``c7s1-64, d128, d256, R256 x blocks, u128, u64, c7s1-3``:

    - ``c7s1-64``: reflection pad 3, 7x7 conv to ``ngf`` channels, norm, ReLU;
    - ``d128, d256``: two 3x3 stride-2 convs, each with norm and ReLU;
    - ``R256``: ``blocks`` residual blocks (:class:`ResnetBlock`) at 1/4 resolution;
    - ``u128, u64``: two x2 upsamplings, each with norm and ReLU;
    - ``c7s1-3``: reflection pad 3, 7x7 conv (with bias) to ``out_channels``, tanh.

    Upsampling is a 3x3 stride-2 transposed conv (``upsample="deconv"``, the reference), or
    nearest-neighbour x2 followed by reflection pad 1 and a 3x3 conv (``upsample="resize"``),
    which avoids the checkerboard artifacts of transposed convs (Odena et al. 2016). A 3x3 conv
    and a 3x3 transposed conv have the same weights up to a transpose, so both modes have
    exactly the same parameter count (11,378,179 for the defaults).

    With ``ngf=64``, instance norm, 9 blocks (the reference ``resnet_9blocks``, for 256x256
    images) it has 11,378,179 parameters; with 6 blocks (``resnet_6blocks``, 128x128) 7,837,699.
    Initialised as the reference (:func:`init_gan_normal`).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        ngf: channels of the first layer (the residual blocks have ``4 * ngf``).
        norm: ``"batch"``, ``"instance"`` or ``"none"``. With ``"none"`` the convs keep their
            bias (the reference drops it; see :func:`imgen.nn.norm.uses_bias`).
        blocks: residual blocks (>= 0).
        dropout: ``Dropout(0.5)`` inside every residual block.
        upsample: ``"deconv"`` or ``"resize"``.
        padding: padding inside the residual blocks: ``"reflect"``, ``"replicate"`` or
            ``"zero"`` (the 7x7 convs always use reflection padding, as the reference).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W`` multiples of 4 (``required_multiple``)
          and at least 8 (``min_size``; 4 with ``padding="zero"`` or ``"replicate"``).
        - Output: :math:`(B, C_{out}, H, W)` in [-1, 1].

    Example:
        >>> net = ResnetGenerator(ngf=8, blocks=2)
        >>> net(torch.rand(1, 3, 20, 28)).shape
        torch.Size([1, 3, 20, 28])
    """

    required_multiple: int = 4  # two stride-2 convs, undone by two x2 upsamplings

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        blocks: int = 9,
        dropout: bool = False,
        upsample: str = "deconv",
        padding: str = "reflect",
    ):
        super().__init__()
        if blocks < 0:
            raise ValueError(f"ResnetGenerator needs blocks >= 0, got {blocks}.")
        if upsample not in _UPSAMPLES:
            raise ValueError(
                f"Unknown upsample {upsample!r}; choose one of {', '.join(_UPSAMPLES)}."
            )
        if padding not in _PADDINGS:
            raise ValueError(f"Unknown padding {padding!r}; choose one of {', '.join(_PADDINGS)}.")
        norm_fn, bias = norm_layer(norm), uses_bias(norm)
        self.in_channels = in_channels
        # Reflection padding by 1 in the residual blocks needs a 2x2 map at 1/4 resolution.
        self.min_size = 8 if padding == "reflect" else 4

        # c7s1-ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            norm_fn(ngf),
            nn.ReLU(True),
        ]
        # d(2 ngf), d(4 ngf)
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                norm_fn(ngf * mult * 2),
                nn.ReLU(True),
            ]
        # R(4 ngf) x blocks
        layers += [ResnetBlock(ngf * 4, padding, norm, dropout) for _ in range(blocks)]
        # u(2 ngf), u(ngf)
        for mult in (4, 2):
            c_in, c_out = ngf * mult, ngf * mult // 2
            if upsample == "deconv":
                layers.append(
                    nn.ConvTranspose2d(
                        c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=bias
                    )
                )
            else:
                layers += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.ReflectionPad2d(1),
                    nn.Conv2d(c_in, c_out, 3, bias=bias),
                ]
            layers += [norm_fn(c_out), nn.ReLU(True)]
        # c7s1-out_channels
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_gan_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        if x.ndim != 4:
            raise ValueError(f"{name} expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}.")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{name} expects {self.in_channels} input channels, got {x.shape[1]}.")
        h, w = x.shape[-2:]
        m = self.required_multiple
        if h % m or w % m or min(h, w) < self.min_size:
            raise ValueError(
                f"{name} needs height and width that are multiples of {m} and at least "
                f"{self.min_size}, got {h}x{w}; pad the input (e.g. reflect) to a multiple of "
                f"{m} and crop the output back."
            )
        return self.model(x)


def options_from_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """The :class:`ResnetGenerator` arguments whose network has exactly ``state``'s keys and
    shapes (pix2pix's / CycleGAN's ``resnet_9blocks`` / ``resnet_6blocks`` files), else None.

    Running statistics that instance norm does not keep (files from before PyTorch 0.4) are
    ignored. Tried: batch or instance norm, with or without dropout, deconv upsampling.
    """
    from imgen.nn.state_dict import drop_norm_statistics, fits, indices, on_meta

    first = state.get("model.1.weight")
    if first is None or first.ndim != 4 or first.shape[-1] != 7:
        return None
    blocks = [i for i in indices(state, "model.") if f"model.{i}.conv_block.1.weight" in state]
    last = max(indices(state, "model."), default=0)
    out_weight = state.get(f"model.{last}.weight")
    if out_weight is None:
        return None
    base = {
        "in_channels": first.shape[1],
        "out_channels": out_weight.shape[0],
        "ngf": first.shape[0],
        "blocks": len(blocks),
    }
    for norm in ("instance", "batch"):
        for dropout in (False, True):
            options = {**base, "norm": norm, "dropout": dropout}
            net = on_meta(ResnetGenerator, **options)
            if fits(net, drop_norm_statistics(state, net.state_dict())):
                return options
    return None
