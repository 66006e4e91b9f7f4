"""Spectral normalization (Miyato et al. 2018) as a discriminator option (SNGAN).

The engine calls :func:`apply_spectral_norm` on every network of the "D" group when a task's
config has ``spectral_norm=True`` (``--spectral-norm``), before the optimizers exist and before
``--resume`` loads weights, so the checkpoint keys are those of the normalized network.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["SN_LAYER_TYPES", "apply_spectral_norm", "has_spectral_norm", "spectral_norm_layers"]

# _ConvNd covers Conv1d/2d/3d and the transposed variants; spectral_norm itself picks dim=1
# for transposed convolutions, whose weight is (in, out, ...).
SN_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)


def _is_normalized(layer: nn.Module) -> bool:
    """Whether ``layer``'s weight already carries spectral norm (either torch API)."""
    plist = getattr(layer, "parametrizations", None)
    if (
        plist is not None
        and "weight" in plist
        and any(type(p).__name__ == "_SpectralNorm" for p in plist["weight"])
    ):
        return True
    # The old hook-based torch.nn.utils.spectral_norm keeps the raw weight as weight_orig.
    return hasattr(layer, "weight_orig")


def spectral_norm_layers(module: nn.Module) -> list[str]:
    """Names of the conv/linear layers of ``module`` whose weight is spectrally normalized.

    Example:
        >>> net = apply_spectral_norm(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten()))
        >>> spectral_norm_layers(net)
        ['0']
    """
    return [
        name
        for name, m in module.named_modules()
        if isinstance(m, SN_LAYER_TYPES) and _is_normalized(m)
    ]


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether any conv/linear layer of ``module`` is spectrally normalized."""
    return bool(spectral_norm_layers(module))


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Put spectral normalization on every conv, transposed conv and linear layer.

    Uses :func:`torch.nn.utils.parametrizations.spectral_norm`, so the state-dict keys become
    ``<layer>.parametrizations.weight.original`` (plus the ``_u``/``_v`` power-iteration
    buffers), and a normalized network saves and loads like any other.

    A network that already normalizes some of its layers is left exactly as it is: it was
    designed that way (Real-ESRGAN's ``UNetDiscriminatorSN`` keeps its first and last convs
    plain on purpose), so ``--spectral-norm`` does not change it, and calling this twice is
    harmless.

    Args:
        module: the network, modified in place.
        n_power_iterations: power iterations per training forward (1, as in SNGAN).

    Returns:
        ``module`` itself, for chaining.

    Raises:
        ValueError: if ``n_power_iterations`` < 1.

    Example:
        >>> net = apply_spectral_norm(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()))
        >>> hasattr(net[0], "parametrizations")
        True
    """
    if n_power_iterations < 1:
        raise ValueError(f"n_power_iterations must be at least 1, got {n_power_iterations}.")
    if has_spectral_norm(module):
        return module
    for m in list(module.modules()):
        if isinstance(m, SN_LAYER_TYPES):
            spectral_norm(m, n_power_iterations=n_power_iterations)
    return module
