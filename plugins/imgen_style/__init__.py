"""The built-in ``style`` plugin: unpaired translation and style transfer (CycleGAN).

It uses the core's ``resnet`` generator and ``patchgan`` discriminator (shared with
``translate``); registered lazily so that ``imgen tasks`` does not import torch.
"""

from imgen import hookimpl

__version__ = "0.1.0"


@hookimpl
def imgen_register_formats(register):
    register(
        "cyclegan",
        "imgen_style.formats:detect_cyclegan",
        priority=10,  # before pix2pix's reader, which takes a lone ResNet generator
        help="CycleGAN latest_net_G_A.pth + latest_net_G_B.pth side by side (resnet)",
    )


@hookimpl
def imgen_register_tasks(register):
    register(
        "imgen_style.task:Style",
        name="style",
        help="unpaired translation / style transfer (CycleGAN) between two folders",
    )


@hookimpl
def imgen_register_published(register):
    from .published import MODELS

    for entry in MODELS:
        register(**entry)
