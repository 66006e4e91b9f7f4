"""``imgen bench``: the benchmark suite on this machine's CPU or GPU.

Torch-free at import, like every module of :mod:`imgen.cli`, so that ``imgen --help`` stays
fast; the suite itself is :mod:`imgen.bench`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from imgen.cli.common import CONTEXT, KeepsArgs, without_option
from imgen.errors import UsageError


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse_sets(items: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as JSON where they parse (numbers, true, null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r} is not KEY=VALUE (e.g. --set num_block=8)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip().replace("-", "_")] = value
    return out


@click.command(cls=KeepsArgs, context_settings=CONTEXT)
@click.argument("tasks", nargs=-1, metavar="[TASK[:VARIANT]]...")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda if there is one, else cpu), cuda, cuda:N or cpu.",
)
@click.option(
    "--quick", is_flag=True, help="Fewer modes, steps and repeats (CPU: under 10 minutes)."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report (machine, versions, settings, every row) to this file.",
)
@click.option(
    "--modes",
    default=None,
    metavar="LIST",
    help="Training modes to measure, comma-separated [default: all; --quick: "
    "baseline,defaults,bf16,channels_last,fused,fast].",
)
@click.option(
    "--sections",
    default=None,
    metavar="LIST",
    help="Sections to run, comma-separated [default: train,inference,data,degradation,metrics].",
)
@click.option("--steps", type=click.IntRange(1), default=None, help="Timed training steps.")
@click.option(
    "--warmup",
    type=click.IntRange(0),
    default=None,
    help="Untimed warm-up steps (at least 1; compiled modes at least 3).",
)
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Training batch.")
@click.option("--crop", type=click.IntRange(1), default=None, help="Training crop (pixels).")
@click.option(
    "--size", type=click.IntRange(16), default=None, help="Inference: output side in pixels."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="A task config option for every row (repeatable), e.g. --set num_block=8.",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Start no torch.compile mode that would end after this many minutes of the suite "
    "(as long as the longest so far); they are listed as skipped [default: 6 on a GPU, 25 "
    "on the CPU; --quick measures no compiled mode].",
)
@click.option(
    "--images",
    type=click.IntRange(1),
    default=None,
    help="Data section: synthetic 2K PNGs of the data-source table (2K PNGs, prepared "
    "shards, cache) [default: 40; --quick: 8; DIV2K's size: 800].",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Time the training step data-parallel in N processes on this node (DDP through "
    "torchrun's launcher; the batch is the global one): the training section only.",
)
def bench(
    tasks: tuple[str, ...],
    device: str,
    quick: bool,
    json_path: str | None,
    modes: str | None,
    sections: str | None,
    steps: int | None,
    warmup: int | None,
    batch_size: int | None,
    crop: int | None,
    size: int | None,
    sets: tuple[str, ...],
    max_minutes: float | None,
    images: int | None,
    nproc: int,
) -> None:
    """Measure imgen on this machine: training, inference, data pipeline, degradation, metrics.

    Training: samples/s, peak memory, FLOPs and TFLOP/s of each task's real training step (D
    and G updates) in the baseline mode (fp32, NCHW, eager, plain Adam), each speed knob
    alone, imgen's defaults, and `fast`, the best combination. Inference: megapixels/s whole
    and tiled. Data: what the loader delivers against what the step consumes. Degradation:
    megapixels/s of HR turned into SR inputs (bicubic, realesrgan). Metrics: PSNR
    and SSIM speed and agreement with scikit-image. Prints Markdown tables to stdout,
    progress to stderr.

    TASK is a registered task (a plugin's too), optionally with one of its variants, e.g.
    sr:rrdbnet; without TASK every task is measured.

    \b
    Examples:
      imgen bench --quick --device cpu
      imgen bench --device cuda --json benchmarks/results/h100-2026-11-27.json
      imgen bench sr:srresnet --modes baseline,bf16 --steps 3 --sections train
      imgen bench sr:rrdbnet --nproc 8 --device cuda --modes baseline,defaults,fast
      imgen bench sr --sections data --images 800    # 2K PNGs vs prepared shards vs cache
    """
    from imgen.bench import SuiteOptions, run_suite
    from imgen.bench.table import render
    from imgen.engine import distributed

    job = distributed.from_environment()
    if nproc > 1 and not job.enabled:  # this process only launches one bench per rank
        args = without_option(click.get_current_context().meta["imgen.args"], "--nproc")
        distributed.launch(nproc, ["bench", *args])
        return
    if job.enabled:
        # A DDP step is timed: the other sections are not distributed, and a compile
        # budget read from each rank's own clock could make the ranks choose differently.
        if sections and _split(sections) != ["train"]:
            raise UsageError("with --nproc imgen bench times the training section only")
        sections, max_minutes = "train", float("inf")

    options = SuiteOptions(
        tasks=tasks,
        device=device,
        quick=quick,
        modes=_split(modes),
        sections=_split(sections),
        steps=steps,
        warmup=warmup,
        batch_size=batch_size,
        crop=crop,
        size=size,
        overrides=_parse_sets(sets),
        max_minutes=max_minutes,
        images=images,
    )
    if job.enabled and not job.is_main:
        options.log = lambda message: None
    try:
        report = run_suite(options)
    finally:
        distributed.Distributed(job.rank, job.world_size).close()
    report["settings"]["nproc"] = job.world_size
    if not job.is_main:
        return
    click.echo(render(report), nl=False)
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"imgen bench: wrote {path}", err=True)
