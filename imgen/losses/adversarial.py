"""Adversarial objectives: vanilla, LSGAN, hinge, WGAN, relativistic average (ESRGAN), penalties.

Tasks call two functions, whatever the GAN flavour; ``critic`` maps images to logits (a
conditional task passes ``lambda x: D(torch.cat([condition, x], 1))``)::

    loss_d, logs = discriminator_objective(kind, critic, real, fake, gp_weight=10, r1_weight=0)
    loss_g = generator_objective(kind, critic, fake, real)        # real only for "ragan"

They add the penalties (WGAN-GP's gradient penalty, R1) to the losses on logits, which stay
available as ``adversarial_d_loss(kind, real_logits, fake_logits)`` and
``adversarial_g_loss(kind, fake_logits, real_logits)``.

Conventions (all kinds): the discriminator returns raw logits / critic scores of any shape
(one per image or one per pixel); every loss is a mean over all elements. The discriminator
loss is the **sum** of its real and fake terms, as in the original papers (GAN, LSGAN, hinge,
WGAN) and BasicSR's SRGAN; pix2pix halves it (``0.5 * loss_d``), which the task does itself.
ESRGAN's relativistic loss is already the average of its two terms, as in the paper.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from imgen.losses.penalties import gradient_penalty, interpolation_weights, r1_penalty

__all__ = [
    "GAN_KINDS",
    "GAN_LOSSES",
    "GANLoss",
    "adversarial_d_loss",
    "adversarial_g_loss",
    "canonical_kind",
    "d_loss_ragan",
    "discriminator_objective",
    "g_loss_ragan",
    "generator_objective",
    "gradient_penalty",
    "r1_penalty",
]

#: The losses on logits. "wgan-gp" is accepted everywhere as a name of "wgan".
GAN_LOSSES: tuple[str, ...] = ("vanilla", "lsgan", "hinge", "wgan", "ragan")
#: The objectives offered by ``--gan-loss`` (the discriminator objective adds the penalty of
#: "wgan-gp"; plain "wgan" relies on another Lipschitz constraint, e.g. spectral norm).
GAN_KINDS: tuple[str, ...] = ("vanilla", "lsgan", "hinge", "wgan-gp", "ragan")
_ALIASES = {"wgan-gp": "wgan"}


def canonical_kind(kind: str) -> str:
    """The loss on logits behind an objective name (``"wgan-gp"`` -> ``"wgan"``).

    Raises:
        ValueError: for an unknown name, suggesting the closest one.

    Example:
        >>> canonical_kind("wgan-gp")
        'wgan'
    """
    name = _ALIASES.get(kind, kind)
    if name not in GAN_LOSSES:
        names = GAN_LOSSES + tuple(_ALIASES)
        close = difflib.get_close_matches(str(kind), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown GAN loss {kind!r}; choose one of {', '.join(names)}.{hint}")
    return name


def _check_kind(kind: str) -> str:
    return canonical_kind(kind)


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def _mse(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.mse_loss(logits, torch.full_like(logits, label))


def d_loss_ragan(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    *,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> torch.Tensor:
    r"""Relativistic average discriminator loss (ESRGAN, Eq. 2).

    The discriminator estimates whether a real image is *more realistic than the average fake*,
    and a fake less realistic than the average real:

    .. math::
        L_D = \tfrac12\big[\mathrm{BCE}(C(x_r) - \bar C(x_f), 1)
              + \mathrm{BCE}(C(x_f) - \bar C(x_r), 0)\big]

    Gradients flow through both means, as in the original ESRGAN code.

    Args:
        real_logits: discriminator logits on real images.
        fake_logits: logits on generated images (detach the generator output first).
        real_label: target of the real term (e.g. 0.9 for one-sided label smoothing).
        fake_label: target of the fake term.

    Shape:
        - real_logits, fake_logits: any shape (same for both); the means are over all elements.
        - Output: scalar.

    Example:
        >>> d_loss_ragan(torch.tensor([2.0]), torch.tensor([-2.0]))
        tensor(0.0181)
    """
    loss_real = _bce(real_logits - fake_logits.mean(), real_label)
    loss_fake = _bce(fake_logits - real_logits.mean(), fake_label)
    return 0.5 * (loss_real + loss_fake)


def g_loss_ragan(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    *,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> torch.Tensor:
    r"""Relativistic average generator loss (ESRGAN, Eq. 3): the symmetric form of the D loss.

    .. math::
        L_G = \tfrac12\big[\mathrm{BCE}(C(x_r) - \bar C(x_f), 0)
              + \mathrm{BCE}(C(x_f) - \bar C(x_r), 1)\big]

    The generator benefits from the gradients of both real and generated data. ``real_logits``
    are detached here (as ESRGAN does): they depend on no generator parameter, and detaching
    keeps the generator step from touching the discriminator's graph.

    Args:
        real_logits: discriminator logits on real images.
        fake_logits: logits on generated images (not detached: the generator learns from them).
        real_label: target that the fake term is pushed towards.
        fake_label: target that the real term is pushed towards.

    Shape:
        - real_logits, fake_logits: any shape; the means are over all elements.
        - Output: scalar.

    Example:
        >>> g_loss_ragan(torch.tensor([2.0]), torch.tensor([-2.0]))
        tensor(4.0181)
    """
    real_logits = real_logits.detach()
    loss_real = _bce(real_logits - fake_logits.mean(), fake_label)
    loss_fake = _bce(fake_logits - real_logits.mean(), real_label)
    return 0.5 * (loss_real + loss_fake)


def adversarial_d_loss(
    kind: str,
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    *,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> torch.Tensor:
    r"""Discriminator (critic) loss for any kind in :data:`GAN_LOSSES`.

    - ``vanilla``: :math:`\mathrm{BCE}(D(x_r), 1) + \mathrm{BCE}(D(x_f), 0)` on logits.
    - ``lsgan``: :math:`\mathrm{MSE}(D(x_r), 1) + \mathrm{MSE}(D(x_f), 0)`.
    - ``hinge``: :math:`\mathrm{mean}\,\mathrm{relu}(1 - D(x_r))
      + \mathrm{mean}\,\mathrm{relu}(1 + D(x_f))`.
    - ``wgan``: :math:`\mathrm{mean}\,D(x_f) - \mathrm{mean}\,D(x_r)`; add
      ``10 * gradient_penalty(...)`` for WGAN-GP.
    - ``ragan``: :func:`d_loss_ragan`.

    Args:
        kind: one of :data:`GAN_LOSSES` (or ``"wgan-gp"``, the same as ``"wgan"`` here).
        real_logits: discriminator output on real images.
        fake_logits: discriminator output on generated images, computed from a detached
            generator output.
        real_label: target for real images (vanilla, lsgan, ragan); < 1 smooths labels.
        fake_label: target for fake images (vanilla, lsgan, ragan).

    Shape:
        - real_logits, fake_logits: any shape, e.g. :math:`(B, 1)` or :math:`(B, 1, H, W)`.
        - Output: scalar.

    Example:
        >>> adversarial_d_loss("hinge", torch.tensor([0.5]), torch.tensor([-0.5]))
        tensor(1.)
    """
    kind = _check_kind(kind)
    if kind == "vanilla":
        return _bce(real_logits, real_label) + _bce(fake_logits, fake_label)
    if kind == "lsgan":
        return _mse(real_logits, real_label) + _mse(fake_logits, fake_label)
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if kind == "wgan":
        return fake_logits.mean() - real_logits.mean()
    return d_loss_ragan(real_logits, fake_logits, real_label=real_label, fake_label=fake_label)


def adversarial_g_loss(
    kind: str,
    fake_logits: torch.Tensor,
    real_logits: torch.Tensor | None = None,
    *,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> torch.Tensor:
    r"""Generator loss for any kind in :data:`GAN_LOSSES`.

    - ``vanilla``: non-saturating :math:`\mathrm{BCE}(D(G(z)), 1)`.
    - ``lsgan``: :math:`\mathrm{MSE}(D(G(z)), 1)`.
    - ``hinge`` and ``wgan``: :math:`-\mathrm{mean}\,D(G(z))`.
    - ``ragan``: :func:`g_loss_ragan`; needs ``real_logits``.

    Args:
        kind: one of :data:`GAN_LOSSES` (or ``"wgan-gp"``, the same as ``"wgan"``).
        fake_logits: discriminator output on generated images (not detached).
        real_logits: discriminator output on real images; required for ``ragan`` only.
        real_label: the target the generator pushes its images towards (vanilla, lsgan, ragan).
        fake_label: used by ``ragan`` for its real term.

    Shape:
        - fake_logits, real_logits: any shape.
        - Output: scalar.

    Example:
        >>> adversarial_g_loss("wgan", torch.tensor([1.0, 3.0]))
        tensor(-2.)
    """
    kind = _check_kind(kind)
    if kind == "vanilla":
        return _bce(fake_logits, real_label)
    if kind == "lsgan":
        return _mse(fake_logits, real_label)
    if kind in ("hinge", "wgan"):
        return -fake_logits.mean()
    if real_logits is None:
        raise ValueError(
            "The 'ragan' generator loss needs real_logits: pass the discriminator's output "
            "on the real images as well."
        )
    return g_loss_ragan(real_logits, fake_logits, real_label=real_label, fake_label=fake_label)


def discriminator_objective(
    kind: str,
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    gp_weight: float = 10.0,
    r1_weight: float = 0.0,
    seeds: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""The complete discriminator (critic) objective: adversarial loss plus penalties.

    .. math::
        L_D = L_{\mathrm{adv}}(D(x_r), D(x_f))
              + [\mathrm{kind} = \text{wgan-gp}]\ \lambda_{GP}\,\mathrm{GP}
              + \tfrac{\gamma}{2}\,R_1

    - :math:`L_{\mathrm{adv}}` is :func:`adversarial_d_loss` (``"wgan-gp"`` uses the ``"wgan"``
      loss); the gradient penalty :func:`gradient_penalty` is added for ``"wgan-gp"`` only, on
      interpolates between ``real`` and ``fake``.
    - :math:`R_1` (:func:`r1_penalty`, Mescheder et al. 2018) is the mean squared gradient norm
      of the critic on the real images, weighted :math:`\gamma / 2` with ``r1_weight`` =
      :math:`\gamma` (the StyleGAN2 convention), with any kind.

    Args:
        kind: one of :data:`GAN_KINDS` (``"wgan"``, the loss without penalty, is accepted too).
        critic: images -> logits, e.g. ``D``, or ``lambda x: D(torch.cat([cond, x], 1))`` for a
            conditional discriminator. It is called on ``real``, ``fake`` and, for wgan-gp,
            on the interpolates.
        real: real images.
        fake: generated images; detached here, so the generator gets no gradient.
        gp_weight: :math:`\lambda_{GP}` (10 in the WGAN-GP paper); used by ``"wgan-gp"`` only.
        r1_weight: :math:`\gamma`; 0 turns R1 off (and skips its double backward).
        seeds: the samples' seeds (``batch["sample_seed"]``): the gradient penalty then draws
            its interpolation weights from them (:func:`interpolation_weights`), so they do
            not depend on the batch or the rank; None: from torch's generator.

    Returns:
        ``(loss, logs)``: the scalar loss and detached logs ``d_real`` / ``d_fake`` (mean
        logits), plus ``gp`` and ``r1`` (unweighted penalties) when they are active.

    Shape:
        - real, fake: :math:`(B, *)`, the same shape.
        - critic output: any shape, e.g. :math:`(B, 1)` or :math:`(B, 1, H, W)` (PatchGAN).

    Example:
        >>> w = torch.tensor([3.0, 4.0])
        >>> loss, logs = discriminator_objective(
        ...     "wgan-gp", lambda x: x @ w, torch.ones(4, 2), torch.zeros(4, 2))
        >>> loss  # (0 - 7) + 10 * (5 - 1)^2
        tensor(153.)
        >>> sorted(logs)
        ['d_fake', 'd_real', 'gp']
    """
    loss_kind = _check_kind(kind)
    if real.shape != fake.shape:
        raise ValueError(
            f"discriminator_objective needs real and fake of the same shape, got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}."
        )
    if gp_weight < 0 or r1_weight < 0:
        raise ValueError(
            f"Penalty weights must be >= 0, got gp_weight={gp_weight} and r1_weight={r1_weight}."
        )
    fake = fake.detach()
    if r1_weight > 0:
        # R1 differentiates the critic with respect to the real images themselves: a fresh leaf
        # (sharing storage) so the caller's tensor is left as it was.
        real = real.detach().requires_grad_(True)
    real_logits = critic(real)
    fake_logits = critic(fake)
    loss = adversarial_d_loss(loss_kind, real_logits, fake_logits)
    logs = {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}
    if kind == "wgan-gp" and gp_weight > 0:
        alpha = None if seeds is None else interpolation_weights(seeds)
        gp = gradient_penalty(critic, real, fake, alpha=alpha)
        loss = loss + gp_weight * gp
        logs["gp"] = gp.detach()
    if r1_weight > 0:
        r1 = r1_penalty(real_logits, real)
        loss = loss + 0.5 * r1_weight * r1
        logs["r1"] = r1.detach()
    return loss, logs


def generator_objective(
    kind: str,
    critic: Callable[[torch.Tensor], torch.Tensor],
    fake: torch.Tensor,
    real: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The adversarial generator objective matching :func:`discriminator_objective`.

    Non-saturating :math:`\mathrm{BCE}(D(G(z)), 1)` for ``vanilla``, :math:`\mathrm{MSE}(D(G(z)),
    1)` for ``lsgan``, :math:`-\mathrm{mean}\,D(G(z))` for ``hinge`` and ``wgan-gp``, and the
    relativistic :func:`g_loss_ragan` for ``ragan`` (which also scores ``real``, without
    gradient). Penalties belong to the discriminator only.

    Args:
        kind: one of :data:`GAN_KINDS`.
        critic: images -> logits, as for :func:`discriminator_objective`.
        fake: generated images, **not** detached (the generator learns through them).
        real: real images; required for ``ragan`` only.

    Returns:
        The scalar generator loss (weight it yourself, e.g. ESRGAN's 0.005).

    Shape:
        - fake, real: :math:`(B, *)`.
        - Output: scalar.

    Example:
        >>> w = torch.tensor([3.0, 4.0])
        >>> generator_objective("hinge", lambda x: x @ w, torch.ones(2, 2))
        tensor(-7.)
    """
    loss_kind = _check_kind(kind)
    real_logits = None
    if loss_kind == "ragan":
        if real is None:
            raise ValueError(
                "The 'ragan' generator objective needs the real images: pass real=... as well."
            )
        # The real scores are a constant for the generator: no graph through D for them.
        with torch.no_grad():
            real_logits = critic(real)
    return adversarial_g_loss(loss_kind, critic(fake), real_logits)


class GANLoss(nn.Module):
    """Module twin of :func:`discriminator_objective` / :func:`generator_objective`: the
    objective of one ``--gan-loss`` kind with its penalty weights fixed.

    Registered as the ``"gan"`` loss; :class:`imgen.task.GANTask` builds it from the registry.

    Args:
        kind: one of :data:`GAN_KINDS` (``"wgan"``, the loss without penalty, too).
        gp_weight: WGAN-GP's gradient-penalty weight (``"wgan-gp"`` only).
        r1_weight: R1's gamma (any kind; 0: off).

    Shape:
        - real, fake: :math:`(B, *)`; critic output: any shape.
        - Output: a scalar loss (and the discriminator's logs).

    Example:
        >>> w = torch.tensor([3.0, 4.0])
        >>> loss, logs = GANLoss("wgan-gp").discriminator(
        ...     lambda x: x @ w, torch.ones(4, 2), torch.zeros(4, 2))
        >>> loss
        tensor(153.)
        >>> GANLoss("hinge").generator(lambda x: x @ w, torch.ones(2, 2))
        tensor(-7.)
    """

    def __init__(self, kind: str = "vanilla", *, gp_weight: float = 10.0, r1_weight: float = 0.0):
        super().__init__()
        canonical_kind(kind)  # an unknown kind fails here, with a suggestion
        if gp_weight < 0 or r1_weight < 0:
            raise ValueError(
                f"Penalty weights must be >= 0, got gp_weight={gp_weight} and "
                f"r1_weight={r1_weight}."
            )
        self.kind, self.gp_weight, self.r1_weight = kind, gp_weight, r1_weight

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, gp_weight={self.gp_weight}, r1_weight={self.r1_weight}"

    def discriminator(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        *,
        seeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminator objective; see :func:`discriminator_objective` (pass ``seeds=
        batch.get("sample_seed")``, so that the gradient penalty depends on the samples
        alone)."""
        return discriminator_objective(
            self.kind,
            critic,
            real,
            fake,
            gp_weight=self.gp_weight,
            r1_weight=self.r1_weight,
            seeds=seeds,
        )

    def generator(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        fake: torch.Tensor,
        real: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The generator objective; see :func:`generator_objective`."""
        return generator_objective(self.kind, critic, fake, real)

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        raise TypeError(
            "GANLoss has two objectives: call .discriminator(critic, real, fake) or "
            ".generator(critic, fake, real)"
        )
