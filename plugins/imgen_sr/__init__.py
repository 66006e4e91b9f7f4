"""The built-in ``sr`` plugin: super-resolution (SRResNet, ESRGAN's RRDBNet).

Registered through the ``imgen`` entry-point group like any third-party plugin; everything
is registered lazily so that ``imgen tasks`` does not import torch.
"""

from imgen import hookimpl

__version__ = "0.1.0"


@hookimpl
def imgen_register_tasks(register):
    register(
        "imgen_sr.task:SuperResolution",
        name="sr",
        help="super-resolution from a folder of HR images (SRResNet, ESRGAN)",
    )


@hookimpl
def imgen_register_models(register):
    register(
        "srresnet",
        "imgen_sr.models:MSRResNet",
        role="generator",
        help="MSRResNet (SRResNet without batch norm), BasicSR",
    )
    register(
        "rrdbnet",
        "imgen_sr.models:RRDBNet",
        role="generator",
        help="RRDBNet, ESRGAN's generator (BasicSR key names)",
    )
    register(
        "bicubic",
        "imgen_sr.models:Bicubic",
        role="generator",
        help="MATLAB bicubic upscaling, no parameters (the baseline)",
    )
    register(
        "vgg",
        "imgen_sr.models:VGGStyleDiscriminator",
        role="discriminator",
        help="VGG-style discriminator (SRGAN/ESRGAN), any crop >= 32",
    )
    register(
        "unet",
        "imgen_sr.models:UNetDiscriminatorSN",
        role="discriminator",
        help="U-Net discriminator with spectral norm (Real-ESRGAN)",
    )
