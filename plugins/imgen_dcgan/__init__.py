"""The built-in ``dcgan`` plugin: DCGAN and conditional DCGAN (the seed models, done right).

Registered through the ``imgen`` entry-point group like any third-party plugin; everything
is registered lazily so that ``imgen tasks`` and ``imgen plugins`` do not import torch.
"""

from imgen import hookimpl

__version__ = "0.1.0"


@hookimpl
def imgen_register_formats(register):
    register(
        "dcgan",
        "imgen_dcgan.formats:detect_dcgan",
        help="PyTorch examples' DCGAN netG_epoch_N.pth / netD_epoch_N.pth",
    )


@hookimpl
def imgen_register_tasks(register):
    register(
        "imgen_dcgan.task:DCGAN",
        name="dcgan",
        help="image generation from noise (DCGAN, class-conditional DCGAN)",
    )


@hookimpl
def imgen_register_models(register):
    register(
        "dcgan",
        "imgen_dcgan.models:DCGANGenerator",
        role="generator",
        tasks=["dcgan"],
        help="DCGAN generator: z -> 4x4 projection -> stride-2 transposed convs -> tanh",
    )
    register(
        "dcgan",
        "imgen_dcgan.models:DCGANDiscriminator",
        role="discriminator",
        tasks=["dcgan"],
        help="DCGAN discriminator: stride-2 convs, LeakyReLU 0.2 (projection when conditional)",
    )
