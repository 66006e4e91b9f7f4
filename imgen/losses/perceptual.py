"""Perceptual (VGG feature) loss of SRGAN / ESRGAN.

The VGG19 weights are torchvision's ImageNet file, from an explicit path or from the torch hub
cache (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``, the file torchvision itself caches),
downloaded there from torchvision's URL when it is missing and the machine is online
(:mod:`imgen.hub`: progress bar, SHA-256 prefix check; never with ``IMGEN_OFFLINE=1``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from imgen.errors import ImgenError

__all__ = [
    "VGG19_FILENAME",
    "VGG19_LAYER_NAMES",
    "VGG19_URL",
    "PerceptualLoss",
    "WeightsUnavailable",
    "find_vgg19_weights",
]

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"  # torchvision's IMAGENET1K_V1 weights
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILENAME}"  # torchvision's URL


def _vgg19_layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for stage, n_convs in enumerate((2, 2, 4, 4, 4), start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{stage}_{i}", f"relu{stage}_{i}"]
        names.append(f"pool{stage}")
    return tuple(names)


# Names of torchvision's ``vgg19().features`` children, index for index (as BasicSR).
VGG19_LAYER_NAMES: tuple[str, ...] = _vgg19_layer_names()

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


# The name is part of the public API (tasks and the CLI catch it), hence no "Error" suffix.
class WeightsUnavailable(RuntimeError):  # noqa: N818
    """Pretrained weights are not on disk and could not be downloaded (or imgen is offline)."""


def find_vgg19_weights(weights_path: str | os.PathLike[str] | None = None) -> Path:
    """Return the VGG19 weights file to use, or raise :class:`WeightsUnavailable`.

    Looks at ``weights_path`` when given, otherwise at
    ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth`` (which follows ``TORCH_HOME``),
    downloading torchvision's file there when it is missing, unless ``IMGEN_OFFLINE=1``.
    Call it when a run is configured, so a missing file fails before training starts.

    Args:
        weights_path: an explicit torchvision VGG19 state-dict file.

    Returns:
        The path of an existing file.
    """
    cache_dir = Path(torch.hub.get_dir()) / "checkpoints"
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(
                f"VGG19 weights file {path} does not exist; pass --vgg-weights PATH to an "
                f"existing file or put {VGG19_FILENAME} in {cache_dir}."
            )
        return path
    from imgen import hub

    try:
        return hub.ensure(VGG19_FILENAME, VGG19_URL, what="VGG19 weights")
    except hub.DownloadError as exc:
        raise WeightsUnavailable(f"{exc}; or pass --vgg-weights PATH") from None


def _vgg19_features(n_layers: int) -> nn.Sequential:
    """The first ``n_layers`` children of torchvision's ``vgg19().features``, same indices.

    Built here rather than through torchvision so that the 100M-parameter classifier is never
    allocated. ReLUs are not in-place: an in-place ReLU would overwrite the pre-activation
    features that the loss reads.
    """
    layers: list[nn.Module] = []
    in_ch = 3
    for name in VGG19_LAYER_NAMES[:n_layers]:
        if name.startswith("conv"):
            out_ch = 64 * 2 ** min(int(name[4]) - 1, 3)
            layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1))
            in_ch = out_ch
        elif name.startswith("relu"):
            layers.append(nn.ReLU(inplace=False))
        else:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class PerceptualLoss(nn.Module):
    r"""VGG19 feature loss :math:`\sum_l w_l\, d(\phi_l(\hat y), \phi_l(y))` (SRGAN / ESRGAN).

    Features are taken from torchvision's ImageNet VGG19 (``vgg19-dcbb9e9d.pth``). Layer names
    follow BasicSR (``conv5_4``, ``relu5_4``, ``pool5``, ...); the default ``conv5_4`` is the
    ESRGAN choice: features *before* the activation, which are denser and keep brightness
    consistent (ESRGAN, Sec. 3.3). The VGG is frozen (no gradients for its parameters) and
    truncated after the deepest requested layer. Target features are computed without grad.

    The module holds the VGG weights as parameters, so keep it out of anything whose state
    dict is checkpointed.

    Args:
        layer_weights: layer name -> weight.
        use_input_norm: normalise inputs from [0, 1] with the ImageNet mean and std first.
        criterion: ``"l1"``, ``"l2"`` (mean squared error) or ``"fro"`` (Frobenius norm of
            the difference, as BasicSR).
        weights_path: torchvision VGG19 state-dict file; default: the torch hub cache
            (downloaded there when missing, unless ``IMGEN_OFFLINE=1``).

    Raises:
        WeightsUnavailable: when the weights file is not on disk and cannot be downloaded.

    Shape:
        - pred, target: :math:`(B, 3, H, W)` RGB in [0, 1], same shape.
        - Output: scalar.

    Example:
        >>> loss_fn = PerceptualLoss(weights_path="vgg19-dcbb9e9d.pth")  # doctest: +SKIP
        >>> loss_fn(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))  # doctest: +SKIP
        tensor(...)
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float] | None = None,
        use_input_norm: bool = True,
        criterion: str = "l1",
        weights_path: str | os.PathLike[str] | None = None,
    ):
        super().__init__()
        layer_weights = dict(layer_weights if layer_weights is not None else {"conv5_4": 1.0})
        if not layer_weights:
            raise ValueError("PerceptualLoss needs at least one layer in layer_weights.")
        unknown = sorted(set(layer_weights) - set(VGG19_LAYER_NAMES))
        if unknown:
            raise ValueError(
                f"Unknown VGG19 layer(s) {', '.join(unknown)}; use names like conv5_4, relu5_4 "
                "or pool5."
            )
        if criterion not in ("l1", "l2", "fro"):
            raise ValueError(f"PerceptualLoss criterion must be l1, l2 or fro, got {criterion!r}.")
        self.layer_weights = layer_weights
        self.use_input_norm = use_input_norm
        self.criterion = criterion

        n_layers = 1 + max(VGG19_LAYER_NAMES.index(name) for name in layer_weights)
        self.vgg = _vgg19_features(n_layers)
        self._load_weights(find_vgg19_weights(weights_path))
        self.vgg.eval()
        self.vgg.requires_grad_(False)

        mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def _load_weights(self, path: Path) -> None:
        try:
            # weights_only: a pickle that would run code is refused, never executed.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ImgenError(
                f"--vgg-weights {path} is not a readable torch weights file "
                f"({type(exc).__name__}); give torchvision's vgg19 .pth file"
            ) from None
        if not isinstance(state, Mapping):
            raise ImgenError(f"{path} does not hold a state dict; expected torchvision VGG19.")
        # torchvision files hold the whole model ("features.N.weight", "classifier..."); accept
        # a bare features state dict ("N.weight") too.
        if any(k.startswith("features.") for k in state):
            state = {k.removeprefix("features."): v for k, v in state.items()}
        wanted = set(self.vgg.state_dict())
        state = {k: v for k, v in state.items() if k in wanted}
        missing = sorted(wanted - set(state))
        if missing:
            raise ValueError(
                f"{path} is not a torchvision VGG19 state dict: it lacks features.{missing[0]}."
            )
        self.vgg.load_state_dict(state)

    def train(self, mode: bool = True) -> PerceptualLoss:
        # The frozen VGG stays in eval mode whatever the surrounding model does.
        super().train(mode)
        self.vgg.eval()
        return self

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for name, layer in zip(VGG19_LAYER_NAMES, self.vgg, strict=False):
            x = layer(x)
            if name in self.layer_weights:
                out[name] = x
        return out

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.criterion == "l1":
            return F.l1_loss(a, b)
        if self.criterion == "l2":
            return F.mse_loss(a, b)
        return torch.linalg.vector_norm(a - b)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.ndim != 4 or pred.shape[1] != 3:
            raise ValueError(
                f"PerceptualLoss expects RGB (B, 3, H, W) images, got shape {tuple(pred.shape)}."
            )
        if pred.shape != target.shape:
            raise ValueError(
                f"PerceptualLoss needs pred and target of the same shape, got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}."
            )
        pred_feats = self._features(pred)
        with torch.no_grad():
            target_feats = self._features(target.detach())
        return sum(
            weight * self._distance(pred_feats[name], target_feats[name])
            for name, weight in self.layer_weights.items()
        )
