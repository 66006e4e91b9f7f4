"""State dicts in the key layouts of published checkpoints, made from imgen's own networks.

Tests and benchmarks of the model-file readers cannot download the official files; these
functions write the same keys from documented layouts, so that a file saved with
``torch.save`` looks to a reader exactly like the published one (a plugin author can test a
reader of their own the same way).
"""

from __future__ import annotations

import re

import torch

State = dict[str, torch.Tensor]


def esrgan_old_keys(state: State) -> State:
    """BasicSR RRDBNet keys -> the original ESRGAN repository's (``RRDB_ESRGAN_x4.pth``):
    ``RRDB_trunk.N.RDBk.convJ``, ``trunk_conv``, ``upconv1/2``, ``HRconv``."""
    renames = {
        "conv_body.": "trunk_conv.",
        "conv_up1.": "upconv1.",
        "conv_up2.": "upconv2.",
        "conv_hr.": "HRconv.",
    }
    out = {}
    for key, value in state.items():
        key = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", key)
        for new, old in renames.items():
            if key.startswith(new):
                key = old + key[len(new) :]
        out[key] = value
    return out


def hook_spectral_norm_keys(state: State) -> State:
    """Spectral-norm parametrization keys -> those of the hook-based
    ``torch.nn.utils.spectral_norm`` (Real-ESRGAN's ``*_netD.pth``): ``weight_orig``,
    ``weight_u``, ``weight_v``."""
    out = {}
    for key, value in state.items():
        key = key.replace(".parametrizations.weight.original", ".weight_orig")
        key = key.replace(".parametrizations.weight.0._u", ".weight_u")
        key = key.replace(".parametrizations.weight.0._v", ".weight_v")
        out[key] = value
    return out


def with_instance_norm_statistics(state: State, net: torch.nn.Module) -> State:
    """A file from before PyTorch 0.4 (old pix2pix / CycleGAN releases): every InstanceNorm
    layer also stored ``running_mean`` and ``running_var``."""
    out = dict(state)
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.InstanceNorm2d):
            out[f"{name}.running_mean"] = torch.zeros(module.num_features)
            out[f"{name}.running_var"] = torch.ones(module.num_features)
    return out


def dcgan_example_discriminator(state: State) -> State:
    """imgen's DCGAN discriminator keys -> pytorch/examples' ``netD`` (``main.N``, the last
    convolution included)."""
    last = max(int(k.split(".")[1]) for k in state if k.startswith("features.")) + 2
    return {
        (f"main.{last}." + k[len("head.") :] if k.startswith("head.") else "main." + k[9:]): v
        for k, v in state.items()
    }
