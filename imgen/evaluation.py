"""What ``imgen eval`` and ``imgen predict`` do, as functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from imgen.errors import UsageError
from imgen.task import Task


def evaluate_task(
    task: Task,
    *,
    run: str | None,
    data: str,
    device: torch.device,
    overrides: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate a run directory, or the task's networks built from ``overrides`` alone.

    Options stored in the run win; an explicit option that contradicts the run is an error.
    """
    from imgen.config import from_dict

    overrides = overrides or {}
    notes: list[str] = []
    if run:
        from imgen.engine.loading import load_run

        run_task, cfg, nets = load_run(run, device)
        if run_task.name != task.name:
            raise UsageError(f"{run} is a {run_task.name!r} run; use imgen eval {run_task.name}")
        for key, value in overrides.items():
            if getattr(cfg, key) != value:
                raise UsageError(
                    f"--{key.replace('_', '-')} {value} contradicts the run, which "
                    f"has {getattr(cfg, key)}; leave it out"
                )
        task = run_task
    else:
        cfg = from_dict(task.Config, overrides, source="command line")
        task.setup(cfg, device)
        nets = {k: v.to(device).eval() for k, v in task.build(cfg).items()}
        if any(p.numel() for net in nets.values() for p in net.parameters()):
            notes.append("no --run given: the networks are untrained (random weights)")
    with torch.inference_mode():
        result = task.evaluate(nets, data, **options)
    result.setdefault("notes", [])
    result["notes"] = notes + result["notes"]
    return {"task": task.name, "run": run, "data": str(data), **result}


def iter_inputs(inputs: tuple[str, ...] | list[str]) -> Iterator[tuple[Path, Path]]:
    """(file, output name relative to the output folder) for files and folders of images."""
    from imgen.data.folder import scan_images

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for file in scan_images(path):
                yield file, file.relative_to(path).with_suffix(".png")
        else:
            yield path, Path(path.name).with_suffix(".png")


def predict_files(
    run: str,
    inputs: tuple[str, ...] | list[str],
    out: str,
    *,
    device: str = "auto",
    ema: bool = True,
    **options: Any,
) -> Iterator[Path]:
    """Apply a run to image files; yields the written PNG paths."""
    from imgen.data.folder import read_image_tensor, save_image_tensor
    from imgen.engine.device import resolve_device
    from imgen.engine.loading import load_run

    torch_device = resolve_device(device)
    task, _, nets = load_run(run, torch_device, ema=ema)
    for file, name in iter_inputs(inputs):
        image = read_image_tensor(file).unsqueeze(0).to(torch_device)
        with torch.inference_mode():
            result = task.predict(nets, image, **options)
        target = Path(out) / name
        save_image_tensor(result[0], target)
        yield target
