"""``imgen degrade``: write the LR images of a folder of HR images (test and training sets).

Torch-free at import, like every module of :mod:`imgen.cli`; the work is
:func:`imgen.data.degradations.files.degrade_folder`.
"""

from __future__ import annotations

import click

from imgen.cli.common import CONTEXT


@click.command(context_settings=CONTEXT)
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of HR images (searched recursively).",
)
@click.option(
    "--preset",
    default="bicubic",
    show_default=True,
    metavar="bicubic|realesrgan|FILE.toml",
    help="bicubic: MATLAB imresize (the benchmarks' LR); realesrgan: Real-ESRGAN's "
    "second-order blur, resize, noise and JPEG; FILE.toml: realesrgan with the file's "
    "parameters (as imgen train sr --degradation).",
)
@click.option("--scale", type=click.IntRange(1, 8), default=4, show_default=True, help="SR factor.")
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="With each image's relative path, fixes every random choice: the same seed writes "
    "the same bytes.",
)
@click.option(
    "--crop",
    type=click.IntRange(1),
    default=None,
    help="Write a random HR crop of N pixels per image to OUT/HR/ and its LR to OUT/LR/ "
    "(the layout imgen eval sr reads) [default: whole images, LR only, to OUT/].",
)
@click.option(
    "--device", default="auto", show_default=True, help="Where to degrade: auto, cpu, cuda, mps."
)
@click.option("-o", "--out", required=True, type=click.Path(), help="Output folder (PNG files).")
def degrade(
    data: str, preset: str, scale: int, seed: int, crop: int | None, device: str, out: str
) -> None:
    """Make the LR images of the HR images in --data, as imgen train sr would: PNG files
    mirroring its subfolders, the same bytes for the same --seed. For one's own test sets
    (--crop, then imgen eval sr --data OUT) and training pairs (--data HR --data-lr OUT).

    \b
    Examples:
      imgen degrade --data ./DIV2K_valid_HR --preset realesrgan --scale 4 --seed 0 -o ./real-x4
      imgen degrade --data ./photos --preset realesrgan --crop 256 -o ./testset
      imgen eval sr --run runs/sr-20261127-101500 --data ./testset
      imgen degrade --data ./photos --preset my-degradation.toml --scale 2 -o ./lr-x2
    """
    from imgen.data.degradations import resolve_degradation
    from imgen.data.degradations.files import degrade_folder

    kind, params = resolve_degradation(preset, option="--preset")
    result = degrade_folder(
        data, out, kind=kind, params=params, scale=scale, seed=seed, crop=crop, device=device
    )
    what = "LR images and their HR crops" if crop else "LR images"
    click.echo(f"imgen: wrote {result['written']} {what} to {result['out']}", err=True)
    click.echo(result["out"])
