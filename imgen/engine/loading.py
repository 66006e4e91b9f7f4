"""Rebuild a task and its networks from nothing but a run directory; strict weight loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from imgen.config import from_dict
from imgen.engine.checkpoint import load_weights
from imgen.engine.rundir import read_config
from imgen.errors import ImgenError
from imgen.plugins import create_task
from imgen.task import Task


def _first(keys: list[str], n: int = 3) -> str:
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_network(
    net: torch.nn.Module,
    weights: dict[str, dict[str, torch.Tensor]],
    name: str,
    source: str | Path,
    *,
    what: str = "",
) -> None:
    """Load ``weights[name]`` into ``net`` strictly, or stop with one sentence that says why.

    Names the network, the first missing / unexpected / mismatched keys, and the class the
    run's config builds, instead of PyTorch's raw ``size mismatch`` traceback.
    """
    where = f"{what}network {name!r} ({type(net).__name__}, as the run's config builds it)"
    if name not in weights:
        stored = ", ".join(sorted(weights)) or "none"
        raise ImgenError(f"{source} has no weights for the {where}; it holds: {stored}")
    state, expected = weights[name], net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = [
        f"missing {_first(missing)}" if missing else "",
        f"unexpected {_first(unexpected)}" if unexpected else "",
        f"shape (stored vs expected) {_first(shapes)}" if shapes else "",
    ]
    if any(problems):
        detail = "; ".join(p for p in problems if p)
        raise ImgenError(f"the weights in {source} do not fit the {where}: {detail}")
    net.load_state_dict(state)


def load_run(
    run_dir: str | Path, device: torch.device, *, ema: bool = True
) -> tuple[Task, Any, dict[str, torch.nn.Module]]:
    """The task (set up for inference), its config and its networks in eval mode.

    The EMA weights replace the raw ones when the run kept an EMA and ``ema`` is true. Every
    network the task builds must load, strictly.
    """
    info = read_config(run_dir)
    task = create_task(info["task"])
    cfg = from_dict(task.Config, info["config"], source=str(Path(run_dir) / "config.json"))
    task.setup(cfg, device)
    nets = task.build(cfg)
    weights = load_weights(run_dir, ema=ema)
    for name, net in nets.items():
        load_network(net, weights, name, run_dir)
        net.to(device).eval()
    return task, cfg, nets
