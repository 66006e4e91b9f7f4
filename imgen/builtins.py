"""The core's own registrations: models, losses, metrics and loggers shared by every task.

Registered lazily by ``"module:attribute"`` so that listing them does not import torch.
"""

from __future__ import annotations

from imgen.hookspecs import hookimpl


@hookimpl
def imgen_register_models(register):
    register(
        "resnet",
        "imgen.nn.resnet_generator:ResnetGenerator",
        role="generator",
        help="ResNet generator (CycleGAN, Johnson et al.), 9 blocks, instance norm",
    )
    register(
        "patchgan",
        "imgen.nn.patchgan:PatchGAN",
        role="discriminator",
        help="PatchGAN (pix2pix/CycleGAN), 70x70 patches with n_layers=3",
    )
    register(
        "pixelgan",
        "imgen.nn.patchgan:PixelGAN",
        role="discriminator",
        help="1x1 PatchGAN (pix2pix PixelDiscriminator), judges each pixel",
    )


@hookimpl
def imgen_register_losses(register):
    register("l1", "imgen.losses.pixel:L1Loss", help="mean absolute error")
    register("l2", "imgen.losses.pixel:L2Loss", help="mean squared error")
    register("charbonnier", "imgen.losses.pixel:CharbonnierLoss", help="smooth L1 (sqrt(d^2+eps))")
    register(
        "perceptual",
        "imgen.losses.perceptual:PerceptualLoss",
        help="VGG19 feature distance (needs VGG19 weights)",
    )
    register(
        "gan",
        "imgen.losses.adversarial:GANLoss",
        help="adversarial objective: vanilla, lsgan, hinge, wgan-gp, ragan; GP and R1",
    )


@hookimpl
def imgen_register_metrics(register):
    register(
        "psnr",
        "imgen.metrics.builtin:psnr_rgb",
        higher_is_better=True,
        help="PSNR on RGB uint8 levels, dB",
    )
    register(
        "ssim",
        "imgen.metrics.builtin:ssim_rgb",
        higher_is_better=True,
        help="SSIM on RGB uint8 levels (11x11 Gaussian, sigma 1.5)",
    )
    register(
        "psnr_y",
        "imgen.metrics.builtin:psnr_y",
        higher_is_better=True,
        help="PSNR on the BT.601 Y channel (BasicSR protocol), dB",
    )
    register(
        "ssim_y",
        "imgen.metrics.builtin:ssim_y",
        higher_is_better=True,
        help="SSIM on the BT.601 Y channel (BasicSR protocol)",
    )
    register(
        "l1",
        "imgen.metrics.builtin:l1",
        higher_is_better=False,
        help="mean absolute error in [0, 1]",
    )
    register(
        "lpips",
        "imgen.metrics.builtin:lpips",
        higher_is_better=False,
        help="LPIPS (AlexNet); its weights are downloaded into the torch hub cache when missing",
    )


@hookimpl
def imgen_register_loggers(register):
    register(
        "jsonl",
        "imgen.engine.loggers:JsonlLogger",
        help="metrics.jsonl in the run directory (always written)",
    )
    register(
        "tensorboard",
        "imgen.engine.loggers:TensorBoardLogger",
        help="TensorBoard events in RUN/tensorboard/ (pip install 'imgen[tensorboard]')",
    )
