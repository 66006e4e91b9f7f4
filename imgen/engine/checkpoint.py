"""Checkpoints: weights as safetensors, training state as a torch file; atomic writes.

``checkpoints/last.safetensors`` holds every network as ``NET.param`` and the EMA copies as
``ema.NET.param``; ``checkpoints/last.state.pt`` holds the step, optimizers, schedulers,
gradient scalers, RNG states and the number of samples drawn, so a run resumes exactly.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from imgen.errors import ImgenError

WEIGHTS = "last.safetensors"
STATE = "last.state.pt"
EMA_PREFIX = "ema."


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def flatten_weights(nets: dict[str, torch.nn.Module], prefix: str = "") -> dict[str, torch.Tensor]:
    flat = {}
    for name, net in nets.items():
        for key, value in net.state_dict().items():
            flat[f"{prefix}{name}.{key}"] = value.detach().contiguous().cpu()
    return flat


def split_weights(flat: dict[str, torch.Tensor]) -> tuple[dict[str, dict], dict[str, dict]]:
    """``{"G.x": t, "ema.G.x": u}`` -> ``({"G": {"x": t}}, {"G": {"x": u}})``."""
    nets: dict[str, dict] = {}
    ema: dict[str, dict] = {}
    for key, value in flat.items():
        target = nets
        if key.startswith(EMA_PREFIX):
            target, key = ema, key[len(EMA_PREFIX) :]
        net, _, param = key.partition(".")
        target.setdefault(net, {})[param] = value
    return nets, ema


def save_weights(path: Path, nets: dict, ema_nets: dict | None, step: int) -> None:
    flat = flatten_weights(nets)
    if ema_nets:
        flat.update(flatten_weights(ema_nets, EMA_PREFIX))
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata={"step": str(step)}))


def load_weights(run_dir: str | Path, *, ema: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts per network from a run; the EMA copy replaces a network when ``ema``."""
    path = Path(run_dir) / "checkpoints" / WEIGHTS
    if not path.exists():
        raise ImgenError(f"{path} does not exist; is {run_dir} a run directory with a checkpoint?")
    nets, ema_nets = split_weights(load_file(str(path)))
    if ema:
        nets.update(ema_nets)
    return nets


def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ImgenError(f"{path} does not exist; the run has no resumable state")
    return torch.load(path, map_location="cpu", weights_only=False)
