"""``imgen install``, ``imgen uninstall`` and ``imgen new-plugin``: managing plugins.

``install`` and ``uninstall`` run pip in imgen's own environment (``sys.executable -m pip``),
so a plugin lands where this ``imgen`` looks for it, whatever ``pip`` comes first on PATH.
Neither imports any plugin: a broken plugin never stands in the way of removing it. Like the
rest of the light commands, nothing here imports torch. The skeleton's files come from
:mod:`imgen.cli.scaffold`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import click

from imgen.cli.common import CONTEXT
from imgen.errors import UsageError


def run_pip(args: list[str]) -> int:
    """Run ``python -m pip ARGS`` with this interpreter; returns pip's exit status.

    pip's output goes straight to the terminal, and its prompts (uninstall asks) read stdin.
    """
    command = [sys.executable, "-m", "pip", *args]
    click.echo(f"imgen: {shlex.join(command)}", err=True)
    return subprocess.run(command, check=False).returncode


def _exit(status: int) -> None:
    if status:
        raise click.exceptions.Exit(status)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@click.command(context_settings=CONTEXT)
@click.argument("packages", nargs=-1)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade to the newest versions.")
@click.option(
    "-e",
    "--editable",
    "editables",
    multiple=True,
    metavar="PATH",
    help="Install the project in PATH in editable mode (repeatable).",
)
@click.option("--force-reinstall", is_flag=True, help="Reinstall even when up to date.")
@click.option("--no-deps", is_flag=True, help="Install no dependencies.")
@click.option(
    "--no-build-isolation",
    is_flag=True,
    help="Build with this environment's packages (e.g. hatchling) instead of downloading them.",
)
@click.option("--pre", is_flag=True, help="Allow pre-release versions.")
@click.option("--no-cache-dir", is_flag=True, help="Do not use pip's cache.")
def install(
    packages: tuple[str, ...],
    upgrade: bool,
    editables: tuple[str, ...],
    force_reinstall: bool,
    no_deps: bool,
    no_build_isolation: bool,
    pre: bool,
    no_cache_dir: bool,
) -> None:
    """Install plugins (PyPI names, local paths, URLs) into imgen's environment with pip.

    A plugin is a distribution with an `imgen` entry point; its tasks and models show up in
    `imgen tasks`, `imgen models` and `imgen plugins` right away.

    \b
    Examples:
      imgen install imgen-denoise
      imgen install -e examples/imgen-denoise
      imgen install -U imgen-denoise
    """
    if not packages and not editables:
        raise click.UsageError("name at least one package to install (or -e PATH)")
    args = ["install"]
    for flag, on in (
        ("--upgrade", upgrade),
        ("--force-reinstall", force_reinstall),
        ("--no-deps", no_deps),
        ("--no-build-isolation", no_build_isolation),
        ("--pre", pre),
        ("--no-cache-dir", no_cache_dir),
    ):
        if on:
            args.append(flag)
    for path in editables:
        args += ["--editable", path]
    _exit(run_pip([*args, *packages]))


def distribution_of(name: str) -> str | None:
    """The distribution that provides the plugin (entry point) ``name``, if one does.

    Read from the installed metadata only: the plugin itself is not imported.
    """
    for ep in metadata.entry_points(group="imgen"):
        dist = getattr(ep, "dist", None)
        if ep.name == name and dist is not None:
            return dist.name
    return None


def _uninstall_target(name: str) -> str:
    """The distribution to remove for ``name``: a distribution, or a plugin's name."""
    try:
        dist = metadata.distribution(name).name
    except metadata.PackageNotFoundError:
        dist = distribution_of(name)
        if dist is None:
            return name  # pip says it is not installed
        if _canonical(dist) != "imgen":
            click.echo(f"imgen: plugin {name!r} comes from {dist}", err=True)
    if _canonical(dist) == "imgen":
        if _canonical(name) == "imgen":
            raise UsageError(
                "imgen uninstall removes plugins, not imgen itself; run "
                "`python -m pip uninstall imgen` for that"
            )
        raise UsageError(
            f"plugin {name!r} is built into imgen; disable it with IMGEN_DISABLE_PLUGINS={name}"
        )
    return dist


@click.command(context_settings=CONTEXT)
@click.argument("packages", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall(packages: tuple[str, ...], yes: bool) -> None:
    """Uninstall plugins from imgen's environment with pip.

    PACKAGES are distribution names (imgen-denoise) or plugin names as `imgen plugins` shows
    them (denoise). Works even when an installed plugin is broken: no plugin is imported.

    \b
    Examples:
      imgen uninstall imgen-denoise
      imgen uninstall -y denoise
    """
    try:
        targets = [_uninstall_target(name) for name in packages]
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    _exit(run_pip(["uninstall", *(["--yes"] if yes else []), *targets]))


@click.command("new-plugin", context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "-o",
    "--out",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write [default: ./NAME].",
)
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
def new_plugin(name: str, directory: str | None, force: bool) -> None:
    """Write a plugin skeleton: a pyproject, a package whose hooks register a task and a
    model, and a test that checks both with imgen.testing.

    NAME is the task's name (lowercase letters, digits, - or _); the distribution is
    imgen-NAME and the package imgen_NAME. The skeleton passes its own tests as it is.

    \b
    Examples:
      imgen new-plugin demo
      imgen install -e demo && pytest demo && imgen plugins
    """
    from imgen.cli.scaffold import write_plugin

    try:
        files = write_plugin(name, Path(directory or name), force=force)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    root = Path(directory or name)
    for path in files:
        click.echo(str(path))
    click.echo(
        f"imgen: next: imgen install -e {shlex.quote(str(root))} && "
        f"pytest {shlex.quote(str(root))} && imgen plugins",
        err=True,
    )


COMMANDS = [install, uninstall, new_plugin]
