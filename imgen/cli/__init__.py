"""The ``imgen`` command line: the root group and the commands, one module per group.

=====================  ===================================================================
``cli.train``          ``imgen train TASK`` and ``imgen eval TASK`` (one subcommand per task)
``cli.predict``        ``imgen predict``
``cli.degrade``        ``imgen degrade`` (LR images of a folder of HR images)
``cli.prepare``        ``imgen prepare`` (a folder cut into sub-images in tar shards)
``cli.modelfiles``     ``imgen import``, ``export``, ``formats`` (model files in and out)
``cli.listing``        ``imgen tasks``, ``plugins``, ``models``, ``env``
``cli.install``        ``imgen install``, ``uninstall``, ``new-plugin`` (``cli.scaffold``)
``cli.bench``          ``imgen bench``
``cli.report``         ``imgen report`` (the page itself: :mod:`imgen.report`)
``cli.common``         Click settings and error handling they all share
=====================  ===================================================================

Plugins add top-level commands through ``imgen_register_commands``. ``--help``,
``--version``, ``tasks`` and ``plugins`` never import torch: no module here imports it at
import time.
"""

from __future__ import annotations

from typing import Any

import click

from imgen import __version__
from imgen.cli import (
    bench,
    degrade,
    install,
    listing,
    modelfiles,
    predict,
    prepare,
    report,
    train,
)
from imgen.cli.common import CONTEXT, fail
from imgen.errors import ImgenError
from imgen.failures import Failure, format_failures, reported_failures

__all__ = ["ImgenGroup", "cli", "main"]


class ImgenGroup(click.Group):
    """A group that turns imgen's errors into one-line messages and loads plugin commands."""

    _plugin_commands_added = False

    def _add_plugin_commands(self) -> None:
        if not self._plugin_commands_added:
            self._plugin_commands_added = True
            from imgen.plugins import get_host

            get_host().add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands:  # imgen's own commands (uninstall...) load no plugin
            self._add_plugin_commands()
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        # Files a command skipped because it could not read them (imgen predict, imgen eval)
        # are listed after its output, one line each, and make it exit with status 1.
        with reported_failures() as failed:
            try:
                result = super().invoke(ctx)
            except ImgenError as exc:
                _list_failures(failed)
                fail(exc)
        if failed:
            _list_failures(failed)
            ctx.exit(1)
        return result


def _list_failures(failed: list[Failure]) -> None:
    if failed:
        click.echo(f"imgen: {format_failures(failed)}", err=True)


@click.group(cls=ImgenGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="imgen")
def cli() -> None:
    """imgen: train, evaluate and apply image-to-image GANs from a folder of images.

    \b
    Examples:
      imgen train sr --data ./photos --scale 4 --steps 20000
      imgen eval sr --run runs/sr-20261127-101500 --data ./Set5
      imgen predict --run runs/sr-20261127-101500 photo.png -o out/
      imgen report runs/sr-20261127-101500
      imgen tasks
    """


for _command in [
    train.train,
    train.eval,
    predict.predict,
    degrade.degrade,
    prepare.prepare,
    *modelfiles.COMMANDS,  # import, export, formats
    *listing.COMMANDS,  # tasks, plugins, models, env
    *install.COMMANDS,  # install, uninstall, new-plugin
    bench.bench,
    report.report,
]:
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="imgen")
