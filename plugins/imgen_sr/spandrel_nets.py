"""spandrel's image-restoration architectures as imgen generators.

spandrel (MIT) implements ~40 published super-resolution and restoration networks (SwinIR,
HAT, DAT, SPAN, OmniSR, RealCUGAN, SCUNet, NAFNet, ...) and recognises their checkpoints from
the state dict alone. :class:`SpandrelNet` wraps one of them so that imgen can train,
evaluate, tile, import and export it like its own networks: it carries the architecture's
size requirements (padding to its ``multiple_of``, up to its ``minimum``, to a square when it
needs one, and cropping back) and its half/bf16 support.

The architectures that ``imgen train sr --generator NAME`` builds from scratch start from a
published configuration (:data:`PUBLISHED`); any spandrel architecture can be imported from a
file (``generator = "spandrel"``, its hyperparameters read from the file by spandrel).
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import torch
import torch.nn.functional as F

from imgen.nn.contract import ImageModel

__all__ = ["PUBLISHED", "SpandrelNet", "describe", "factory", "json_hyperparameters"]

# The configurations ``--generator NAME`` starts from: the light models of each paper, which a
# CPU can train. ``upscale`` comes from --scale. (spandrel id, keyword arguments, source.)
PUBLISHED: dict[str, tuple[str, dict[str, Any], str]] = {
    "swinir": (
        "SwinIR",
        {
            "img_size": 64,
            "window_size": 8,
            "img_range": 1.0,
            "depths": [6, 6, 6, 6],
            "embed_dim": 60,
            "num_heads": [6, 6, 6, 6],
            "mlp_ratio": 2.0,
            "upsampler": "pixelshuffledirect",
            "resi_connection": "1conv",
        },
        "SwinIR-light (Liang et al. 2021, lightweight SR)",
    ),
    "hat": (
        "HAT",
        {
            "img_size": 64,
            "window_size": 16,
            "compress_ratio": 24,
            "squeeze_factor": 24,
            "conv_scale": 0.01,
            "overlap_ratio": 0.5,
            "img_range": 1.0,
            "depths": [6, 6, 6, 6, 6, 6],
            "embed_dim": 144,
            "num_heads": [6, 6, 6, 6, 6, 6],
            "mlp_ratio": 2.0,
            "upsampler": "pixelshuffle",
            "resi_connection": "1conv",
        },
        "HAT-S (Chen et al. 2023)",
    ),
    "dat": (
        "DAT",
        {
            "img_size": 64,
            "embed_dim": 60,
            "split_size": [8, 32],
            "depth": [18],
            "num_heads": [6],
            "expansion_factor": 2.0,
            "resi_connection": "3conv",
            "upsampler": "pixelshuffledirect",
        },
        "DAT-light (Chen et al. 2023)",
    ),
    "span": (
        "SPAN",
        {"feature_channels": 48, "bias": True},
        "SPAN (Wan et al. 2024, NTIRE 2024 efficient SR winner)",
    ),
    "omnisr": (
        "OmniSR",
        {"num_feat": 64, "block_num": 1, "pe": True, "window_size": 8, "res_num": 5, "bias": True},
        "OmniSR (Wang et al. 2023)",
    ),
}

# How each architecture names its scale and channel arguments.
_SCALE_ARG = {"OmniSR": "up_scale"}
_CHANNEL_ARGS = {"SPAN": ("num_in_ch", "num_out_ch"), "OmniSR": ("num_in_ch", "num_out_ch")}


def _architecture(arch: str) -> Any:
    from spandrel import MAIN_REGISTRY

    support = MAIN_REGISTRY.get(arch)
    if support is None:
        known = ", ".join(sorted(str(a.id) for a in MAIN_REGISTRY))
        raise ValueError(f"spandrel has no architecture {arch!r}; it has: {known}")
    return support.architecture


def _model_class(arch: str) -> type[torch.nn.Module]:
    module = importlib.import_module(type(_architecture(arch)).__module__)
    return getattr(module, arch)


def json_hyperparameters(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters that JSON can hold (config.json): layer classes such as
    ``norm_layer`` are left out (every released model uses the default), tuples become lists."""
    out = {}
    for key, value in hyperparameters.items():
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except TypeError:
            continue
        out[key] = value
    return out


class SpandrelNet(ImageModel):
    """A spandrel architecture built from its hyperparameters, as an imgen generator.

    Args:
        arch: spandrel's id of the architecture (``"SwinIR"``, ``"HAT"``, ``"SPAN"``...).
        hyperparameters: its constructor's keyword arguments.

    Attributes:
        scale, in_channels, out_channels: from spandrel's description of the model.
        required_multiple: the architecture's ``multiple_of`` (imgen pads inputs to it).
        supports_half, supports_bfloat16: whether fp16 / bf16 inference is safe.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, any size (padded to the architecture's minimum
          and, where it needs one, to a square; the output is cropped back).
        - Output: :math:`(B, C_{out}, H \\cdot s, W \\cdot s)`.

    Example:
        >>> net = SpandrelNet("SPAN", {"num_in_ch": 3, "num_out_ch": 3, "upscale": 2,
        ...                            "feature_channels": 8})
        >>> net(torch.rand(1, 3, 12, 12)).shape
        torch.Size([1, 3, 24, 24])
    """

    def __init__(self, arch: str, hyperparameters: dict[str, Any]) -> None:
        super().__init__()
        self.arch = arch
        self.model = _model_class(arch)(**hyperparameters)
        self.hyperparameters = json_hyperparameters(dict(self.model.hyperparameters))
        self._describe(_architecture(arch).load(dict(self.model.state_dict())))

    def _describe(self, descriptor: Any) -> None:
        # Re-parameterized architectures (SPAN's Conv3XC) train several convolutions and, in
        # eval mode, fold them into ``eval_conv``: that one is computed, never trained.
        for name, parameter in self.model.named_parameters():
            if ".eval_conv." in f".{name}":
                parameter.requires_grad_(False)
        req = descriptor.size_requirements
        self.scale = descriptor.scale
        self.in_channels = descriptor.input_channels
        self.out_channels = descriptor.output_channels
        self.required_multiple = req.multiple_of
        self.minimum, self.square = req.minimum, req.square
        self.supports_half = descriptor.supports_half
        self.supports_bfloat16 = descriptor.supports_bfloat16
        self.weights_note = f"spandrel {self.arch}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        target_h, target_w = max(height, self.minimum), max(width, self.minimum)
        if self.square:
            target_h = target_w = max(target_h, target_w)
        step = self.required_multiple
        target_h, target_w = -(-target_h // step) * step, -(-target_w // step) * step
        if (target_h, target_w) != (height, width):
            pad = (0, target_w - width, 0, target_h - height)
            mode = "reflect" if pad[1] < width and pad[3] < height else "replicate"
            x = F.pad(x, pad, mode=mode)
        out = self.model(x)
        return out[..., : height * self.scale, : width * self.scale]


def describe(state: dict[str, torch.Tensor]) -> Any | None:
    """spandrel's description of a state dict (an ``ImageModelDescriptor``), or None when no
    architecture of spandrel's recognises it."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        descriptor = ModelLoader().load_from_state_dict(dict(state))
    except UnsupportedModelError:
        return None
    except Exception:  # a recognised architecture whose hyperparameters it cannot read
        return None
    return descriptor if isinstance(descriptor, ImageModelDescriptor) else None


def from_descriptor(descriptor: Any) -> SpandrelNet:
    """A :class:`SpandrelNet` holding the model spandrel loaded (weights included)."""
    arch = descriptor.architecture.id
    net = SpandrelNet.__new__(SpandrelNet)
    ImageModel.__init__(net)
    net.arch = arch
    net.model = descriptor.model
    net.hyperparameters = json_hyperparameters(dict(descriptor.model.hyperparameters))
    net._describe(descriptor)
    return net


def factory(name: str) -> Any:
    """The ``create_model`` factory of ``--generator NAME``: the published configuration of
    :data:`PUBLISHED`, whose keyword arguments (and ``scale``, ``num_in_ch``, ``num_out_ch``)
    may each be overridden; its signature lists them, so a typo is an error."""
    arch, published, source = PUBLISHED[name]
    scale_arg = _SCALE_ARG.get(arch, "upscale")
    in_arg, out_arg = _CHANNEL_ARGS.get(arch, ("in_chans", None))

    def build(
        scale: int = 4, num_in_ch: int = 3, num_out_ch: int = 3, **kwargs: Any
    ) -> SpandrelNet:
        options = {**published, **kwargs, scale_arg: scale, in_arg: num_in_ch}
        if out_arg:
            options[out_arg] = num_out_ch
        return SpandrelNet(arch, options)

    parameters = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
        for n, d in (("scale", 4), ("num_in_ch", 3), ("num_out_ch", 3))
    ]
    accepted = inspect.signature(_model_class(arch)).parameters
    parameters += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=published.get(n, p.default))
        for n, p in accepted.items()
        if n not in (scale_arg, in_arg, out_arg, "self") and p.kind is not p.VAR_KEYWORD
    ]
    build.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    build.__doc__ = f"{source}: spandrel's {arch}, from its published configuration."
    build.__qualname__ = f"{arch} ({name})"
    return build


def generic(arch: str, hyperparameters: dict[str, Any]) -> SpandrelNet:
    """``--generator spandrel``: any spandrel architecture from its hyperparameters (what
    ``imgen import`` stores for architectures without a name of their own in imgen)."""
    return SpandrelNet(arch, hyperparameters)


swinir = factory("swinir")
hat = factory("hat")
dat = factory("dat")
span = factory("span")
omnisr = factory("omnisr")
