"""Reader of CycleGAN checkpoints (``imgen_register_formats``).

CycleGAN saves one file per generator: ``latest_net_G_A.pth`` (A -> B) and
``latest_net_G_B.pth`` (B -> A). Found side by side, they are a style run (G_AB, G_BA) on the
core's ResNet generator, whose keys are the reference's; files from before PyTorch 0.4 carry
instance-norm statistics, which are dropped as the reference's loader does.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from imgen.nn.resnet_generator import ResnetGenerator, options_from_state_dict
from imgen.nn.state_dict import drop_norm_statistics, on_meta
from imgen.weights.files import read_state_dict
from imgen.weights.formats import Detected

State = dict[str, torch.Tensor]
PAIR = re.compile(r"^(?P<stem>.*)_G_(?P<side>[AB])(?P<ext>\.\w+)$")


def detect_cyclegan(state: State, *, path: str = "", task: str | None = None) -> Detected | None:
    """A CycleGAN generator whose partner file lies beside it (``*_G_A`` / ``*_G_B``)."""
    options = options_from_state_dict(state)
    if options is None or task not in (None, "style"):
        return None
    match = PAIR.match(Path(path).name)
    if match is None:
        return None  # a resnet file without CycleGAN's name: pix2pix's reader takes it
    other_side = "B" if match["side"] == "A" else "A"
    partner = Path(path).with_name(f"{match['stem']}_G_{other_side}{match['ext']}")
    if not partner.is_file():
        if task == "style":
            from imgen.errors import UsageError

            raise UsageError(
                f"{path} is one CycleGAN generator; a style run needs both: put {partner.name} "
                "beside it (or import it alone with --task translate)"
            )
        return None
    other = read_state_dict(partner)
    net = on_meta(ResnetGenerator, **options)
    states = {match["side"]: state, other_side: other}
    weights = {
        "G_AB": drop_norm_statistics(states["A"], net.state_dict()),  # CycleGAN's G_A: A -> B
        "G_BA": drop_norm_statistics(states["B"], net.state_dict()),
    }
    config = {
        "generator": "resnet",
        "blocks": options["blocks"],
        "ngf": options["ngf"],
        "norm": options["norm"],
    }
    arch = f"CycleGAN G_A + G_B (resnet_{options['blocks']}blocks, {options['norm']} norm)"
    return Detected("style", arch, config, weights)
