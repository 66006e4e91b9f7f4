"""Readers of published super-resolution checkpoints (``imgen_register_formats``).

imgen's own networks load these natively, so they can be fine-tuned by the GAN engine:

- ESRGAN's original layout (``RRDB_trunk.N.RDBk.convJ``, ``trunk_conv``, ``upconv1/2``,
  ``HRconv``) and BasicSR's / Real-ESRGAN's RRDBNet (x4; x2 and x1 with pixel-unshuffle, as in
  RealESRGAN_x2plus), as ``rrdbnet``;
- BasicSR's MSRResNet, as ``srresnet``;
- Real-ESRGAN's SRVGGNetCompact (realesr-general-x4v3, realesr-animevideov3), as ``compact``;
- the VGG-style and the U-Net (spectral norm, old hook keys or parametrizations) discriminators.

Every other image-restoration architecture that spandrel recognises is read through spandrel
(the last reader asked), as a :class:`imgen_sr.spandrel_nets.SpandrelNet`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from imgen.weights.formats import Detected, indices, rename

State = dict[str, torch.Tensor]

# ESRGAN's original repository named the RRDBNet layers differently from BasicSR.
ESRGAN_OLD_KEYS = [
    (r"^RRDB_trunk\.", "body."),
    (r"\.RDB(\d)\.", r".rdb\1."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv1\.", "conv_up1."),
    (r"^upconv2\.", "conv_up2."),
    (r"^HRconv\.", "conv_hr."),
]


def _channels_and_unshuffle(first_in: int, out: int) -> tuple[int, int] | None:
    """(input channels, pixel-unshuffle factor) of an RRDBNet whose ``conv_first`` takes
    ``first_in`` channels and whose output has ``out``: RRDBNet x2/x1 unshuffle the input by
    2/4, so ``first_in = channels * factor**2`` (the input has as many channels as the output)."""
    for factor in (1, 2, 4):
        if first_in == out * factor * factor:
            return out, factor
    return None


def detect_rrdbnet(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """ESRGAN (old keys) and BasicSR / Real-ESRGAN RRDBNet files."""
    layout = "BasicSR / Real-ESRGAN"
    if "RRDB_trunk.0.RDB1.conv1.weight" in state:
        state, layout = rename(state, ESRGAN_OLD_KEYS), "ESRGAN (original keys)"
    needed = (
        "conv_first.weight",
        "body.0.rdb1.conv1.weight",
        "conv_body.weight",
        "conv_last.weight",
    )
    if not all(k in state for k in needed):
        return None
    num_feat, first_in = state["conv_first.weight"].shape[:2]
    num_out = state["conv_last.weight"].shape[0]
    found = _channels_and_unshuffle(first_in, num_out)
    if found is None:
        return None
    channels, unshuffle = found
    scale = {1: 4, 2: 2, 4: 1}[unshuffle] if "conv_up2.weight" in state else 3
    num_block = len(indices(state, "body."))
    grow = state["body.0.rdb1.conv1.weight"].shape[0]
    options = {
        "generator": "rrdbnet",
        "scale": scale,
        "num_feat": num_feat,
        "num_block": num_block,
        "generator_options": {"num_grow_ch": grow, "num_in_ch": channels, "num_out_ch": num_out},
    }
    return Detected(
        "sr",
        f"RRDBNet x{scale}, {num_block} blocks, {num_feat} features ({layout})",
        options,
        {"G": state},
    )


def detect_msrresnet(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """BasicSR's MSRResNet (the ESRGAN paper's PSNR baseline)."""
    needed = ("conv_first.weight", "body.0.conv1.weight", "upconv1.weight", "conv_last.weight")
    if not all(k in state for k in needed):
        return None
    num_feat, num_in = state["conv_first.weight"].shape[:2]
    if "upconv2.weight" in state:
        scale = 4
    else:
        ratio = state["upconv1.weight"].shape[0] // num_feat
        scale = math.isqrt(ratio)
    num_block = len(indices(state, "body."))
    options = {
        "generator": "srresnet",
        "scale": scale,
        "num_feat": num_feat,
        "num_block": num_block,
        "generator_options": {
            "num_in_ch": num_in,
            "num_out_ch": state["conv_last.weight"].shape[0],
        },
    }
    arch = f"MSRResNet x{scale}, {num_block} blocks, {num_feat} features (BasicSR)"
    return Detected("sr", arch, options, {"G": state})


def detect_compact(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """Real-ESRGAN's SRVGGNetCompact with PReLU activations (the released models)."""
    if "body.0.weight" not in state or "body.1.weight" not in state:
        return None
    first, prelu = state["body.0.weight"], state["body.1.weight"]
    if first.ndim != 4 or prelu.ndim != 1 or prelu.shape[0] != first.shape[0]:
        return None
    convs = [i for i in indices(state, "body.") if state[f"body.{i}.weight"].ndim == 4]
    if convs != list(range(0, 2 * len(convs), 2)):
        return None
    num_feat, num_in = first.shape[:2]
    last_out = state[f"body.{convs[-1]}.weight"].shape[0]
    scale = math.isqrt(last_out // num_in)
    if scale * scale * num_in != last_out:
        return None
    num_conv = len(convs) - 2
    options = {
        "generator": "compact",
        "scale": scale,
        "num_feat": num_feat,
        "generator_options": {"num_conv": num_conv, "num_in_ch": num_in, "num_out_ch": num_in},
    }
    arch = f"SRVGGNetCompact x{scale}, {num_conv} convs, {num_feat} features (Real-ESRGAN)"
    return Detected("sr", arch, options, {"G": state})


def detect_discriminators(
    state: State, *, path: str = "", task: str | None = None
) -> Detected | None:
    """ESRGAN's VGG-style and Real-ESRGAN's U-Net (spectral norm) discriminators."""
    if "conv0_0.weight" in state and "linear1.weight" in state:
        options = {"discriminator": "vgg"}  # 64 features, as ESRGAN's (a strict load checks)
        return Detected("sr", "VGG-style discriminator (ESRGAN)", options, {"D": state})
    if "conv0.weight" in state and any(k.startswith("conv9.") for k in state):
        state = old_spectral_norm_keys(state)
        options = {"discriminator": "unet"}
        arch = "U-Net discriminator with spectral norm (Real-ESRGAN)"
        return Detected("sr", arch, options, {"D": state})
    return None


# Hook-based spectral norm (``torch.nn.utils.spectral_norm``, Real-ESRGAN's files) stored
# ``weight_orig``, ``weight_u`` and ``weight_v``; the parametrization imgen uses stores the same
# tensors as ``parametrizations.weight.original`` and ``parametrizations.weight.0._u/_v``.
OLD_SPECTRAL_NORM = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}


def old_spectral_norm_keys(state: State) -> State:
    """``state`` with hook-based spectral-norm keys renamed to parametrization keys, and the
    derived ``weight`` the hook also stored dropped (the parametrization computes it)."""
    out: State = {}
    normalized = {k.rsplit(".", 1)[0] for k in state if k.endswith(".weight_orig")}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if leaf in OLD_SPECTRAL_NORM and module in normalized:
            out[f"{module}.{OLD_SPECTRAL_NORM[leaf]}"] = value
        elif leaf == "weight" and module in normalized:
            continue
        else:
            out[key] = value
    return out


def detect_spandrel(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """Any image-restoration architecture spandrel recognises."""
    from imgen_sr.spandrel_nets import PUBLISHED, describe, from_descriptor

    descriptor = describe(state)
    if descriptor is None:
        return None
    net = from_descriptor(descriptor)
    arch = net.arch
    named = next((n for n, (a, _, _) in PUBLISHED.items() if a == arch), None)
    if named:  # one of `--generator NAME`'s architectures: fine-tunable under that name
        options: dict[str, Any] = {"generator": named, "generator_options": hyper(net)}
    else:
        options = {
            "generator": "spandrel",
            "generator_options": {"arch": arch, "hyperparameters": net.hyperparameters},
        }
    options["scale"] = net.scale
    weights = {f"model.{k}": v for k, v in net.model.state_dict().items()}
    notes = []
    if not net.supports_half:
        notes.append(f"{arch} does not support fp16: --precision fp16 runs it in fp32")
    return Detected(
        "sr",
        f"{arch} x{net.scale} ({descriptor.purpose}, through spandrel)",
        options,
        {"G": weights},
        notes,
    )


def hyper(net: Any) -> dict[str, Any]:
    """A SpandrelNet's hyperparameters as the keyword arguments of its ``--generator`` factory
    (the scale and channel arguments have imgen's own names there)."""
    from imgen_sr.spandrel_nets import _CHANNEL_ARGS, _SCALE_ARG

    drop = {_SCALE_ARG.get(net.arch, "upscale"), *_CHANNEL_ARGS.get(net.arch, ("in_chans",))}
    return {k: v for k, v in net.hyperparameters.items() if k not in drop}
