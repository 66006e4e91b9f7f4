"""Pixel losses: L1 and Charbonnier (a differentiable, outlier-robust L1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CharbonnierLoss", "L1Loss", "charbonnier_loss", "l1_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_pair(pred: torch.Tensor, target: torch.Tensor, reduction: str, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{name} needs pred and target of the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}."
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}.")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def l1_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Mean absolute error :math:`|\hat y - y|`.

    Args:
        pred: prediction.
        target: ground truth.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - pred, target: any shape, the same for both.
        - Output: scalar, or the input shape for ``reduction="none"``.

    Example:
        >>> l1_loss(torch.zeros(2), torch.tensor([1.0, 3.0]))
        tensor(2.)
    """
    _check_pair(pred, target, reduction, "l1_loss")
    return F.l1_loss(pred, target, reduction=reduction)


def l2_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Mean squared error :math:`(\hat y - y)^2` (DnCNN's loss).

    Args:
        pred: prediction.
        target: ground truth.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - pred, target: any shape, the same for both.
        - Output: scalar, or the input shape for ``reduction="none"``.

    Example:
        >>> l2_loss(torch.zeros(2), torch.tensor([1.0, 3.0]))
        tensor(5.)
    """
    _check_pair(pred, target, reduction, "l2_loss")
    return F.mse_loss(pred, target, reduction=reduction)


def charbonnier_loss(
    pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12, reduction: str = "mean"
) -> torch.Tensor:
    r"""Charbonnier loss :math:`\sqrt{(\hat y - y)^2 + \epsilon}` (BasicSR's form).

    A smooth L1: it behaves like L1 for large errors (robust to outliers) but is differentiable
    at zero. As in BasicSR, ``eps`` is added *inside* the square root, so the default ``1e-12``
    means an offset of ``1e-6`` per element.

    Args:
        pred: prediction.
        target: ground truth.
        eps: added to the squared difference inside the square root.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - pred, target: any shape, the same for both.
        - Output: scalar, or the input shape for ``reduction="none"``.

    Example:
        >>> charbonnier_loss(torch.zeros(1), torch.tensor([3.0]), eps=16.0)
        tensor(5.)
    """
    _check_pair(pred, target, reduction, "charbonnier_loss")
    if eps < 0:
        raise ValueError(f"charbonnier_loss needs eps >= 0, got {eps}.")
    return _reduce(torch.sqrt((pred - target) ** 2 + eps), reduction)


class L1Loss(nn.Module):
    """Module twin of :func:`l1_loss`.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> L1Loss()(torch.zeros(2), torch.ones(2))
        tensor(1.)
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l1_loss(pred, target, reduction=self.reduction)


class L2Loss(nn.Module):
    """Module twin of :func:`l2_loss`.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> L2Loss()(torch.zeros(2), torch.tensor([1.0, 3.0]))
        tensor(5.)
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l2_loss(pred, target, reduction=self.reduction)


class CharbonnierLoss(nn.Module):
    """Module twin of :func:`charbonnier_loss`.

    Args:
        eps: added to the squared difference inside the square root.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> CharbonnierLoss(eps=16.0)(torch.zeros(1), torch.tensor([3.0]))
        tensor(5.)
    """

    def __init__(self, eps: float = 1e-12, reduction: str = "mean"):
        super().__init__()
        self.eps = eps
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return charbonnier_loss(pred, target, eps=self.eps, reduction=self.reduction)
