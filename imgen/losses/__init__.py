"""Losses: adversarial (vanilla, lsgan, hinge, wgan(-gp), ragan), pixel and perceptual.

Importing this package does not import torchvision: the perceptual loss builds its own VGG19.
"""

from imgen.losses.adversarial import (
    GAN_KINDS,
    GAN_LOSSES,
    GANLoss,
    adversarial_d_loss,
    adversarial_g_loss,
    d_loss_ragan,
    discriminator_objective,
    g_loss_ragan,
    generator_objective,
    gradient_penalty,
    r1_penalty,
)
from imgen.losses.perceptual import (
    VGG19_FILENAME,
    VGG19_LAYER_NAMES,
    PerceptualLoss,
    WeightsUnavailable,
    find_vgg19_weights,
)
from imgen.losses.pixel import CharbonnierLoss, L1Loss, L2Loss, charbonnier_loss, l1_loss, l2_loss

__all__ = [
    "GAN_KINDS",
    "GAN_LOSSES",
    "VGG19_FILENAME",
    "VGG19_LAYER_NAMES",
    "CharbonnierLoss",
    "GANLoss",
    "L1Loss",
    "L2Loss",
    "PerceptualLoss",
    "WeightsUnavailable",
    "adversarial_d_loss",
    "adversarial_g_loss",
    "charbonnier_loss",
    "d_loss_ragan",
    "discriminator_objective",
    "find_vgg19_weights",
    "g_loss_ragan",
    "generator_objective",
    "gradient_penalty",
    "l1_loss",
    "l2_loss",
    "r1_penalty",
]
