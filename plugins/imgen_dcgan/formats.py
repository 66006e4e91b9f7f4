"""Reader of the PyTorch examples' DCGAN checkpoints (``imgen_register_formats``).

``netG_epoch_N.pth`` of pytorch/examples/dcgan has the keys of imgen's
:class:`~imgen_dcgan.models.DCGANGenerator` (``main.N``); ``netD_epoch_N.pth`` names its
layers ``main.N`` too, which imgen's discriminator splits into ``features`` and the last
convolution, ``head`` (imgen's discriminator returns logits; the example's Sigmoid has no
weights).
"""

from __future__ import annotations

import math

import torch

from imgen.nn.state_dict import fits, indices, on_meta
from imgen.weights.formats import Detected

State = dict[str, torch.Tensor]


def detect_dcgan(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """DCGAN generators (``main.0`` a transposed convolution from z) and discriminators."""
    from imgen_dcgan.models import DCGANDiscriminator, DCGANGenerator

    first = state.get("main.0.weight")
    if first is None or first.ndim != 4 or not any(k.startswith("main.") for k in state):
        return None
    layers = indices(state, "main.")
    convs = [i for i in layers if state.get(f"main.{i}.weight", torch.empty(0)).ndim == 4]
    size = 4 * 2 ** (len(convs) - 1)
    if first.shape[-1] == 4 and first.shape[-2] == 4 and size >= 8 and "main.1.weight" in state:
        # The generator: ConvTranspose2d(z, ngf * 2**(stages-1), 4, 1, 0) first.
        stages = len(convs) - 1
        options = {
            "image_size": size,
            "z_dim": first.shape[0],
            "ngf": first.shape[1] // 2 ** (stages - 1),
            "channels": state[f"main.{convs[-1]}.weight"].shape[1],
        }
        net = on_meta(
            DCGANGenerator,
            image_size=size,
            z_dim=options["z_dim"],
            out_channels=options["channels"],
            ngf=options["ngf"],
        )
        if options["image_size"] in (32, 64, 128) and fits(net, state):
            arch = f"DCGAN generator, {size}x{size}, z {options['z_dim']} (PyTorch example)"
            return Detected("dcgan", arch, options, {"G": state})
    if first.shape[-1] == 4 and convs and state[f"main.{convs[-1]}.weight"].shape[0] == 1:
        # The discriminator: its last convolution maps to one logit.
        head = convs[-1]
        renamed = {
            (
                f"head.{k.split('.', 2)[2]}"
                if k.startswith(f"main.{head}.")
                else "features." + k[5:]
            ): v
            for k, v in state.items()
        }
        size = 4 * 2 ** (len(convs) - 1)
        options = {"image_size": size, "ndf": first.shape[0], "channels": first.shape[1]}
        if size not in (32, 64, 128) or not math.log2(size).is_integer():
            return None
        net = on_meta(
            DCGANDiscriminator, image_size=size, in_channels=first.shape[1], ndf=first.shape[0]
        )
        if fits(net, renamed):
            arch = f"DCGAN discriminator, {size}x{size} (PyTorch example)"
            return Detected("dcgan", arch, options, {"D": renamed})
    return None
