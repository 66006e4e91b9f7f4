"""Super-resolution generators and discriminators (SRResNet / ESRGAN / Real-ESRGAN family).

The generators keep BasicSR's module names, so BasicSR and Real-ESRGAN checkpoints load with
:func:`load_basicsr_state_dict`. Every model has a ``required_multiple`` (the input height and
width must be multiples of it) and every generator a ``scale`` (output size / input size).

References:
    - Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a GAN" (SRResNet).
    - Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution GANs" (RRDBNet, VGG-style D).
    - Wang et al. 2021, "Real-ESRGAN" (U-Net discriminator with spectral norm).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from imgen.nn import ResidualBlockNoBN, default_init_weights, make_layer
from imgen.nn.checks import check_image_input
from imgen.nn.contract import ImageModel

__all__ = [
    "Bicubic",
    "MSRResNet",
    "RRDBNet",
    "SRVGGNetCompact",
    "UNetDiscriminatorSN",
    "VGGStyleDiscriminator",
    "load_basicsr_state_dict",
]


# --------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------


class MSRResNet(ImageModel):
    """Modified SRResNet (BasicSR's ``MSRResNet``, the ESRGAN paper's PSNR baseline).

    SRResNet without batch norm: ``conv_first`` -> ``num_block`` residual blocks -> pixel-shuffle
    upsampling (``upconv1``, plus ``upconv2`` for x4) -> ``conv_hr`` -> ``conv_last``, with
    LeakyReLU(0.1), and the bilinearly upsampled input added to the output so the network only
    learns the residual. Initialised with BasicSR's ``default_init_weights(scale=0.1)``.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels; the bilinear skip is added only when it equals
            ``num_in_ch``.
        num_feat: feature channels.
        num_block: residual blocks in the body.
        upscale: 2, 3 or 4.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`.
        - Output: :math:`(B, C_{out}, H \\cdot s, W \\cdot s)` with ``s = upscale``.

    Example:
        >>> net = MSRResNet(num_feat=8, num_block=1, upscale=2)
        >>> net(torch.rand(1, 3, 6, 6)).shape
        torch.Size([1, 3, 12, 12])
    """

    required_multiple: int = 1

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        upscale: int = 4,
    ):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports upscale 2, 3 or 4, got {upscale}.")
        self.num_in_ch = num_in_ch
        self.scale = self.upscale = upscale  # `upscale` kept for BasicSR compatibility
        self.add_base = num_in_ch == num_out_ch

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = make_layer(ResidualBlockNoBN, num_block, num_feat=num_feat)

        # x2 and x3 are one sub-pixel step; x4 is two x2 steps (fewer parameters than one x4).
        if upscale in (2, 3):
            self.upconv1 = nn.Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)

        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

        # The body blocks initialise themselves (scale 0.1); the rest follows BasicSR.
        default_init_weights([self.conv_first, self.upconv1, self.conv_hr, self.conv_last], 0.1)
        if upscale == 4:
            default_init_weights(self.upconv2, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.num_in_ch, type(self).__name__, self.required_multiple)
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.scale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        if self.add_base:
            base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
            out = out + base
        return out


class ResidualDenseBlock(nn.Module):
    """Residual dense block (ESRGAN): five densely connected convs, residual scaled by 0.2.

    Args:
        num_feat: channels in and out.
        num_grow_ch: channels added by each of the first four convs (growth rate).

    Shape:
        - Input: :math:`(B, C, H, W)` with ``C = num_feat``.
        - Output: :math:`(B, C, H, W)`.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        default_init_weights([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        # Residual scaling (0.2) keeps the very deep, BN-free stack stable (ESRGAN, Sec. 3.1).
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block (ESRGAN): three RDBs inside a scaled residual.

    Args:
        num_feat: channels in and out.
        num_grow_ch: growth rate of the inner dense blocks.
    """

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(ImageModel):
    """ESRGAN / Real-ESRGAN generator (BasicSR's ``RRDBNet``, same state-dict keys).

    ``conv_first`` -> ``num_block`` RRDBs -> ``conv_body`` (with a long skip) -> nearest
    upsampling, each step followed by a conv (``conv_up1``, ``conv_up2``) -> ``conv_hr`` ->
    ``conv_last``, LeakyReLU(0.2). Upsampling is nearest + conv rather than pixel shuffle, as in
    ESRGAN.

    Scales:
        - 4: two nearest x2 steps (``conv_up1``, ``conv_up2``), as BasicSR.
        - 2 and 1: the input is first pixel-unshuffled by 2 (scale 2) or 4 (scale 1), so the
          body always runs at 1/4 of the output resolution and the network is the x4 one with a
          wider ``conv_first`` (as BasicSR / Real-ESRGAN x2plus). Height and width must then be
          multiples of 2 or 4 (``required_multiple``).
        - 3 (an imgen addition, not in BasicSR): one nearest x3 step through ``conv_up1``;
          ``conv_up2`` does not exist, so x3 checkpoints have no ``conv_up2`` keys and x4
          checkpoints do not load into an x3 model.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        scale: 1, 2, 3 or 4.
        num_feat: feature channels.
        num_block: RRDBs in the body.
        num_grow_ch: growth rate of the dense blocks.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`.
        - Output: :math:`(B, C_{out}, H \\cdot s, W \\cdot s)` with ``s = scale``.

    Example:
        >>> net = RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)
        >>> net(torch.rand(1, 3, 6, 6)).shape
        torch.Size([1, 3, 12, 12])
    """

    required_multiple: int = 1  # per instance: 4 for scale 1, 2 for scale 2

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ):
        super().__init__()
        if scale not in (1, 2, 3, 4):
            raise ValueError(f"RRDBNet supports scale 1, 2, 3 or 4, got {scale}.")
        self.scale = scale
        self.num_in_ch = num_in_ch
        # Pixel-unshuffle factor that brings scales 1 and 2 back to the x4 body.
        self.unshuffle = {1: 4, 2: 2}.get(scale, 1)
        self.required_multiple = self.unshuffle

        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = make_layer(RRDB, num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if scale != 3:
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.num_in_ch, type(self).__name__, self.required_multiple)
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        if self.scale == 3:
            feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=3, mode="nearest")))
        else:
            feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
            feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class SRVGGNetCompact(ImageModel):
    """Real-ESRGAN's compact VGG-style generator (``SRVGGNetCompact``, same state-dict keys).

    A plain stack at the input resolution: ``conv`` -> activation, ``num_conv`` times
    ``conv`` -> activation, a last ``conv`` to ``num_out_ch * upscale**2`` channels, then pixel
    shuffle; the nearest-upsampled input is added, so the network learns the residual. No
    skip inside the body, which makes it fast (realesr-general-x4v3 and realesr-animevideov3).

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: feature channels.
        num_conv: convolutions in the body (32 in realesr-general-x4v3, 16 in
            realesr-animevideov3).
        upscale: any positive integer.
        act_type: ``"prelu"`` (the released models; one slope per channel), ``"relu"`` or
            ``"leakyrelu"`` (slope 0.1).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`.
        - Output: :math:`(B, C_{out}, H \\cdot s, W \\cdot s)` with ``s = upscale``.

    Example:
        >>> net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2)
        >>> net(torch.rand(1, 3, 6, 6)).shape
        torch.Size([1, 3, 12, 12])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 32,
        upscale: int = 4,
        act_type: str = "prelu",
    ):
        super().__init__()
        if act_type not in ("prelu", "relu", "leakyrelu"):
            raise ValueError(f"act_type must be prelu, relu or leakyrelu, got {act_type!r}.")
        self.num_in_ch, self.num_out_ch, self.upscale = num_in_ch, num_out_ch, upscale

        def activation() -> nn.Module:
            if act_type == "prelu":
                return nn.PReLU(num_parameters=num_feat)
            if act_type == "relu":
                return nn.ReLU(inplace=True)
            return nn.LeakyReLU(negative_slope=0.1, inplace=True)

        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), activation()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), activation()]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.num_in_ch, type(self).__name__)
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        # The residual is learnt over nearest upsampling (repeat_interleave of the input).
        base = F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        if self.num_out_ch != self.num_in_ch:
            return out
        return out + base


class Bicubic(ImageModel):
    """MATLAB-compatible bicubic upscaling as a generator, the classic SR baseline.

    It has **no parameters**: use it for evaluation and prediction only, and do not build an
    optimizer for it (``torch.optim`` rejects an empty parameter list). The output is not
    clamped; bicubic overshoots slightly outside [0, 1] near edges, as in MATLAB.

    A zero-size, non-persistent buffer is registered so that ``.to(device)`` and code that looks
    up a module's device through its buffers keep working; it is not saved in the state dict.

    Args:
        upscale: integer upscaling factor.

    Shape:
        - Input: :math:`(B, C, H, W)`.
        - Output: :math:`(B, C, H \\cdot s, W \\cdot s)` with ``s = upscale``.

    Example:
        >>> up = Bicubic(upscale=2)
        >>> sum(p.numel() for p in up.parameters())
        0
    """

    required_multiple: int = 1

    def __init__(self, upscale: int = 4):
        super().__init__()
        if upscale < 1:
            raise ValueError(f"Bicubic needs upscale >= 1, got {upscale}.")
        self.scale = upscale
        self.register_buffer("_device_anchor", torch.empty(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Imported here so that building the model does not require the data package.
        from imgen.data.resize import imresize

        if x.ndim != 4:
            raise ValueError(f"Bicubic expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}.")
        return imresize(x, scale=self.scale)


# --------------------------------------------------------------------------------------------
# Discriminators
# --------------------------------------------------------------------------------------------


class VGGStyleDiscriminator(ImageModel):
    """VGG-style discriminator of SRGAN/ESRGAN (BasicSR's ``VGGStyleDiscriminator``).

    Five stages of (3x3 conv, 4x4 stride-2 conv) with batch norm and LeakyReLU(0.2), then two
    linear layers giving one logit per image. BasicSR flattens the final 4x4 map and therefore
    accepts exactly 128x128 crops; here an ``AdaptiveAvgPool2d(4)`` precedes the linear layers
    so any crop of at least 32x32 works. At 128x128 the pool is the identity, so results and
    state-dict keys match BasicSR's 128 model.

    Batch norm in training mode needs more than one value per channel: at a 32x32 crop the last
    stage is 1x1, so train with a batch of at least 2 there.

    Args:
        num_in_ch: input channels.
        num_feat: channels of the first stage (doubled up to 8x).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W >= 32``.
        - Output: :math:`(B, 1)` logits.

    Example:
        >>> d = VGGStyleDiscriminator(num_feat=4)
        >>> d(torch.rand(2, 3, 48, 48)).shape
        torch.Size([2, 1])
    """

    required_multiple: int = 1
    min_size: int = 32  # five stride-2 stages: 32 -> 1

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64):
        super().__init__()
        self.num_in_ch = num_in_ch
        f = num_feat
        self.conv0_0 = nn.Conv2d(num_in_ch, f, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(f, f, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(f, affine=True)

        self.conv1_0 = nn.Conv2d(f, f * 2, 3, 1, 1, bias=False)
        self.bn1_0 = nn.BatchNorm2d(f * 2, affine=True)
        self.conv1_1 = nn.Conv2d(f * 2, f * 2, 4, 2, 1, bias=False)
        self.bn1_1 = nn.BatchNorm2d(f * 2, affine=True)

        self.conv2_0 = nn.Conv2d(f * 2, f * 4, 3, 1, 1, bias=False)
        self.bn2_0 = nn.BatchNorm2d(f * 4, affine=True)
        self.conv2_1 = nn.Conv2d(f * 4, f * 4, 4, 2, 1, bias=False)
        self.bn2_1 = nn.BatchNorm2d(f * 4, affine=True)

        self.conv3_0 = nn.Conv2d(f * 4, f * 8, 3, 1, 1, bias=False)
        self.bn3_0 = nn.BatchNorm2d(f * 8, affine=True)
        self.conv3_1 = nn.Conv2d(f * 8, f * 8, 4, 2, 1, bias=False)
        self.bn3_1 = nn.BatchNorm2d(f * 8, affine=True)

        self.conv4_0 = nn.Conv2d(f * 8, f * 8, 3, 1, 1, bias=False)
        self.bn4_0 = nn.BatchNorm2d(f * 8, affine=True)
        self.conv4_1 = nn.Conv2d(f * 8, f * 8, 4, 2, 1, bias=False)
        self.bn4_1 = nn.BatchNorm2d(f * 8, affine=True)

        self.pool = nn.AdaptiveAvgPool2d(4)
        self.linear1 = nn.Linear(f * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.num_in_ch, type(self).__name__, self.required_multiple)
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"VGGStyleDiscriminator needs crops of at least {self.min_size}x{self.min_size}, "
                f"got {x.shape[-2]}x{x.shape[-1]}; use a larger crop (gt_size)."
            )
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))  # /2
        feat = self.lrelu(self.bn1_0(self.conv1_0(feat)))
        feat = self.lrelu(self.bn1_1(self.conv1_1(feat)))  # /4
        feat = self.lrelu(self.bn2_0(self.conv2_0(feat)))
        feat = self.lrelu(self.bn2_1(self.conv2_1(feat)))  # /8
        feat = self.lrelu(self.bn3_0(self.conv3_0(feat)))
        feat = self.lrelu(self.bn3_1(self.conv3_1(feat)))  # /16
        feat = self.lrelu(self.bn4_0(self.conv4_0(feat)))
        feat = self.lrelu(self.bn4_1(self.conv4_1(feat)))  # /32
        feat = self.pool(feat).flatten(1)
        feat = self.lrelu(self.linear1(feat))
        return self.linear2(feat)


class UNetDiscriminatorSN(ImageModel):
    """U-Net discriminator with spectral norm (Real-ESRGAN), one logit per pixel.

    Three stride-2 downsampling convs, three bilinear x2 upsampling stages with skip
    connections, and two extra convs; spectral norm on every conv except the first and the
    last, exactly as Real-ESRGAN. The per-pixel output gives the generator local feedback,
    which Real-ESRGAN needs for its complex degradations.

    Height and width must be multiples of 8 (three halvings that the upsampling path undoes);
    other sizes raise a ``ValueError`` that says so, rather than failing in a skip addition.

    State-dict keys use ``torch.nn.utils.parametrizations`` (``convN.parametrizations.weight.
    original``); :func:`load_basicsr_state_dict` converts Real-ESRGAN's old-style
    ``weight_orig``/``weight_u``/``weight_v`` keys.

    Args:
        num_in_ch: input channels.
        num_feat: channels of the first stage.
        skip_connection: add the encoder features to the decoder (U-Net skips).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W`` multiples of 8.
        - Output: :math:`(B, 1, H, W)` logits.

    Example:
        >>> d = UNetDiscriminatorSN(num_feat=4)
        >>> d(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 1, 32, 32])
    """

    required_multiple: int = 8

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.num_in_ch = num_in_ch
        self.skip_connection = skip_connection
        f, sn = num_feat, spectral_norm
        self.conv0 = nn.Conv2d(num_in_ch, f, kernel_size=3, stride=1, padding=1)
        # downsample
        self.conv1 = sn(nn.Conv2d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False))
        # upsample
        self.conv4 = sn(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        # extra convolutions
        self.conv7 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.num_in_ch, type(self).__name__, self.required_multiple)
        x0 = F.leaky_relu(self.conv0(x), negative_slope=0.2, inplace=True)
        x1 = F.leaky_relu(self.conv1(x0), negative_slope=0.2, inplace=True)
        x2 = F.leaky_relu(self.conv2(x1), negative_slope=0.2, inplace=True)
        x3 = F.leaky_relu(self.conv3(x2), negative_slope=0.2, inplace=True)

        x3 = F.interpolate(x3, scale_factor=2, mode="bilinear", align_corners=False)
        x4 = F.leaky_relu(self.conv4(x3), negative_slope=0.2, inplace=True)
        if self.skip_connection:
            x4 = x4 + x2
        x4 = F.interpolate(x4, scale_factor=2, mode="bilinear", align_corners=False)
        x5 = F.leaky_relu(self.conv5(x4), negative_slope=0.2, inplace=True)
        if self.skip_connection:
            x5 = x5 + x1
        x5 = F.interpolate(x5, scale_factor=2, mode="bilinear", align_corners=False)
        x6 = F.leaky_relu(self.conv6(x5), negative_slope=0.2, inplace=True)
        if self.skip_connection:
            x6 = x6 + x0

        out = F.leaky_relu(self.conv7(x6), negative_slope=0.2, inplace=True)
        out = F.leaky_relu(self.conv8(out), negative_slope=0.2, inplace=True)
        return self.conv9(out)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def load_basicsr_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, object] | str | os.PathLike[str],
    strict: bool = True,
) -> nn.Module:
    """Load a BasicSR / Real-ESRGAN / ESRGAN checkpoint into ``model``.

    Accepts a plain state dict or BasicSR's wrapped files ``{"params_ema": ...}`` and
    ``{"params": ...}`` (``params_ema`` wins when both are present, as Real-ESRGAN's inference
    does), strips a DataParallel ``module.`` prefix, and renames Real-ESRGAN's old-style
    spectral-norm keys (``weight_orig``/``weight_u``/``weight_v``) to the parametrization keys
    that :class:`UNetDiscriminatorSN` uses.

    Args:
        model: the model to load into (e.g. ``RRDBNet(scale=4)`` for RealESRGAN_x4plus.pth).
        state_dict: the mapping, or a path to a ``.pth`` file (loaded on CPU with
            ``weights_only=True``).
        strict: passed to :meth:`torch.nn.Module.load_state_dict`.

    Returns:
        ``model``, for chaining.

    Example:
        >>> net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
        >>> _ = load_basicsr_state_dict(net, {"params_ema": net.state_dict()})
    """
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = torch.load(state_dict, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected a state dict (a mapping), got {type(state_dict).__name__}.")
    for wrapper in ("params_ema", "params"):
        if wrapper in state_dict and isinstance(state_dict[wrapper], Mapping):
            state_dict = state_dict[wrapper]
            break

    from imgen_sr.formats import old_spectral_norm_keys

    converted = {key.removeprefix("module."): value for key, value in state_dict.items()}
    model.load_state_dict(old_spectral_norm_keys(converted), strict=strict)
    return model
