"""``imgen report``: a self-contained HTML page about one or several runs (:mod:`imgen.report`).

Torch-free, like every module of :mod:`imgen.cli`: the page is made from the run directories'
files alone (matplotlib draws the curves).
"""

from __future__ import annotations

import click

from imgen.cli.common import CONTEXT, examples, guard


@click.command(
    context_settings=CONTEXT,
    help="Write an HTML report on one run, or one comparing several, and print its path.\n\n"
    "The page holds every loss and metric of metrics.jsonl as a curve (several runs on the "
    "same axes), the validation results as tables, the latest sample grids and the config; "
    "it is one file, images included, that opens without a network or scripts. One run: "
    "RUN/report.html; several: report.html in the folder that holds them (runs/report.html "
    "for runs/a runs/b), or -o FILE. Needs matplotlib: pip install 'imgen[report]'.\n\n"
    + examples(
        [
            "imgen report runs/sr-20261127-101500",
            "imgen report runs/sr-a runs/sr-b -o compare.html",
            "imgen report runs/sr-* --samples 3",
        ]
    ),
)
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="The HTML file to write [default: RUN/report.html; with several runs, report.html "
    "in their common folder].",
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="The latest N sample grids of each run to show (0: none).",
)
@guard
def report(runs: tuple[str, ...], output: str | None, samples: int) -> None:
    from imgen.report import write_report

    click.echo(str(write_report(list(runs), output, samples=samples)))
