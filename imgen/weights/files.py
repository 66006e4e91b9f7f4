"""Read a model file as a flat state dict, never running code from it.

PyTorch files (``.pth``, ``.pt``, ``.ckpt``, ``.bin``) are loaded with
``torch.load(weights_only=True)``, which refuses pickled objects other than tensors and
containers; ``.safetensors`` holds tensors only. The state dict is then unwrapped from the
containers published checkpoints use: BasicSR / Real-ESRGAN's ``{"params_ema": ...}`` (which
wins over ``"params"``, as in Real-ESRGAN's inference), Lightning's ``{"state_dict": ...}``,
``{"model": ...}``, ``{"net": ...}``, ``{"generator": ...}``, and a DataParallel
``module.`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from imgen.errors import ImgenError

WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
# Keys under which published files nest their state dict, most specific first.
CONTAINERS = ("params_ema", "params", "state_dict", "model", "net", "generator", "g", "netG")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a model file, unwrapped (see the module's docstring).

    Raises:
        ImgenError: the file is missing, not a model file, holds code, or holds no tensors.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "w.pth")
        >>> torch.save({"params_ema": {"module.conv.weight": torch.zeros(1)}}, f)
        >>> list(read_state_dict(f))
        ['conv.weight']
    """
    path = Path(path)
    if not path.is_file():
        raise ImgenError(f"{path} is not a file; give the path of a .pth or .safetensors file")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            loaded: Any = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ImgenError(f"{path} is not a readable safetensors file ({exc})") from None
    else:
        loaded = _torch_load(path)
    state = unwrap(loaded)
    if not state:
        keys = ", ".join(map(str, list(loaded)[:8])) if isinstance(loaded, Mapping) else ""
        raise ImgenError(
            f"{path} holds no tensors that form a state dict"
            + (f" (its top-level keys: {keys})" if keys else "")
        )
    return state


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code, RuntimeError/EOFError for junk
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise ImgenError(
                f"refusing to load {path}: it holds Python objects other than tensors (a "
                f"pickle that could run code; {text[:160]}); save its state_dict() instead"
            ) from None
        raise ImgenError(f"{path} is not a PyTorch model file ({text[:200]})") from None


def unwrap(obj: Any) -> dict[str, torch.Tensor]:
    """The flat ``{key: tensor}`` inside ``obj``: the first container of :data:`CONTAINERS`
    that holds tensors, else ``obj`` itself; non-tensor entries (an epoch number, an optimizer
    state) are dropped, and a ``module.`` prefix shared by every key is removed."""
    if not isinstance(obj, Mapping):
        return {}
    for key in CONTAINERS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state
