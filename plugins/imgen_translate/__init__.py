"""The built-in ``translate`` plugin: paired conditional translation (pix2pix family).

Registered through the ``imgen`` entry-point group like any third-party plugin, lazily, so
that ``imgen tasks`` does not import torch. The ResNet generator and the PatchGAN it uses by
default are the core's (shared with the style task).
"""

from imgen import hookimpl

__version__ = "0.1.0"


@hookimpl
def imgen_register_formats(register):
    register(
        "pix2pix",
        "imgen_translate.formats:detect_pix2pix",
        help="pix2pix latest_net_G.pth: unet_256/unet_128, resnet_9blocks/resnet_6blocks",
    )


@hookimpl
def imgen_register_tasks(register):
    register(
        "imgen_translate.task:Translate",
        name="translate",
        help="paired image-to-image translation (pix2pix): A/B folders, AB images or "
        "derived conditions",
    )


@hookimpl
def imgen_register_models(register):
    register(
        "unet",
        "imgen_translate.models:UNetGenerator",
        role="generator",
        tasks=["translate"],
        help="pix2pix U-Net (depth 8: unet_256, 7: unet_128)",
    )
    register(
        "unet-timm",
        "imgen_translate.models:TimmUNet",
        role="generator",
        tasks=["translate"],
        help="U-Net decoder over any timm features_only encoder (--encoder)",
    )


@hookimpl
def imgen_register_published(register):
    from .published import MODELS

    for entry in MODELS:
        register(**entry)
