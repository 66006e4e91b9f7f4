"""``imgen prepare``: cut a folder of large training images into a prepared dataset.

Torch-free at import, like every module of :mod:`imgen.cli`; the work is
:func:`imgen.data.prepared.prepare_folder`.
"""

from __future__ import annotations

import click

from imgen.cli.common import CONTEXT


@click.command(context_settings=CONTEXT)
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of HR training images (searched recursively).",
)
@click.option("-o", "--out", required=True, type=click.Path(), help="The dataset folder to write.")
@click.option(
    "--crop", type=click.IntRange(1), default=480, show_default=True, help="Sub-image side."
)
@click.option(
    "--step",
    type=click.IntRange(1),
    default=240,
    show_default=True,
    help="Pixels between sub-images (less than --crop: they overlap).",
)
@click.option(
    "--thresh-size",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Add a last sub-image flush with the edge when more than this many pixels are left.",
)
@click.option(
    "--scale",
    type=click.IntRange(1, 8),
    default=None,
    help="Also store each sub-image's MATLAB-bicubic LR at this factor (imgen train sr "
    "--degradation bicubic then reads it) [default: HR only].",
)
@click.option(
    "--images-per-shard",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Source images per tar shard (8 DIV2K images: about 100 MB).",
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Processes writing shards (0: one per CPU core).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check the sha256 of every finished shard before skipping it [default: only of "
    "shards whose size or modification time changed].",
)
def prepare(
    data: str,
    out: str,
    crop: int,
    step: int,
    thresh_size: int,
    scale: int | None,
    images_per_shard: int,
    workers: int,
    verify: bool,
) -> None:
    """Cut the images in --data into overlapping sub-images (BasicSR's extract_subimages:
    480 pixels every 240), written as PNGs in tar shards with a manifest (counts, sizes,
    sha256 per shard, the byte offset of every sub-image). imgen train sr --data OUT then reads
    one small PNG per crop instead of a whole image, in bounded memory, on any number of ranks.
    Running it again rewrites only the shards that are missing, changed (by size, time or
    --verify's sha256) or incomplete; files that cannot be read are listed and skipped.

    \b
    Examples:
      imgen prepare --data ./DIV2K_train_HR -o ./DIV2K-sub
      imgen train sr --data ./DIV2K-sub --scale 4 --steps 100000
      imgen prepare --data ./DF2K_HR -o ./DF2K-sub-x4 --scale 4 --workers 16
    """
    from imgen.data.prepared import prepare_folder

    result = prepare_folder(
        data,
        out,
        crop=crop,
        step=step,
        thresh_size=thresh_size,
        scale=scale,
        images_per_shard=images_per_shard,
        workers=workers,
        verify=verify,
    )
    kept = result.shards - result.written
    click.echo(
        f"imgen: {result.samples} sub-images of {result.images} images in {result.shards} "
        f"shards ({result.bytes / 1e6:.0f} MB; {result.written} written, {kept} already "
        f"complete) in {result.out}",
        err=True,
    )
    click.echo(str(result.out))
