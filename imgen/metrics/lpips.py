"""LPIPS (Zhang et al., 2018) with the AlexNet backbone.

The ``lpips`` package ships its small linear heads, and builds the AlexNet backbone through
torchvision, which downloads ``alexnet-owt-7be5be79.pth`` on its own. This module builds the
backbone without pretrained weights and loads torchvision's file itself, from the torch hub
cache, where :mod:`imgen.hub` downloads it first when it is missing (progress bar, SHA-256
prefix check) unless ``IMGEN_OFFLINE=1`` (air-gapped clusters, CI): then LPIPS is reported
unavailable with the sentence that says where to put the file.
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import torch
from torch import Tensor, nn

__all__ = [
    "ALEXNET_URL",
    "ALEXNET_WEIGHTS",
    "LPIPSMetric",
    "MetricUnavailable",
    "build_lpips",
    "lpips_status",
]

ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_WEIGHTS}"  # torchvision's URL


class MetricUnavailable(RuntimeError):  # noqa: N818 - public name of the API
    """A metric cannot run here; ``reason`` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _alexnet_path() -> str:
    # torch.hub.get_dir() honours TORCH_HOME (and XDG_CACHE_HOME) at call time.
    return os.path.join(torch.hub.get_dir(), "checkpoints", ALEXNET_WEIGHTS)


def lpips_status(download: bool = True) -> tuple[bool, str]:
    """Tell whether LPIPS can run, downloading the AlexNet weights first when they are missing
    (and ``download`` is true and imgen is online).

    Args:
        download: fetch the missing weights file into the hub cache; False: look only.

    Returns:
        ``(True, "")`` when the ``lpips`` package is installed and the AlexNet weights are in
        ``torch.hub.get_dir()/checkpoints/``; otherwise ``(False, reason)``.

    Example:
        >>> ok, reason = lpips_status()
        >>> isinstance(ok, bool) and isinstance(reason, str)
        True
    """
    if importlib.util.find_spec("lpips") is None:
        return False, "LPIPS needs the 'lpips' package: pip install lpips."
    path = _alexnet_path()
    if os.path.isfile(path):
        return True, ""
    if not download:
        return False, f"no AlexNet weights at {path}; download {ALEXNET_URL} there"
    from imgen import hub

    try:
        hub.download(ALEXNET_URL, path, what="LPIPS' AlexNet weights")
    except hub.DownloadError as exc:
        return False, str(exc)
    return True, ""


def _build_network(weights_path: str) -> nn.Module:
    import lpips  # deferred: optional dependency, and slow to import

    with warnings.catch_warnings():
        # lpips calls torchvision with the deprecated ``pretrained=`` argument.
        warnings.simplefilter("ignore", UserWarning)
        # pnet_rand=True: a randomly initialised backbone, so torchvision never tries to
        # download; the real weights are loaded from the checked file below. The linear
        # heads still come from the lpips package itself.
        net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)

    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    # lpips splits torchvision's ``features`` Sequential into slice1..slice5 whose children
    # keep their original indices; map "features.{i}.{param}" onto "slice{k}.{i}.{param}".
    owner = {
        child: name
        for name, module in net.net.named_children()
        for child in module._modules  # child names are the feature indices
    }
    backbone = {}
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        if prefix != "features":
            continue  # the classifier head is not part of LPIPS
        index = rest.partition(".")[0]
        if index in owner:
            backbone[f"{owner[index]}.{rest}"] = value
    net.net.load_state_dict(backbone, strict=True)
    return net.eval().requires_grad_(False)


class LPIPSMetric(nn.Module):
    """LPIPS distance (AlexNet, v0.1) between images in [0, 1]; lower is more similar.

    The network is built on first use, on the device of the first input (or the one given).
    Use :func:`build_lpips` to get an instance only when the weights are present.

    Args:
        device: device to build the network on; default: the first input's device.

    Shape:
        - pred, target: :math:`(B, 3, H, W)` in [0, 1].
        - Output: :math:`(B,)`.

    Example:
        >>> metric = LPIPSMetric()  # doctest: +SKIP
        >>> metric(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)).shape  # doctest: +SKIP
        torch.Size([2])
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        super().__init__()
        self._device = None if device is None else torch.device(device)
        self._net: nn.Module | None = None

    def _network(self, device: torch.device) -> nn.Module:
        if self._net is None:
            ok, reason = lpips_status()
            if not ok:
                raise MetricUnavailable(reason)
            self._net = _build_network(_alexnet_path()).to(self._device or device)
        return self._net

    @torch.no_grad()
    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        for name, x in (("pred", pred), ("target", target)):
            if not isinstance(x, Tensor) or not x.is_floating_point():
                raise TypeError(f"{name} must be a floating-point tensor in [0, 1].")
            if x.ndim != 4 or x.shape[1] != 3:
                raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(x.shape)}.")
        if pred.shape != target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {tuple(pred.shape)} and "
                f"{tuple(target.shape)}."
            )
        net = self._network(pred.device)
        device = next(net.parameters()).device
        # LPIPS expects [-1, 1]; float32 because its weights are float32.
        a = pred.to(device=device, dtype=torch.float32) * 2 - 1
        b = target.to(device=device, dtype=torch.float32) * 2 - 1
        return net(a, b).flatten(1).mean(dim=1)


def build_lpips(device: torch.device | str | None = None) -> LPIPSMetric:
    """Build an :class:`LPIPSMetric` on ``device``, downloading the AlexNet weights into the
    hub cache first when they are missing (never with ``IMGEN_OFFLINE=1``).

    Args:
        device: device for the network; default CPU.

    Raises:
        MetricUnavailable: the ``lpips`` package or the AlexNet weights are missing; its
            ``reason`` is one sentence saying which and how to fix it (for the weights: their
            URL and where to put them).

    Example:
        >>> try:
        ...     metric = build_lpips("cpu")
        ... except MetricUnavailable as err:
        ...     reason = err.reason  # e.g. the AlexNet weights are not in the hub cache
    """
    ok, reason = lpips_status()
    if not ok:
        raise MetricUnavailable(reason)
    metric = LPIPSMetric(device if device is not None else "cpu")
    # Build now so that a broken weights file surfaces here, not in the middle of an eval.
    try:
        metric._network(metric._device)
    except (RuntimeError, OSError, KeyError, ValueError) as err:
        if isinstance(err, MetricUnavailable):
            raise
        raise MetricUnavailable(f"LPIPS could not load {_alexnet_path()}: {err}") from err
    return metric
