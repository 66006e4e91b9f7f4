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
    data: str | None,
    device: torch.device,
    overrides: dict[str, Any] | None = None,
    metrics: tuple[str, ...] | list[str] = (),
    weights: str | None = None,
    precision: str = "fp32",
    **options: Any,
) -> dict[str, Any]:
    """Evaluate a run directory, a model file (``weights``, detected as for ``imgen predict
    --weights``), or the task's networks built from ``overrides`` alone.

    ``metrics`` names registered metrics computed besides the task's own (``--metric``).

    Options stored in the run win; an explicit option that contradicts the run is an error.
    ``data`` may be None for a task that has a default (dcgan: the run's training data); its
    result then says in ``"data"`` what it used.

    Files that cannot be read are skipped (see :func:`imgen.failures.collect_failures`):
    the result lists them in ``"failed"`` (``[{"path": ..., "reason": ...}]``, empty when
    none did) and the command line lists them at the end and exits with status 1.
    """
    from imgen.api import inference_precision
    from imgen.config import from_dict
    from imgen.failures import collect_failures

    overrides = overrides or {}
    notes: list[str] = []
    if run and weights:
        raise UsageError("give a run directory with --run, or a model file with --weights")
    if run or weights:
        from imgen.weights.loading import load_model

        loaded = load_model(run=run, weights=weights, device=device, task=task.name)
        run_task, cfg, nets = loaded.task, loaded.cfg, loaded.nets
        if loaded.detected:
            notes.append(f"{weights}: {loaded.detected.architecture}")
        notes += loaded.notes
        for key, value in overrides.items():
            if getattr(cfg, key) != value:
                raise UsageError(
                    f"--{key.replace('_', '-')} {value} contradicts {run or weights}, which "
                    f"has {getattr(cfg, key)}; leave it out"
                )
        task = run_task
    else:
        cfg = from_dict(task.Config, overrides, source="command line")
        task.setup(cfg, device)
        nets = {k: v.to(device).eval() for k, v in task.build(cfg).items()}
        if any(p.numel() for net in nets.values() for p in net.parameters()):
            notes.append("no --run given: the networks are untrained (random weights)")
    if metrics:
        from imgen.metrics.scoring import metric_function

        for name in metrics:  # an unknown name fails before any image is processed
            metric_function(name)
    dtype, precision_notes = inference_precision(precision, device, nets)
    notes += precision_notes
    if dtype is not None:
        options["autocast_dtype"] = dtype
    with collect_failures() as failed, torch.inference_mode():
        result = task.evaluate(nets, data, metrics=tuple(metrics), **options)
    result.setdefault("notes", [])
    result["notes"] = notes + result["notes"]
    result["failed"] = [{"path": f.path, "reason": f.reason} for f in failed]
    where = {"run": run} if weights is None else {"run": None, "weights": str(weights)}
    return {"task": task.name, **where, "data": None if data is None else str(data), **result}


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
    model: Any,
    inputs: tuple[str, ...] | list[str],
    out: str,
    **options: Any,
) -> Iterator[Path]:
    """Apply an :class:`imgen.api.Model` to image files; yields the written PNG paths.

    ``options``: ``tile``, ``tile_overlap`` and the task's prediction options. A file that
    cannot be read is skipped and the others are processed; after the last, the skipped ones
    go to the command's list of failures (see :mod:`imgen.failures`), or, called outside the
    command line, are raised as one DataError that lists them.
    """
    from imgen.data.folder import read_image_tensor, save_image_tensor
    from imgen.errors import DataError
    from imgen.failures import Failure, report_failures

    if Path(out).is_file():
        raise UsageError(f"-o {out} is a file; predict writes its PNGs into a folder")
    failed: list[Failure] = []
    for file, name in iter_inputs(inputs):
        try:
            image = read_image_tensor(file).unsqueeze(0)
        except DataError as exc:
            failed.append(Failure.of(file, exc))
            continue
        with torch.inference_mode():  # uint8 out: a large tiled image needs no float copy
            result = model.predict_tensor(image, out_dtype=torch.uint8, **options)
        target = Path(out) / name
        save_image_tensor(result[0], target)
        yield target
    report_failures(failed)


def generate_files(
    model: Any,
    out: str,
    *,
    n: int = 64,
    seed: int = 0,
    label: str | None = None,
    separate: bool = False,
) -> Iterator[Path]:
    """Draw ``n`` samples from a generation model (:class:`imgen.api.TorchModel`); yields the
    written PNG paths.

    Without ``separate`` one grid goes to the file ``out`` (``ceil(sqrt(n))`` images a row,
    read row by row); with it, ``out`` is a folder of ``0000.png``, ``0001.png``, ... (with
    the class in the name for a conditional run: ``0000_cat.png``).
    """
    import math

    from torchvision.utils import make_grid

    from imgen.data.folder import IMAGE_EXTENSIONS, save_image_tensor

    target = Path(out)
    if separate and target.is_file():
        raise UsageError(f"-o {out} is a file; --separate writes one PNG per sample into a folder")
    if not separate and (target.is_dir() or target.suffix.lower() not in IMAGE_EXTENSIONS):
        raise UsageError(
            f"-o {out} is not an image file name; give the grid a name such as grid.png, "
            "or add --separate to write one PNG per sample into a folder"
        )
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    images = model.generate(n, seed=seed, label=label).cpu()
    task = model.loaded.task
    if not separate:
        grid = make_grid(images, nrow=math.ceil(math.sqrt(n)), padding=2, pad_value=0.0)
        save_image_tensor(grid, target)  # RGB, as every imgen writer (gray: R = G = B)
        yield target
        return
    labels = task.generated_labels(n, label)
    for i, image in enumerate(images):
        name = f"{i:04d}_{labels[i]}.png" if labels else f"{i:04d}.png"
        save_image_tensor(image, target / name)
        yield target / name
