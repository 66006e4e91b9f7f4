"""Readers of pix2pix checkpoints (``imgen_register_formats``).

``latest_net_G.pth`` of junyanz/pytorch-CycleGAN-and-pix2pix loads into imgen's own networks,
whose state-dict keys are the reference's: ``unet_256`` / ``unet_128`` (any depth, batch or
instance norm) as ``--generator unet``, ``resnet_9blocks`` / ``resnet_6blocks`` as
``--generator resnet`` (a lone CycleGAN generator too, as a one-direction translator). Files
from before PyTorch 0.4 carry running statistics for instance norm; they are dropped, as the
reference's loader does.
"""

from __future__ import annotations

import torch

from imgen.nn.resnet_generator import options_from_state_dict
from imgen.nn.state_dict import drop_norm_statistics, fits, on_meta
from imgen.weights.formats import Detected

State = dict[str, torch.Tensor]


def unet_options(state: State) -> dict | None:
    """The :class:`imgen_translate.models.UNetGenerator` arguments that fit ``state``."""
    from imgen_translate.models import UNetGenerator

    first, last = state.get("model.model.0.weight"), state.get("model.model.3.weight")
    if first is None or last is None or first.ndim != 4:
        return None
    levels = sum(1 for k in state if k.startswith("model.model.1") and k.endswith("model.1.weight"))
    base = {"in_channels": first.shape[1], "out_channels": last.shape[1], "ngf": first.shape[0]}
    for depth in range(max(5, levels), levels + 3):
        for norm in ("batch", "instance"):
            options = {**base, "depth": depth, "norm": norm}
            net = on_meta(UNetGenerator, **options)
            if fits(net, drop_norm_statistics(state, net.state_dict())):
                return options
    return None


def detect_pix2pix(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """pix2pix generators: U-Net; ResNet when the file is no CycleGAN pair (or with --task
    translate)."""
    unet = unet_options(state)
    if unet is not None:
        options = {
            "generator": "unet",
            "depth": unet["depth"],
            "ngf": unet["ngf"],
            "norm": unet["norm"],
        }
        arch = f"pix2pix U-Net (unet_{2 ** unet['depth']}, {unet['norm']} norm)"
        return Detected("translate", arch, options, {"G": _clean(state, "unet", unet)})
    resnet = options_from_state_dict(state)
    if resnet is None or task == "style":
        return None
    options = {
        "generator": "resnet",
        "blocks": resnet["blocks"],
        "ngf": resnet["ngf"],
        "norm": resnet["norm"],
        "dropout": resnet["dropout"],
    }
    arch = f"ResNet generator (resnet_{resnet['blocks']}blocks, {resnet['norm']} norm)"
    notes = []
    if "_G_A" in path or "_G_B" in path:
        notes.append(
            "a CycleGAN generator alone runs as a one-direction translate model; with "
            "latest_net_G_A.pth and latest_net_G_B.pth side by side, --task style imports both"
        )
    return Detected("translate", arch, options, {"G": _clean(state, "resnet", resnet)}, notes)


def _clean(state: State, kind: str, arguments: dict) -> State:
    """``state`` without the statistics the network (built from ``arguments``) does not keep."""
    from imgen.nn.resnet_generator import ResnetGenerator
    from imgen_translate.models import UNetGenerator

    net = on_meta(UNetGenerator if kind == "unet" else ResnetGenerator, **arguments)
    return drop_norm_statistics(state, net.state_dict())
