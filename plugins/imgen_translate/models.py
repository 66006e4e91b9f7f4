"""Generators of the ``translate`` task: the pix2pix U-Net and a U-Net over a timm encoder.

:class:`UNetGenerator` has the layers, order and state-dict keys of the reference
``UnetGenerator`` (junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``), so its
``*_net_G.pth`` files (``unet_256``, ``unet_128``) load directly. :class:`TimmUNet` replaces
the encoder by any timm backbone (optionally with pretrained weights that are already on disk;
it never downloads). The PatchGAN discriminators live in :mod:`imgen.nn.patchgan`.

References:
    - Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks".
    - Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image Segmentation".
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from imgen.nn.checks import check_image_input
from imgen.nn.contract import ImageModel
from imgen.nn.norm import init_gan_normal, norm_layer, uses_bias

__all__ = ["DecoderBlock", "TimmUNet", "UNetGenerator", "UNetSkipBlock"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# pix2pix U-Net
# --------------------------------------------------------------------------------------------


class UNetSkipBlock(nn.Module):
    """One level of the pix2pix U-Net (the reference's ``UnetSkipConnectionBlock``).

    ``x -> [x, up(submodule(down(x)))]``: down is LeakyReLU(0.2), a 4x4 stride-2 conv and a
    norm; up is ReLU, a 4x4 stride-2 transposed conv and a norm (then ``Dropout(0.5)`` if
    ``dropout``). The outermost level has no activation or norm on the way down, returns the
    tanh of its up path and no skip; the innermost level has no submodule and no norm after its
    down conv (its output is 1x1 at the intended input size).

    The skip carries ``LeakyReLU(x)``, not ``x``: the reference's LeakyReLU is in place and so
    overwrites ``x`` before it is concatenated. This module does the same, explicitly, so that
    reference weights give the reference's outputs.

    Args:
        outer_nc: channels of this level's output (before the concatenation).
        inner_nc: channels after the down conv.
        in_channels: input channels; defaults to ``outer_nc`` (only the outermost level differs).
        submodule: the next level inward (``None`` for the innermost).
        outermost: the first/last level.
        innermost: the bottleneck level.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        dropout: ``Dropout(0.5)`` at the end of the up path (intermediate levels only).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with even ``H, W``.
        - Output: :math:`(B, C_{in} + outer\\_nc, H, W)`, or :math:`(B, outer\\_nc, H, W)` for
          the outermost level.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        in_channels: int | None = None,
        submodule: nn.Module | None = None,
        *,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ):
        super().__init__()
        if outermost and innermost:
            raise ValueError("A U-Net level cannot be both outermost and innermost.")
        if (submodule is None) != innermost:
            raise ValueError("Every U-Net level except the innermost needs a submodule.")
        self.outermost = outermost
        norm_fn, bias = norm_layer(norm), uses_bias(norm)
        in_channels = outer_nc if in_channels is None else in_channels
        down_conv = nn.Conv2d(in_channels, inner_nc, 4, stride=2, padding=1, bias=bias)

        layers: list[nn.Module]
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, nn.ReLU(True), up_conv, norm_fn(outer_nc)]
        else:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, norm_fn(inner_nc), submodule]
            layers += [nn.ReLU(True), up_conv, norm_fn(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)  # the reference's layout and state-dict keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        x = self.model[0](x)  # LeakyReLU: the skip is the activated input, as in the reference
        y = x
        for layer in itertools.islice(self.model, 1, None):
            y = layer(y)
        return torch.cat([x, y], 1)


class UNetGenerator(ImageModel):
    """The pix2pix generator (the reference's ``UnetGenerator``), built from
    :class:`UNetSkipBlock` levels from the inside out.

    Encoder ``C64-C128-C256-C512-C512-C512-C512-C512`` and decoder
    ``CD512-CD512-CD512-C512-C256-C128-C64`` for ``depth=8`` (Isola et al. 2017, Appendix 6.1.1),
    with skip connections between mirrored levels: each of the ``depth`` levels halves the
    resolution, so a ``2^depth`` input reaches 1x1 at the bottleneck. Channels grow
    ``ngf, 2 ngf, 4 ngf`` and then stay at ``8 ngf``; the ``depth - 5`` intermediate ``8 ngf``
    levels next to the bottleneck carry ``Dropout(0.5)`` when ``dropout`` is set (pix2pix's
    only source of noise, also active at test time in the paper). Tanh output.

    ``depth=8`` is the reference ``unet_256`` (54,413,955 parameters with ``ngf=64``, batch norm,
    3 -> 3 channels), ``depth=7`` is ``unet_128``. Initialised as the reference
    (:func:`init_gan_normal`).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        ngf: channels of the outermost level.
        depth: downsampling levels, at least 5.
        norm: ``"batch"``, ``"instance"`` or ``"none"``. With ``"none"`` the convs keep their
            bias (the reference drops it; see :func:`imgen.nn.norm.uses_bias`).
        dropout: ``Dropout(0.5)`` in the ``depth - 5`` innermost non-bottleneck levels.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W`` multiples of ``2^depth``
          (``required_multiple``).
        - Output: :math:`(B, C_{out}, H, W)` in [-1, 1].

    Example:
        >>> net = UNetGenerator(ngf=4, depth=5)
        >>> net(torch.rand(1, 3, 32, 64)).shape
        torch.Size([1, 3, 32, 64])
    """

    required_multiple: int = 256  # per instance: 2 ** depth

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        depth: int = 8,
        norm: str = "batch",
        dropout: bool = True,
    ):
        super().__init__()
        if depth < 5:
            raise ValueError(
                f"UNetGenerator needs depth >= 5 (three widening levels, the outermost and the "
                f"innermost), got {depth}."
            )
        self.in_channels = in_channels
        self.depth = depth
        self.required_multiple = 2**depth

        block = UNetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):
            block = UNetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        block = UNetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UNetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UNetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UNetSkipBlock(
            out_channels, ngf, in_channels, submodule=block, outermost=True, norm=norm
        )
        init_gan_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_channels, type(self).__name__, self.required_multiple)
        return self.model(x)


# --------------------------------------------------------------------------------------------
# U-Net over a timm encoder
# --------------------------------------------------------------------------------------------


def _conv_norm_relu(in_channels: int, out_channels: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=uses_bias(norm)),
        norm_layer(norm)(out_channels),
        nn.ReLU(inplace=True),
    )


class DecoderBlock(nn.Module):
    """U-Net decoder block: nearest x2 upsampling, concatenation of the skip, two 3x3
    conv-norm-ReLU layers.

    Args:
        in_channels: channels of the incoming (coarser) features.
        skip_channels: channels of the skip features (0 for a block without skip).
        out_channels: output channels.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` and a skip :math:`(B, C_{skip}, 2H, 2W)` or ``None``.
        - Output: :math:`(B, C_{out}, 2H, 2W)`.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, norm: str):
        super().__init__()
        self.conv1 = _conv_norm_relu(in_channels + skip_channels, out_channels, norm)
        self.conv2 = _conv_norm_relu(out_channels, out_channels, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.conv2(self.conv1(x))


def _hf_cache_dir() -> str | None:
    """The Hugging Face hub cache, read from the environment now (huggingface_hub reads it
    once, at import); ``None`` leaves the choice to huggingface_hub."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.environ[var]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def _cached_hf_weights(pretrained_cfg: Mapping[str, object]) -> str | None:
    """The path of the encoder's weights in the Hugging Face cache, or ``None``; never
    downloads."""
    hub_id = pretrained_cfg.get("hf_hub_id")
    if not isinstance(hub_id, str) or not hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo_id, _, revision = hub_id.partition("@")
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(
            repo_id, filename, cache_dir=_hf_cache_dir(), revision=revision or None
        )
        if isinstance(found, str):  # a path; otherwise None or a "known missing" sentinel
            return found
    return None


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"Encoder weights file {str(path)!r} does not exist.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    elif path.suffix in (".pth", ".pt", ".bin"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in ("state_dict", "model"):  # common checkpoint wrappers
            if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
                state = state[wrapper]
    else:
        raise ValueError(
            f"Encoder weights {str(path)!r}: expected a .safetensors, .pth, .pt or .bin file."
        )
    if not isinstance(state, Mapping):
        raise ValueError(f"Encoder weights {str(path)!r} do not hold a state dict.")
    return {k.removeprefix("module."): v for k, v in state.items() if torch.is_tensor(v)}


class TimmUNet(ImageModel):
    """A U-Net generator whose encoder is a timm backbone (``features_only``).

    The encoder yields features at strides ``r_0 < r_1 < ... < r_K`` (usually 2, 4, ..., 32).
    The decoder starts from the coarsest and, for every finer feature, upsamples x2 (nearest),
    concatenates the skip and applies two 3x3 conv-norm-ReLU layers (:class:`DecoderBlock`);
    ``log2(r_0)`` further blocks without skip bring it back to full resolution. A 3x3 conv to
    ``out_channels`` and tanh finish. ``decoder_channels`` gives each block's width, so it needs
    ``K + log2(r_0)`` entries (5 for ResNets, EfficientNets and ConvNeXts).

    Pretrained encoder weights are used only when they are already on disk: the file
    ``encoder_weights`` if given, else the encoder's Hugging Face repository if the hub cache
    holds it. Nothing is ever downloaded. ``weights_note`` says what happened (also logged), and
    ``missing_keys`` lists the encoder tensors the weights did not provide. A first conv whose
    input channels differ from the file's is adapted as timm does (``adapt_input_conv``).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        encoder: a timm architecture name, optionally with a pretrained tag
            (``"resnet34"``, ``"convnext_tiny.fb_in22k"``).
        decoder_channels: widths of the decoder blocks, coarse to fine.
        norm: decoder norm: ``"batch"``, ``"instance"`` or ``"none"`` (the encoder keeps its own).
        encoder_weights: a ``.safetensors`` or ``.pth`` state dict of the timm model, loaded with
            ``strict=False`` (a classifier head in it is ignored).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W`` multiples of the encoder's largest
          stride (``required_multiple``, 32 for most backbones).
        - Output: :math:`(B, C_{out}, H, W)` in [-1, 1].

    Example:
        >>> net = TimmUNet(encoder="resnet18", decoder_channels=(32, 16, 16, 8, 8))
        >>> net(torch.rand(1, 3, 64, 96)).shape
        torch.Size([1, 3, 64, 96])
    """

    required_multiple: int = 32  # per instance: the encoder's largest stride

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        encoder: str = "resnet34",
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        norm: str = "batch",
        encoder_weights: str | os.PathLike[str] | None = None,
    ):
        super().__init__()
        norm_layer(norm)  # validate before the (slow) encoder is built
        self.in_channels = in_channels
        self.encoder_name = encoder
        self.encoder = _create_encoder(encoder, in_channels)

        reductions = list(self.encoder.feature_info.reduction())
        channels = list(self.encoder.feature_info.channels())
        first = reductions[0]
        doubling = all(b == 2 * a for a, b in itertools.pairwise(reductions))
        if not doubling or first & (first - 1):
            raise ValueError(
                f"Encoder {encoder!r} gives features at strides {reductions}; TimmUNet needs "
                f"strides that are powers of two and double from one feature to the next "
                f"(e.g. 2, 4, 8, 16, 32)."
            )
        n_final = int(math.log2(first))  # blocks without skip, back to full resolution
        n_blocks = len(reductions) - 1 + n_final
        decoder_channels = tuple(decoder_channels)
        if len(decoder_channels) != n_blocks:
            raise ValueError(
                f"Encoder {encoder!r} (strides {reductions}) needs {n_blocks} decoder_channels, "
                f"got {len(decoder_channels)}: {decoder_channels}."
            )
        self.required_multiple = reductions[-1]

        skips = channels[-2::-1] + [0] * n_final  # skip widths, coarse to fine
        widths = [channels[-1], *decoder_channels]
        self.decoder = nn.ModuleList(
            DecoderBlock(c_in, c_skip, c_out, norm)
            for c_in, c_skip, c_out in zip(widths[:-1], skips, widths[1:], strict=True)
        )
        self.head = nn.Conv2d(decoder_channels[-1], out_channels, 3, padding=1)

        self.missing_keys: list[str] = []
        self.weights_note = self._load_pretrained(encoder_weights)
        logger.info(self.weights_note)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_channels, type(self).__name__, self.required_multiple)
        features = self.encoder(x)
        y = features[-1]
        skips = features[-2::-1]
        for i, block in enumerate(self.decoder):
            y = block(y, skips[i] if i < len(skips) else None)
        return torch.tanh(self.head(y))

    # -- pretrained weights -----------------------------------------------------------------

    def _load_pretrained(self, encoder_weights: str | os.PathLike[str] | None) -> str:
        name = self.encoder_name
        if encoder_weights is not None:
            path = Path(encoder_weights)
            source = str(path)
        else:
            cfg = getattr(self.encoder, "pretrained_cfg", None) or {}
            cached = _cached_hf_weights(cfg)
            if cached is None:
                return f"encoder {name}: no cached pretrained weights; starting from scratch"
            path, source = Path(cached), f"{cached} (Hugging Face cache, {cfg['hf_hub_id']})"
        self.missing_keys = _load_into_encoder(self.encoder, _read_state_dict(path), source)
        return (
            f"encoder {name}: pretrained weights from {source}; "
            f"{len(self.missing_keys)} missing keys"
        )


def _create_encoder(name: str, in_channels: int) -> nn.Module:
    import timm

    if ":" in name:
        raise ValueError(
            f"Encoder {name!r}: give a timm architecture name such as 'resnet34'; hub and file "
            f"prefixes are not supported (they may download). Pass a local weights file as "
            f"encoder_weights instead."
        )
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See timm.list_models()."
        raise ValueError(f"Unknown timm encoder {name!r}.{hint}")
    try:
        return timm.create_model(name, features_only=True, pretrained=False, in_chans=in_channels)
    except RuntimeError as exc:
        raise ValueError(f"timm encoder {name!r} cannot be used as a U-Net encoder: {exc}") from exc


def _only_input_channels_differ(value: torch.Tensor, ref: torch.Tensor) -> bool:
    """Whether ``value`` is a conv weight that differs from ``ref`` only in dimension 1."""
    return (
        value.ndim == ref.ndim == 4
        and value.shape[1] != ref.shape[1]
        and value.shape[0] == ref.shape[0]
        and value.shape[2:] == ref.shape[2:]
    )


def _load_into_encoder(
    encoder: nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> list[str]:
    """Load ``state`` (keys of the plain timm model) into the ``features_only`` encoder.

    timm's feature wrapper flattens nested stems/stages (``stages.0`` becomes ``stages_0``),
    so a key missing as is is also looked up with its first component's ``_`` as ``.``.
    Returns the encoder keys that ``state`` did not provide; raises if it provided none.
    """
    from timm.models import adapt_input_conv

    target = encoder.state_dict()
    matched: dict[str, torch.Tensor] = {}
    for key, ref in target.items():
        head, dot, rest = key.partition(".")
        for candidate in (key, head.replace("_", ".") + dot + rest):
            value = state.get(candidate)
            if value is None:
                continue
            if _only_input_channels_differ(value, ref):  # the first conv, in_chans != file's
                try:
                    value = adapt_input_conv(ref.shape[1], value)
                except NotImplementedError:  # timm adapts only from 3 (RGB) input channels
                    break
            if value.shape == ref.shape:
                matched[key] = value
            break
    if not matched:
        raise ValueError(
            f"None of the {len(state)} tensors in {source} fit the encoder "
            f"(first keys: {', '.join(list(state)[:3])}); is it a state dict of this timm model?"
        )
    result = encoder.load_state_dict(matched, strict=False)
    return list(result.missing_keys)
