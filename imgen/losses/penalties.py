"""Gradient penalties of the discriminator: WGAN-GP's and R1.

:func:`imgen.losses.adversarial.discriminator_objective` adds them by ``--gp-weight`` and
``--r1-weight``; they are functions of a critic and images, usable on their own.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["gradient_penalty", "interpolation_weights", "r1_penalty"]


def interpolation_weights(seeds: torch.Tensor) -> torch.Tensor:
    """One U(0, 1) draw per sample from its seed (``batch["sample_seed"]``): WGAN-GP's
    interpolation weights that depend on the samples alone, not on the batch they share or
    the rank that holds them, so a distributed run draws what one process draws.

    Args:
        seeds: integer seeds.

    Shape:
        - seeds: :math:`(B,)`.
        - Output: :math:`(B,)`, float32 on the seeds' device.

    Example:
        >>> a = interpolation_weights(torch.tensor([1, 2, 3]))
        >>> b = interpolation_weights(torch.tensor([2, 3]))  # the same draws for 2 and 3
        >>> bool(((a >= 0) & (a < 1)).all()), torch.equal(a[1:], b)
        (True, True)
    """
    generator = torch.Generator()
    draws = [torch.rand(1, generator=generator.manual_seed(int(s))) for s in seeds.tolist()]
    return torch.cat(draws).to(seeds.device)


def gradient_penalty(
    critic: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    **critic_kwargs: object,
) -> torch.Tensor:
    r"""WGAN-GP gradient penalty (Gulrajani et al. 2017).

    .. math::
        \mathrm{GP} = \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} D(\hat x) \rVert - 1)^2\big],
        \quad \hat x = \alpha x_r + (1 - \alpha) x_f,\ \alpha \sim U(0, 1)

    with one :math:`\alpha` per sample and the norm taken per sample over all its elements. The
    graph is kept (``create_graph=True``) so the penalty can be back-propagated into the critic.
    The usual weight is :math:`\lambda = 10`, applied by the caller. A per-pixel critic is
    summed over its outputs, which gives each sample the gradient of its own score map.

    Args:
        critic: the discriminator, called as ``critic(x_hat, **critic_kwargs)``.
        real: real images.
        fake: generated images (detached here).
        alpha: the per-sample interpolation weights, shape (B,) [default: drawn from torch's
            generator; :func:`interpolation_weights` draws them from the samples' seeds].
        critic_kwargs: extra keyword arguments for the critic (e.g. a condition).

    Shape:
        - real, fake: :math:`(B, *)`, same shape.
        - Output: scalar.

    Example:
        >>> w = torch.tensor([3.0, 4.0])
        >>> gradient_penalty(lambda x: x @ w, torch.rand(2, 2), torch.rand(2, 2))
        tensor(16.)
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"gradient_penalty needs real and fake of the same shape, got {tuple(real.shape)} "
            f"and {tuple(fake.shape)}."
        )
    alpha_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    if alpha is None:
        alpha = torch.rand(alpha_shape, device=real.device, dtype=real.dtype)
    else:
        alpha = alpha.to(real.device, real.dtype).reshape(alpha_shape)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, **critic_kwargs)
    (grad,) = torch.autograd.grad(
        outputs=scores,
        inputs=x_hat,
        grad_outputs=torch.ones_like(scores),
        create_graph=True,
    )
    # The norm in float32: under fp16 autocast the squared sum can overflow.
    grad_norm = grad.float().flatten(1).norm(2, dim=1)
    return ((grad_norm - 1.0) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    r"""R1 regularisation (Mescheder et al. 2018): squared gradient norm on real data.

    .. math::
        R_1 = \mathbb{E}_{x_r}\big[\lVert \nabla_{x_r} D(x_r) \rVert_2^2\big]

    Returns the mean over the batch of the per-sample squared norm; the caller applies the
    weight :math:`\gamma / 2`. ``real`` must require grad *before* the discriminator forward
    that produced ``real_logits``.

    Args:
        real_logits: discriminator output on ``real``.
        real: the real images, with ``requires_grad=True``.

    Shape:
        - real_logits: any shape computed from ``real``.
        - real: :math:`(B, *)`.
        - Output: scalar.

    Example:
        >>> x = torch.rand(2, 2, requires_grad=True)
        >>> r1_penalty(x @ torch.tensor([3.0, 4.0]), x)
        tensor(25.)
    """
    if not real.requires_grad:
        raise ValueError(
            "r1_penalty needs gradients with respect to the real images; call "
            "real.requires_grad_(True) before the discriminator forward."
        )
    (grad,) = torch.autograd.grad(outputs=real_logits.sum(), inputs=real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()
