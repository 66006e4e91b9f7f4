"""Blur kernels of Real-ESRGAN's degradation model, in their closed forms.

Every kernel is a square ``(size, size)`` float64 tensor on an odd grid centred on zero,
normalised to sum to 1. With ``x`` the column and ``y`` the row offset from the centre and
``q = [x, y] Σ⁻¹ [x, y]ᵀ`` the quadratic form of the covariance
``Σ = R(θ) diag(σx², σy²) R(θ)ᵀ``:

=======================  ===================================  ==============================
kernel                   unnormalised value                   note
=======================  ===================================  ==============================
Gaussian                 ``exp(-q / 2)``                      isotropic when ``σx = σy``
generalized Gaussian     ``exp(-q^β / 2)``                    ``β = 1``: the Gaussian
plateau                  ``1 / (1 + q^β)``                    flat top, heavy tails
sinc (circular low-pass) ``ω J1(ω r) / (2π r)``, ``r = |x|``  ``ω²/(4π)`` at the centre
=======================  ===================================  ==============================

These are the forms of BasicSR's ``basicsr/data/degradations.py`` (Real-ESRGAN's source), so
the generalized Gaussian's shape parameter ``β`` multiplies the exponent of the quadratic
form: ``β = 1`` is the Gaussian, ``β < 1`` sharper peaked with heavier tails, ``β > 1``
flatter (the 1-D convention ``exp(-|x/α|^β)``, where 2 is the Gaussian, is another one).

The functions run on the CPU in the data loader's workers (one kernel per sample, 21x21 at
most), which is why they take Python numbers rather than batches.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "KERNEL_TYPES",
    "MAX_KERNEL_SIZE",
    "covariance",
    "gaussian_kernel",
    "generalized_gaussian_kernel",
    "mesh_grid",
    "pad_kernel",
    "plateau_kernel",
    "pulse_kernel",
    "sinc_kernel",
]

# Kernels travel in a batch padded to this size (Real-ESRGAN's largest kernel).
MAX_KERNEL_SIZE = 21

# Real-ESRGAN's names of the blur kernel families (``kernel_list``).
KERNEL_TYPES = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)


def _check_size(size: int) -> None:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"a kernel size must be a positive odd number, got {size}")


def mesh_grid(size: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Column and row offsets from the centre of a ``size`` x ``size`` grid.

    Args:
        size: odd side of the grid.
        dtype: of the offsets.

    Returns:
        ``(xx, yy)``: ``xx[i, j] = j - size // 2`` (column), ``yy[i, j] = i - size // 2`` (row).

    Shape:
        - Output: two :math:`(size, size)` tensors.

    Example:
        >>> xx, yy = mesh_grid(3)
        >>> xx[0].tolist(), yy[:, 0].tolist()
        ([-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0])
    """
    _check_size(size)
    axis = torch.arange(size, dtype=dtype) - size // 2
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return xx, yy


def covariance(sigma_x: float, sigma_y: float, theta: float) -> Tensor:
    """The covariance ``R(θ) diag(σx², σy²) R(θ)ᵀ`` of an oriented Gaussian.

    Args:
        sigma_x: standard deviation along the first principal axis (pixels).
        sigma_y: standard deviation along the second principal axis.
        theta: angle of the first axis from the x (column) axis, in radians.

    Shape:
        - Output: :math:`(2, 2)`, float64, in (x, y) order.

    Example:
        >>> covariance(2.0, 1.0, 0.0)
        tensor([[4., 0.],
                [0., 1.]], dtype=torch.float64)
    """
    c, s = math.cos(theta), math.sin(theta)
    rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return (
        rotation
        @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64))
        @ (rotation.T)
    )


def _quadratic_form(size: int, sigma_x: float, sigma_y: float | None, theta: float) -> Tensor:
    """``[x, y] Σ⁻¹ [x, y]ᵀ`` at every grid point."""
    _check_size(size)
    if sigma_x <= 0 or (sigma_y is not None and sigma_y <= 0):
        raise ValueError(f"kernel sigmas must be positive, got {sigma_x} and {sigma_y}")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    inverse = torch.linalg.inv(covariance(sigma_x, sigma_y, theta))
    xx, yy = mesh_grid(size)
    return (
        inverse[0, 0] * xx * xx
        + (inverse[0, 1] + inverse[1, 0]) * xx * yy
        + inverse[1, 1] * (yy * yy)
    )


def _normalised(kernel: Tensor) -> Tensor:
    return kernel / kernel.sum()


def gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0
) -> Tensor:
    """A normalised bivariate Gaussian kernel, ``exp(-q / 2)``.

    Args:
        size: odd side of the kernel.
        sigma_x: standard deviation along the first principal axis (pixels).
        sigma_y: along the second one [default: ``sigma_x``, an isotropic kernel].
        theta: rotation of the principal axes, in radians.

    Shape:
        - Output: :math:`(size, size)`, float64, summing to 1.

    Example:
        >>> k = gaussian_kernel(21, 2.0)
        >>> round(float(k.sum()), 6), k.argmax().item() == 21 * 10 + 10
        (1.0, True)
    """
    return _normalised(torch.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta)))


def generalized_gaussian_kernel(
    size: int,
    sigma_x: float,
    sigma_y: float | None = None,
    theta: float = 0.0,
    beta: float = 1.0,
) -> Tensor:
    """A normalised generalized Gaussian kernel, ``exp(-q^β / 2)`` (``β = 1``: Gaussian).

    Args:
        size: odd side of the kernel.
        sigma_x, sigma_y, theta: as for :func:`gaussian_kernel`.
        beta: shape; below 1 a sharper peak with heavier tails, above 1 a flatter top.

    Shape:
        - Output: :math:`(size, size)`, float64, summing to 1.

    Example:
        >>> torch.allclose(generalized_gaussian_kernel(7, 1.5, beta=1.0), gaussian_kernel(7, 1.5))
        True
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    q = _quadratic_form(size, sigma_x, sigma_y, theta)
    return _normalised(torch.exp(-0.5 * q.pow(beta)))


def plateau_kernel(
    size: int,
    sigma_x: float,
    sigma_y: float | None = None,
    theta: float = 0.0,
    beta: float = 1.0,
) -> Tensor:
    """A normalised plateau-shaped kernel, ``1 / (1 + q^β)``.

    Args:
        size: odd side of the kernel.
        sigma_x, sigma_y, theta: as for :func:`gaussian_kernel`.
        beta: shape; larger values give a flatter top and a steeper edge.

    Shape:
        - Output: :math:`(size, size)`, float64, summing to 1.

    Example:
        >>> k = plateau_kernel(21, 2.0, beta=2.0)
        >>> bool(k[10, 10] / k[10, 11] < k[10, 12] / k[10, 13])  # flat top, then falls off
        True
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    q = _quadratic_form(size, sigma_x, sigma_y, theta)
    return _normalised(1.0 / (1.0 + q.pow(beta)))


def sinc_kernel(size: int, cutoff: float) -> Tensor:
    """A normalised 2-D sinc (circularly symmetric ideal low-pass) kernel.

    The inverse Fourier transform of the disc of radius ``cutoff`` (radians per pixel):
    ``ω J1(ω r) / (2π r)`` with ``r`` the distance from the centre and its limit ``ω² / (4π)``
    at the centre, truncated to the grid and normalised. Real-ESRGAN uses it to make the
    ringing and overshoot artifacts of sharpened or band-limited images.

    Args:
        size: odd side of the kernel.
        cutoff: cut-off frequency ``ω`` in (0, π] radians per pixel (π: no filtering).

    Shape:
        - Output: :math:`(size, size)`, float64, summing to 1.

    Example:
        >>> k = sinc_kernel(21, math.pi / 3)
        >>> round(float(k.sum()), 6), bool(k.min() < 0)  # ringing: negative lobes
        (1.0, True)
    """
    _check_size(size)
    if not 0 < cutoff <= math.pi:
        raise ValueError(f"the sinc cut-off must be in (0, pi], got {cutoff}")
    xx, yy = mesh_grid(size)
    r = torch.sqrt(xx * xx + yy * yy)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    kernel = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    kernel = torch.where(r > 0, kernel, torch.full_like(r, cutoff**2 / (4 * math.pi)))
    return _normalised(kernel)


def pad_kernel(kernel: Tensor, size: int = MAX_KERNEL_SIZE) -> Tensor:
    """Zero-pad an odd square kernel to ``size`` x ``size``, keeping it centred.

    Args:
        kernel: :math:`(k, k)` with odd ``k <= size``.
        size: odd side of the result.

    Example:
        >>> pad_kernel(torch.ones(3, 3), 5)[:, 0].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    k = kernel.shape[-1]
    _check_size(k)
    _check_size(size)
    if kernel.shape[-2] != k or k > size:
        raise ValueError(f"cannot pad a {tuple(kernel.shape)} kernel to {size}x{size}")
    pad = (size - k) // 2
    return torch.nn.functional.pad(kernel, (pad, pad, pad, pad))


def pulse_kernel(size: int = MAX_KERNEL_SIZE) -> Tensor:
    """The identity kernel: 1 at the centre, 0 elsewhere (filtering with it changes nothing).

    Example:
        >>> pulse_kernel(3).tolist()
        [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    _check_size(size)
    kernel = torch.zeros(size, size, dtype=torch.float64)
    kernel[size // 2, size // 2] = 1.0
    return kernel
