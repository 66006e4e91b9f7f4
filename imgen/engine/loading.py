"""Rebuild a task and its networks from nothing but a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from imgen.config import from_dict
from imgen.engine.checkpoint import load_weights
from imgen.engine.rundir import read_config
from imgen.plugins import create_task
from imgen.task import Task


def load_run(
    run_dir: str | Path, device: torch.device, *, ema: bool = True
) -> tuple[Task, Any, dict[str, torch.nn.Module]]:
    """The task (set up for inference), its config and its networks in eval mode.

    The EMA weights replace the raw ones when the run kept an EMA and ``ema`` is true.
    """
    info = read_config(run_dir)
    task = create_task(info["task"])
    cfg = from_dict(task.Config, info["config"], source=str(Path(run_dir) / "config.json"))
    task.setup(cfg, device)
    nets = task.build(cfg)
    weights = load_weights(run_dir, ema=ema)
    for name, net in nets.items():
        if name in weights:
            net.load_state_dict(weights[name])
        net.to(device).eval()
    return task, cfg, nets
