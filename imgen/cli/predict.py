"""``imgen predict``: apply a run or a model file to images, or draw samples from a
generation run.

Besides its generic options it offers those of the model's task marked for prediction
(``option(..., predict=True)``), found before parsing from ``--run``'s config.json or the
layout of the ``--weights`` file.
"""

from __future__ import annotations

from typing import Any

import click

from imgen.cli.common import CONTEXT, explicit, fail
from imgen.errors import ImgenError, UsageError


class PredictCommand(click.Command):
    """A command that also offers the options the model's task marks for prediction (e.g.
    ``--direction`` for style), found by reading ``--run``'s config.json or detecting the
    ``--weights`` file's layout first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        base = self.__dict__.setdefault("_base_params", list(self.params))
        self.params = list(base)  # a new invocation starts from the generic options
        if not ctx.resilient_parsing:
            try:
                weights, task = _option_value(args, "--weights"), _option_value(args, "--task")
                name = _option_value(args, "--model")
                if name and not weights:
                    if "--no-download" in args:
                        from imgen.hub import set_offline

                        set_offline()
                    weights, task = resolve_model(name, task)
                self.params += _task_predict_options(_option_value(args, "--run"), weights, task)
            except ImgenError as exc:
                fail(exc)
        return super().parse_args(ctx, args)


# Outputs beyond 16 times the input's side are not an upscale a model gives (a 1000 px photo
# would already make a 16000 px output).
MAX_OUTSCALE = 16.0


def _finite(param: click.Parameter, value: float | None) -> float | None:
    """Refuse NaN, which click's FloatRange lets through (no comparison holds for it)."""
    if value is not None and value != value:
        raise click.BadParameter(f"{value} is not a number", param=param)
    return value


def _option_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def resolve_model(name: str, task: str | None) -> tuple[str, str | None]:
    """``--model NAME``: the published model's file (pulled into the hub cache when absent,
    unless offline) and the task it runs as (``--task`` wins)."""
    from imgen.published import find, pull

    entry = find(name)
    # Parsing (for the task's options) and the command both ask: pull and hash once.
    key = (name, str(entry.path))
    if key not in _PULLED or not entry.path.is_file():
        _PULLED[key] = str(pull(name))
    return _PULLED[key], task or entry.task


_PULLED: dict[tuple[str, str], str] = {}


def _task_class(run: str | None, weights: str | None, task: str | None) -> Any:
    """The task class of ``--run``'s config.json or of the ``--weights`` file's layout; None
    for an ONNX file or a path the options' own checks will report."""
    from pathlib import Path

    from imgen.plugins import registries

    name = None
    if run and (Path(run) / "config.json").exists():
        from imgen.engine.rundir import read_config

        name = read_config(run)["task"]
    elif weights and Path(weights).is_file() and not weights.lower().endswith(".onnx"):
        from imgen.weights.loading import detect_file

        name = detect_file(weights, task).task
    return None if name is None else registries().tasks.get(name)


def _task_predict_options(
    run: str | None, weights: str | None, task: str | None
) -> list[click.Option]:
    from imgen.config import click_options

    found = _task_class(run, weights, task)
    return [] if found is None else click_options(found.Config, only_predict=True)


def model_options(function: Any) -> Any:
    """The options that choose a model: ``--run``, ``--weights`` or ``--model`` (with
    ``--task``), ``--no-download``, ``--device``, ``--precision``, ``--raw``."""
    options = [
        click.option(
            "--run",
            type=click.Path(file_okay=False, exists=True),
            default=None,
            help="Run directory (its config and weights).",
        ),
        click.option(
            "--weights",
            type=click.Path(dir_okay=False, exists=True),
            default=None,
            help="A model file made elsewhere (.pth, .pt, .ckpt, .safetensors; `imgen "
            "formats` lists the layouts) or an ONNX file from `imgen export`.",
        ),
        click.option(
            "--model",
            "model_name",
            default=None,
            metavar="NAME",
            help="A published model by name (`imgen models --published`), pulled into the hub "
            "cache when absent.",
        ),
        click.option(
            "--no-download",
            is_flag=True,
            help="Never use the network (as IMGEN_OFFLINE=1): a missing file is an error that "
            "says where to put it.",
        ),
        click.option(
            "--task",
            "task_name",
            default=None,
            help="With --weights: the task to run the file as, where its layout fits several "
            "(a CycleGAN generator: style or translate).",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps."),
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "fp16", "bf16"]),
            default="auto",
            show_default=True,
            help="auto: bf16 on a CUDA device that has it, else fp32; a network that does not "
            "support a half type runs in fp32.",
        ),
        click.option("--raw", is_flag=True, help="Use a run's raw weights, not its EMA copy."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def load_chosen(
    run: str | None,
    weights: str | None,
    task_name: str | None,
    device: str,
    precision: str,
    raw: bool,
    model_name: str | None = None,
    no_download: bool = False,
) -> Any:
    """The :class:`imgen.api.Model` that ``model_options`` chose (its notes said on stderr)."""
    from imgen.api import load

    if no_download:
        from imgen.hub import set_offline

        set_offline()
    if model_name is not None:
        if run is not None or weights is not None:
            raise UsageError("give one of --run, --weights and --model")
        weights, task_name = resolve_model(model_name, task_name)
    if (run is None) == (weights is None):
        raise UsageError(
            "give a run directory with --run, a model file with --weights or a published "
            "model with --model"
        )
    if task_name and run:
        raise UsageError("--task goes with --weights; a run directory knows its task")
    model = load(run or weights, device=device, precision=precision, task=task_name, ema=not raw)
    if model.architecture:
        click.echo(f"imgen: {weights}: {model.architecture}", err=True)
    for note in model.notes:
        click.echo(f"imgen: note: {note}", err=True)
    return model


@click.command(cls=PredictCommand, context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=False, type=click.Path(exists=True))
@model_options
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(),
    help="Output folder; for a generation run, the grid's PNG file (a folder with --separate).",
)
@click.option(
    "--tile",
    type=int,
    default=None,
    help="Process in tiles of N input pixels, for images too large to predict whole (512 "
    "costs about 1.2x the compute of whole-image prediction; smaller tiles cost more); 0: "
    "never tile [default: whole images, or tiles (said on stderr) when the network's "
    "activations for the whole image would exceed half the available memory; on a GPU that "
    "runs out of memory, tiles of half the size until they fit].",
)
@click.option(
    "--tile-overlap",
    type=int,
    default=32,
    show_default=True,
    help="Context pixels around each tile (at least the receptive field for seamless output).",
)
@click.option(
    "--ext",
    type=click.Choice(["auto", "png", "jpg", "webp", "tif"]),
    default="auto",
    show_default=True,
    help="Output format (auto: the input's; an image with alpha is never written as JPEG).",
)
@click.option(
    "--suffix",
    default=None,
    help="Added to each output name [default: none when -o is another folder than the "
    "input's, else the task's, e.g. _x4].",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist (never an input).")
@click.option(
    "--outscale",
    type=click.FloatRange(0, MAX_OUTSCALE, min_open=True),
    callback=lambda ctx, param, value: _finite(param, value),
    default=None,
    help="Resize the output to this many times the input's size (bicubic), e.g. 3.5 with an "
    "x4 model [default: the model's scale].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--n", "n", type=int, default=64, show_default=True, help="Generation runs: samples to draw."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generation runs: noise seed.")
@click.option(
    "--class",
    "label",
    default=None,
    metavar="NAME",
    help="Conditional generation runs: draw every sample from this class [default: all "
    "classes, in equal blocks].",
)
@click.option(
    "--separate", is_flag=True, help="Generation runs: one PNG per sample into the -o folder."
)
def predict(
    inputs: tuple[str, ...],
    run: str | None,
    weights: str | None,
    model_name: str | None,
    no_download: bool,
    task_name: str | None,
    device: str,
    precision: str,
    raw: bool,
    out: str,
    tile: int | None,
    tile_overlap: int,
    ext: str,
    suffix: str | None,
    overwrite: bool,
    outscale: float | None,
    quiet: bool,
    n: int,
    seed: int,
    label: str | None,
    separate: bool,
    **task_options: Any,
) -> None:
    """Apply a run or a model file to images (files or folders) of any size; writes the
    results into the OUT folder.

    Each output keeps its input's name and subfolder, format (--ext), bit depth (16-bit
    PNG/TIFF in, 16-bit out), gray or colour, alpha, ICC profile and EXIF. Inputs are never
    overwritten, other existing files only with --overwrite.

    --weights takes a model made elsewhere (ESRGAN, Real-ESRGAN, SwinIR and spandrel's other
    architectures, pix2pix, CycleGAN, DCGAN: `imgen formats`) or an ONNX file from `imgen
    export`. The options of the model's task are offered too (e.g. --direction for style). A
    generation run (e.g. dcgan) takes no INPUTS: it draws --n samples and writes them as one
    grid to -o FILE.png, or one PNG per sample into the -o folder with --separate.

    \b
    Examples:
      imgen predict --run runs/sr-20261127-101500 photo.png -o out/ --tile 256
      imgen predict --weights RealESRGAN_x4plus.pth photos/ -o out/ --tile 512
      imgen predict --model RealESRGAN_x4plus photos/ -o out/ --tile 512
      imgen predict --weights RealESRGAN_x4plus.pth scan.tif -o out/ --outscale 2 --ext png
      imgen predict --weights model.onnx photo.png -o out/
      imgen predict --run runs/style-20261127-101500 --direction BtoA photos/ -o out/
      imgen predict --run runs/dcgan-20261127-101500 --n 64 --seed 1 -o grid.png
    """
    from imgen.config import check_tiling
    from imgen.evaluation import generate_files, predict_files

    ctx = click.get_current_context()
    check_tiling(tile, tile_overlap)
    if no_download:
        from imgen.hub import set_offline

        set_offline()
    if model_name is not None and run is None and weights is None:
        weights, task_name = resolve_model(model_name, task_name)
        model_name = None
    if suffix is not None and ("/" in suffix or "\\" in suffix or ".." in suffix):
        # An output name stays inside -o: a suffix is added to a file name, never a path.
        raise UsageError(f"--suffix {suffix!r} holds a path separator or '..'; give a plain suffix")
    source = run or weights
    # Usage errors before the (slow) model load.
    found = _task_class(run, weights, task_name)
    takes_image = found is None or found.takes_image
    if not takes_image and inputs:
        raise UsageError(
            f"{source} generates images from noise and takes no INPUTS "
            f"({inputs[0]}, ...); use --n, --seed and -o FILE.png"
        )
    if takes_image:
        generation = ("n", "seed", "label", "separate")
        given = [p for p in generation if explicit(ctx, {p: None})]
        if given:
            names = {"n": "--n", "seed": "--seed", "label": "--class", "separate": "--separate"}
            raise UsageError(
                f"{names[given[0]]} is for generation runs (e.g. dcgan); {source} applies its "
                "task to INPUTS images"
            )
        if not inputs:
            raise UsageError(f"missing INPUTS: the image files or folders to apply {source} to")
    model = load_chosen(run, weights, task_name, device, precision, raw, model_name)
    if not model.takes_image:
        paths = generate_files(model, out, n=n, seed=seed, label=label, separate=separate)
    else:
        paths = predict_files(
            model,
            inputs,
            out,
            ext=ext,
            suffix=suffix,
            overwrite=overwrite,
            outscale=outscale,
            quiet=quiet,
            tile=tile,
            tile_overlap=tile_overlap,
            **task_options,
        )
    for path in paths:
        click.echo(str(path))
