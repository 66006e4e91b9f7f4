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
    quiet: bool = True,
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
    from imgen.progress import progress_bar

    with (
        collect_failures() as failed,
        torch.inference_mode(),
        progress_bar(None, f"eval {task.name}", quiet=quiet),
    ):
        result = task.evaluate(nets, data, metrics=tuple(metrics), **options)
    result.setdefault("notes", [])
    result["notes"] = list(dict.fromkeys(notes + result["notes"]))  # each note once
    result["failed"] = [{"path": f.path, "reason": f.reason} for f in failed]
    where = {"run": run} if weights is None else {"run": None, "weights": str(weights)}
    return {"task": task.name, **where, "data": None if data is None else str(data), **result}


def iter_inputs(inputs: tuple[str, ...] | list[str]) -> Iterator[tuple[Path, Path]]:
    """(file, its path relative to the output folder) for files and folders of images: a
    folder's subfolders are mirrored, a file goes to the top of the output folder."""
    from imgen.data.folder import scan_images

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for file in scan_images(path):
                yield file, file.relative_to(path)
        else:
            yield path, Path(path.name)


# Input suffix -> the suffix written with --ext auto.
_AUTO_SUFFIX = {".jpeg": ".jpg", ".tiff": ".tif"}


def plan_outputs(
    inputs: tuple[str, ...] | list[str],
    out: str | Path,
    *,
    ext: str = "auto",
    suffix: str | None = None,
    task_suffix: str = "",
    overwrite: bool = False,
) -> list[tuple[Path, Path]]:
    """(input file, output file) of each input of ``imgen predict``.

    The output keeps the input's relative path (subfolders mirrored) and name; ``suffix`` is
    added to the name (default: none when the output lands in another folder than the input,
    else ``task_suffix``, e.g. ``_x4``); ``ext`` is the format (``auto``: the input's). Names
    that would collide (``small.png`` and ``small.jpg`` as PNG) keep the input's extension
    (``small_png.png``, ``small_jpg.png``). An input is never overwritten, and an existing
    output only with ``overwrite``: both are a UsageError before anything is written.
    """
    from imgen.data.picture import EXTENSIONS

    out = Path(out)
    if out.is_file():
        raise UsageError(f"-o {out} is a file; predict writes its images into a folder")
    if ext != "auto" and ext not in EXTENSIONS:
        raise UsageError(f"--ext {ext} is not supported; use auto, {', '.join(EXTENSIONS)}")
    planned: list[tuple[Path, Path, str]] = []
    for file, rel in iter_inputs(inputs):
        folder = (out / rel).parent
        same = folder.resolve() == file.parent.resolve()
        added = (task_suffix if same else "") if suffix is None else suffix
        new_ext = f".{ext}" if ext != "auto" else _AUTO_SUFFIX.get(file.suffix.lower(), "")
        new_ext = new_ext or file.suffix.lower()
        planned.append((file, folder / f"{rel.stem}{added}{new_ext}", added))
    counts: dict[Path, int] = {}
    for _, target, _ in planned:
        counts[target] = counts.get(target, 0) + 1
    pairs = []
    inputs_resolved = {file.resolve() for file, _, _ in planned}
    for file, target, added in planned:
        if counts[target] > 1:  # keep both: the input's extension goes into the name
            kept = file.suffix.lower().lstrip(".")
            target = target.with_name(f"{file.stem}_{kept}{added}{target.suffix}")
        if target.resolve() in inputs_resolved:
            raise UsageError(
                f"{target} is an input; predict never overwrites its inputs: choose another -o "
                "folder or a --suffix"
            )
        pairs.append((file, target))
    existing = [str(t) for _, t in pairs if t.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise UsageError(
            f"{', '.join(existing[:3])}{more} exist already; pass --overwrite to replace them, "
            "or choose another -o folder"
        )
    return pairs


def predict_files(
    model: Any,
    inputs: tuple[str, ...] | list[str],
    out: str,
    *,
    ext: str = "auto",
    suffix: str | None = None,
    overwrite: bool = False,
    outscale: float | None = None,
    quiet: bool = True,
    **options: Any,
) -> Iterator[Path]:
    """Apply an :class:`imgen.api.Model` to image files faithfully; yields the written paths.

    Each output keeps its input's bit depth (16-bit in, 16-bit out, computed in float), gray
    or colour, alpha (resized and put back), ICC profile and EXIF (see
    :mod:`imgen.data.picture`); ``outscale`` resizes it to that many times the input's size.
    Names follow :func:`plan_outputs`. ``options``: ``tile``, ``tile_overlap`` and the task's
    prediction options. A file that cannot be read is skipped and the others are processed;
    after the last, the skipped ones go to the command's list of failures (see
    :mod:`imgen.failures`), or, called outside the command line, are raised as one DataError.
    A progress bar (images, MP/s) goes to stderr unless ``quiet``.
    """
    from imgen.data.picture import finish, output_format, read_picture, write_picture
    from imgen.errors import DataError
    from imgen.failures import Failure, report_failures
    from imgen.progress import progress_bar

    suffix_of_task = f"_x{model.scale}" if model.scale > 1 else f"_{model.task}"
    pairs = plan_outputs(
        inputs, out, ext=ext, suffix=suffix, task_suffix=suffix_of_task, overwrite=overwrite
    )
    failed: list[Failure] = []
    said: set[str] = set()
    with progress_bar(len(pairs), "predict", unit="image", quiet=quiet) as bar:
        for file, target in pairs:
            try:
                picture = read_picture(file)
            except DataError as exc:
                failed.append(Failure.of(file, exc))
                bar.advance(0)
                continue
            fmt, notes = output_format(picture, ext)
            for note in notes:
                if note not in said:  # each kind of note once
                    said.add(note)
                    bar.write(f"imgen: note: {note}")
            if fmt == "PNG" and target.suffix.lower() != ".png":
                target = target.with_suffix(".png")
            # Colour at its own size: integer levels straight from the (tiled) blend, never a
            # float copy of the whole output (16000x12000 RGB: 0.58 GB in uint8, 2.3 in float).
            as_levels = not (picture.gray or picture.has_alpha or outscale)
            levels = torch.uint16 if picture.depth == 16 else torch.uint8
            with torch.inference_mode():
                result = model.predict_tensor(
                    picture.color(), out_dtype=levels if as_levels else None, **options
                )
                pixels = finish(picture, result, outscale=outscale)
            write_picture(target, pixels, fmt, picture)
            bar.advance(pixels.shape[0] * pixels.shape[1] / 1e6)
            yield target
    report_failures(failed)


def _check_generation_memory(model: Any, n: int, seed: int, label: str | None) -> None:
    """Refuse an ``--n`` whose samples cannot be held: they are drawn into one float tensor
    (and a grid of the same size), so ``--n 100000`` would exhaust the memory unchecked."""
    from imgen.engine.device import available_memory

    one = model.generate(1, seed=seed, label=label)  # its size: any generation task
    need = 3 * 4 * one[0].numel() * n  # float samples, the float grid, the uint8 copies
    have = available_memory()
    if have and need > have // 2:
        most = max(1, (have // 2) // (3 * 4 * one[0].numel()))
        raise UsageError(
            f"--n {n} samples of {'x'.join(map(str, one.shape[1:]))} need about "
            f"{need / 1024**3:.1f} GB, more than half of the {have / 1024**3:.1f} GB of memory "
            f"available; draw at most {most} at a time (another --seed for more)"
        )


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
    _check_generation_memory(model, n, seed, label)
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
