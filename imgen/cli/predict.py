"""``imgen predict``: apply a trained run to images, or draw samples from a generation run.

Besides its generic options it offers those of the run's task marked for prediction
(``option(..., predict=True)``), found by reading ``--run``'s config.json before parsing.
"""

from __future__ import annotations

from typing import Any

import click

from imgen.cli.common import CONTEXT, explicit, fail
from imgen.errors import ImgenError, UsageError


class PredictCommand(click.Command):
    """``imgen predict``: also offers the options the run's task marks for prediction
    (e.g. ``--direction`` for style), found by reading ``--run``'s config.json first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        base = self.__dict__.setdefault("_base_params", list(self.params))
        self.params = list(base)  # a new invocation starts from the generic options
        run = _option_value(args, "--run")
        if run and not ctx.resilient_parsing:
            try:
                self.params += _task_predict_options(run)
            except ImgenError as exc:
                fail(exc)
        return super().parse_args(ctx, args)


def _option_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _task_predict_options(run: str) -> list[click.Option]:
    from pathlib import Path

    from imgen.config import click_options
    from imgen.engine.rundir import read_config
    from imgen.plugins import registries

    if not (Path(run) / "config.json").exists():
        return []  # --run's own check reports it
    task = registries().tasks.get(read_config(run)["task"])
    return click_options(task.Config, only_predict=True)


@click.command(cls=PredictCommand, context_settings=CONTEXT)
@click.option(
    "--run", required=True, type=click.Path(file_okay=False, exists=True), help="Run directory."
)
@click.argument("inputs", nargs=-1, required=False, type=click.Path(exists=True))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(),
    help="Output folder; for a generation run, the grid's PNG file (a folder with --separate).",
)
@click.option("--tile", type=int, default=None, help="Process in tiles of N input pixels.")
@click.option(
    "--tile-overlap",
    type=int,
    default=32,
    show_default=True,
    help="Context pixels around each tile (at least the receptive field for seamless output).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--raw", is_flag=True, help="Use the raw weights instead of the EMA copy.")
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
    run: str,
    inputs: tuple[str, ...],
    out: str,
    tile: int | None,
    tile_overlap: int,
    device: str,
    raw: bool,
    n: int,
    seed: int,
    label: str | None,
    separate: bool,
    **task_options: Any,
) -> None:
    """Apply a trained run to images (files or folders) of any size; writes PNGs to OUT.

    With --run, the options of the run's task are offered too (e.g. --direction for style).
    A generation run (e.g. dcgan) takes no INPUTS: it draws --n samples and writes them as
    one grid to -o FILE.png, or one PNG per sample into the -o folder with --separate.

    \b
    Examples:
      imgen predict --run runs/sr-20261127-101500 photo.png -o out/ --tile 256
      imgen predict --run runs/style-20261127-101500 --direction BtoA photos/ -o out/
      imgen predict --run runs/dcgan-20261127-101500 --n 64 --seed 1 -o grid.png
      imgen predict --run runs/dcgan-20261127-101500 --class cat --n 16 --separate -o cats/
    """
    from imgen.evaluation import generate_files, predict_files, run_takes_image

    ctx = click.get_current_context()
    if not run_takes_image(run):
        if inputs:
            raise UsageError(
                f"{run} generates images from noise and takes no INPUTS "
                f"({inputs[0]}, ...); use --n, --seed and -o FILE.png"
            )
        paths = generate_files(
            run, out, n=n, seed=seed, label=label, separate=separate, device=device, ema=not raw
        )
    else:
        generation = ("n", "seed", "label", "separate")
        given = [p for p in generation if explicit(ctx, {p: None})]
        if given:
            names = {"n": "--n", "seed": "--seed", "label": "--class", "separate": "--separate"}
            raise UsageError(
                f"{names[given[0]]} is for generation runs (e.g. dcgan); {run} applies its "
                "task to INPUTS images"
            )
        if not inputs:
            raise UsageError(f"missing INPUTS: the image files or folders to apply {run} to")
        paths = predict_files(
            run,
            inputs,
            out,
            tile=tile,
            tile_overlap=tile_overlap,
            device=device,
            ema=not raw,
            **task_options,
        )
    for path in paths:
        click.echo(str(path))
