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
def imgen_register_formats(register):
    for name, help in [
        ("rrdbnet", "ESRGAN (original keys), BasicSR / Real-ESRGAN RRDBNet x1, x2, x4"),
        ("msrresnet", "BasicSR MSRResNet"),
        ("compact", "Real-ESRGAN SRVGGNetCompact (realesr-general-x4v3, animevideov3)"),
        ("sr-discriminators", "ESRGAN VGG-style and Real-ESRGAN U-Net SN discriminators"),
    ]:
        attribute = "detect_discriminators" if name == "sr-discriminators" else f"detect_{name}"
        register(name, f"imgen_sr.formats:{attribute}", help=help)
    register(
        "spandrel",
        "imgen_sr.formats:detect_spandrel",
        priority=-100,
        help="every image-restoration architecture spandrel recognises (SwinIR, HAT, DAT, "
        "SPAN, OmniSR, RealCUGAN, SCUNet, NAFNet, ...)",
    )


@hookimpl
def imgen_register_models(register):
    register(
        "srresnet",
        "imgen_sr.models:MSRResNet",
        role="generator",
        tasks=["sr"],
        help="MSRResNet (SRResNet without batch norm), BasicSR",
    )
    register(
        "rrdbnet",
        "imgen_sr.models:RRDBNet",
        role="generator",
        tasks=["sr"],
        help="RRDBNet, ESRGAN's generator (BasicSR key names)",
    )
    register(
        "compact",
        "imgen_sr.models:SRVGGNetCompact",
        role="generator",
        tasks=["sr"],
        help="SRVGGNetCompact, Real-ESRGAN's fast VGG-style generator (realesr-general-x4v3)",
    )
    for name, paper in [
        ("swinir", "SwinIR-light (Liang et al. 2021)"),
        ("hat", "HAT-S (Chen et al. 2023)"),
        ("dat", "DAT-light (Chen et al. 2023)"),
        ("span", "SPAN (Wan et al. 2024)"),
        ("omnisr", "OmniSR (Wang et al. 2023)"),
    ]:
        register(
            name,
            f"imgen_sr.spandrel_nets:{name}",
            role="generator",
            tasks=["sr"],
            help=f"{paper}, spandrel's",
        )
    register(
        "spandrel",
        "imgen_sr.spandrel_nets:generic",
        role="generator",
        tasks=["sr"],
        help="any spandrel architecture from its hyperparameters (what imgen import stores)",
    )
    register(
        "bicubic",
        "imgen_sr.models:Bicubic",
        role="generator",
        tasks=["sr"],
        help="MATLAB bicubic upscaling, no parameters (the baseline)",
    )
    register(
        "vgg",
        "imgen_sr.models:VGGStyleDiscriminator",
        role="discriminator",
        tasks=["sr"],
        help="VGG-style discriminator (SRGAN/ESRGAN), any crop >= 32",
    )
    register(
        "unet",
        "imgen_sr.models:UNetDiscriminatorSN",
        role="discriminator",
        tasks=["sr"],
        help="U-Net discriminator with spectral norm (Real-ESRGAN)",
    )


@hookimpl
def imgen_register_published(register):
    from .published import MODELS

    for entry in MODELS:
        register(**entry)
