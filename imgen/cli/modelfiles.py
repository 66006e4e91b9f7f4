"""``imgen import``, ``imgen export`` and ``imgen formats``: model files in and out."""

from __future__ import annotations

import json
from typing import Any

import click

from imgen.cli.common import CONTEXT
from imgen.cli.predict import PredictCommand, load_chosen, model_options
from imgen.errors import UsageError

# The largest --size of a fixed-size export: the parity check runs the network on one image.
MAX_EXPORT_SIZE = 4096


@click.command("import", context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", required=True, type=click.Path(), help="The new run directory.")
@click.option(
    "--task",
    "task_name",
    default=None,
    help="The task to import the file as, where its layout fits several (a CycleGAN "
    "generator: style or translate).",
)
@click.option(
    "--discriminator",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A discriminator file of the same model (e.g. RealESRGAN_x4plus_netD.pth), for GAN "
    "fine-tuning with --init.",
)
def import_(file: str, out: str, task_name: str | None, discriminator: str | None) -> None:
    """Make a run directory from a model file made elsewhere; prints its path.

    The layout is detected from the file (`imgen formats` lists them); the run has
    config.json and the weights, so that eval, predict, export, `train --init RUN` (GAN
    fine-tuning) and `train --resume RUN` (which starts at step 0 from these weights) take it.

    \b
    Examples:
      imgen import RealESRGAN_x4plus.pth -o runs/realesrgan
      imgen import RealESRGAN_x4plus.pth --discriminator RealESRGAN_x4plus_netD.pth -o runs/resr
      imgen train sr --init runs/resr --data ./photos --steps 2000
      imgen import latest_net_G_A.pth --task style -o runs/horse2zebra
    """
    from imgen.weights.loading import import_model

    run, found = import_model(file, out, task=task_name, discriminator=discriminator)
    click.echo(f"imgen: {file}: {found.architecture} (task {found.task})", err=True)
    for note in found.notes:
        click.echo(f"imgen: note: {note}", err=True)
    click.echo(str(run))


@click.command(cls=PredictCommand, context_settings=CONTEXT)
@model_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torchscript"]),
    default="onnx",
    show_default=True,
    help="onnx (runs in onnxruntime, TensorRT, OpenVINO...) or torchscript (torch.jit).",
)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option(
    "--dynamic",
    is_flag=True,
    help="Any batch size, height and width (checked at two sizes); else the --size only.",
)
@click.option(
    "--size",
    type=int,
    default=256,
    show_default=True,
    help="Input side of the exported graph and of the parity check (rounded up to the "
    "network's multiple).",
)
def export(
    run: str | None,
    weights: str | None,
    model_name: str | None,
    no_download: bool,
    task_name: str | None,
    device: str,
    precision: str,
    raw: bool,
    fmt: str,
    out: str,
    dynamic: bool,
    size: int,
    **task_options: Any,
) -> None:
    """Export a run or a model file to ONNX or TorchScript, then check the file against PyTorch.

    The graph maps a (B, C, H, W) image in [0, 1] to the output in [0, 1]; sides must be
    multiples of the network's multiple (imgen predict --weights model.onnx pads for you).
    After writing, the file is run (onnxruntime on the CPU, or torch.jit) and its largest
    difference from PyTorch is printed; above 1e-4 in fp32 the export is an error. ONNX
    needs `pip install 'imgen[export]'`.

    \b
    Examples:
      imgen export --run runs/sr-20261127-101500 -o sr.onnx --dynamic
      imgen export --weights RealESRGAN_x4plus.pth --format torchscript -o resr.pt
      imgen export --run runs/style-1 --direction BtoA -o style_btoa.onnx --precision fp16
    """
    from imgen.nn.contract import required_multiple
    from imgen.weights.export import export as export_file

    precision = "fp32" if precision == "auto" else precision
    if size < 1:
        raise UsageError(f"--size must be at least 1, got {size}")
    if size > MAX_EXPORT_SIZE:
        raise UsageError(
            f"--size must be at most {MAX_EXPORT_SIZE}, got {size} (the export runs the network "
            "on one image of that side); add --dynamic for a graph that takes larger images"
        )
    model = load_chosen(
        run,
        weights,
        task_name,
        "cpu" if device == "auto" else device,
        "fp32",
        raw,
        model_name,
        no_download,
    )
    if model.source.lower().endswith(".onnx"):
        raise UsageError(f"{model.source} is an ONNX file already")
    network = model.export_network(**task_options).cpu()
    nets = model.loaded.nets
    metadata = {
        "task": model.task,
        "scale": model.scale,
        "multiple": max(required_multiple(net) for net in nets.values()),
        "minimum": 16,
        "range": "[0, 1]",
        "source": str(model.source),
        "architecture": model.architecture or type(next(iter(nets.values()))).__name__,
        "options": json.loads(json.dumps(task_options, default=str)),
    }
    report = export_file(
        network, out, fmt=fmt, metadata=metadata, size=size, dynamic=dynamic, precision=precision
    )
    for line in report.lines():
        click.echo(f"imgen: {line}", err=True)
    click.echo(str(report.path))


@click.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
def formats(as_json: bool) -> None:
    """List the model-file layouts imgen reads (predict --weights, eval --weights, import),
    in the order they are tried.

    \b
    Example:
      imgen formats
    """
    from imgen.weights.formats import known_formats

    rows = known_formats()
    if as_json:
        click.echo(json.dumps([{"name": n, "help": h} for n, h in rows], indent=2))
        return
    width = max((len(n) for n, _ in rows), default=0)
    for name, help_text in rows:
        click.echo(f"{name:<{width}}  {help_text}")


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def pull(name: str, quiet: bool) -> None:
    """Download the published model NAME into the hub cache; prints its path.

    The file goes to torch's hub cache (TORCH_HOME/hub/checkpoints), its SHA-256 is checked
    against the published one (a wrong file is refused and removed), and an interrupted
    download resumes. `imgen models --published` lists the names; predict --model, eval
    --model and train --init take them too (and pull when needed). IMGEN_OFFLINE=1 never
    downloads.

    \b
    Examples:
      imgen pull RealESRGAN_x4plus
      imgen predict --model RealESRGAN_x4plus photo.png -o out/
    """
    from imgen.published import pull as pull_model

    click.echo(str(pull_model(name, progress=not quiet)))


COMMANDS = [import_, export, formats, pull]
