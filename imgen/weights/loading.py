"""A task and its networks from a run directory or a model file; ``imgen import``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from imgen.errors import ImgenError, UsageError
from imgen.task import Task
from imgen.weights.files import read_state_dict
from imgen.weights.formats import Detected, detect


@dataclass
class Loaded:
    """What :func:`load_model` returns: the task (set up for inference), its config, its
    networks (eval mode, on the device) and, for a foreign file, what was detected."""

    task: Task
    cfg: Any
    nets: dict[str, torch.nn.Module]
    source: str
    detected: Detected | None = None
    notes: list[str] = field(default_factory=list)


def detect_file(path: str | Path, task: str | None = None) -> Detected:
    """What the model file ``path`` is (see :func:`imgen.weights.detect`)."""
    path = Path(path)
    return detect(read_state_dict(path), path=str(path), task=task)


def _config(task: Task, options: dict[str, Any], source: str) -> Any:
    from imgen.config import from_dict

    return from_dict(task.Config, options, source=source)


def load_model(
    *,
    run: str | Path | None = None,
    weights: str | Path | None = None,
    device: torch.device | str = "cpu",
    task: str | None = None,
    ema: bool = True,
) -> Loaded:
    """The networks of a run directory (``run``) or of a model file made elsewhere
    (``weights``: detected, then loaded strictly into imgen's networks).

    ``task`` chooses among the tasks a file's layout fits (a CycleGAN generator: ``style``
    or ``translate``).
    """
    from imgen.engine.device import resolve_device
    from imgen.engine.loading import load_network, load_run
    from imgen.plugins import create_task

    device = resolve_device(device) if isinstance(device, str) else device
    if (run is None) == (weights is None):
        raise UsageError("give either a run directory (--run) or a model file (--weights)")
    if run is not None:
        run_task, cfg, nets = load_run(run, device, ema=ema)
        if task is not None and run_task.name != task:
            raise UsageError(f"{run} is a {run_task.name!r} run; use imgen eval {run_task.name}")
        return Loaded(run_task, cfg, nets, str(run))
    assert weights is not None
    path = Path(weights)
    found = detect_file(path, task)
    if "G" not in found.weights and not any(k.startswith("G") for k in found.weights):
        raise UsageError(
            f"{path} is a discriminator ({found.architecture}); predicting needs a generator "
            "file: pass this one to `imgen import GENERATOR --discriminator` instead"
        )
    task_obj = create_task(found.task)
    cfg = _config(task_obj, found.options, source=str(path))
    task_obj.setup(cfg, device)
    nets = task_obj.build(cfg)
    for name, net in nets.items():
        load_network(net, found.weights, name, path)
        net.to(device).eval()
    return Loaded(task_obj, cfg, nets, str(path), found, list(found.notes))


def import_model(
    path: str | Path,
    out: str | Path,
    *,
    task: str | None = None,
    discriminator: str | Path | None = None,
) -> tuple[Path, Detected]:
    """Write a run directory (config.json + checkpoints/last.safetensors) from a model file.

    The run is one ``imgen eval``, ``predict``, ``export``, ``train --init`` and ``train
    --resume`` (which starts at step 0 from these weights) accept. ``discriminator`` adds a
    discriminator file (the same task's layout) for GAN fine-tuning.
    """
    from imgen.config import to_dict
    from imgen.engine.checkpoint import write_initial_weights
    from imgen.engine.loading import load_network
    from imgen.engine.rundir import write_config
    from imgen.plugins import create_task

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; give -o a new folder")
    found = detect_file(path, task)
    weights = dict(found.weights)
    options = dict(found.options)
    architecture = found.architecture
    if discriminator is not None:
        other = detect_file(discriminator, found.task)
        if not any(k.startswith("D") for k in other.weights):
            raise UsageError(
                f"{discriminator} is not a discriminator ({other.architecture}); --discriminator "
                "takes a discriminator file, e.g. RealESRGAN_x4plus_netD.pth"
            )
        weights.update(other.weights)
        options.update(other.options)
        architecture += f" + {other.architecture}"
    task_obj = create_task(found.task)
    cfg = _config(task_obj, options, source=str(path))
    task_obj.setup(cfg, torch.device("cpu"))
    # Build what training builds, so that every network the file carries is checked strictly.
    task_obj.training = discriminator is not None
    nets = task_obj.build(cfg)
    if discriminator is not None:
        from imgen.nn.spectral import apply_spectral_norm

        if task_obj.spectral_norm():
            for name in task_obj.groups(nets).get("D", []):
                apply_spectral_norm(nets[name])
    for name, net in nets.items():
        if name in weights:
            load_network(net, weights, name, path if name in found.weights else discriminator)
        elif name in task_obj.groups(nets).get("G", []):
            raise ImgenError(f"{path} has no weights for network {name!r} of task {found.task!r}")
    kept = {name: net for name, net in nets.items() if name in weights}
    out.mkdir(parents=True, exist_ok=True)
    write_config(
        out,
        found.task,
        to_dict(cfg),
        {k: {"class": type(v).__name__, "parameters": _count(v)} for k, v in kept.items()},
        imported={"from": str(path), "architecture": architecture, "notes": found.notes},
    )
    write_initial_weights(out / "checkpoints", kept)
    return out, found


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
