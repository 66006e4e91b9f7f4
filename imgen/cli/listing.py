"""``imgen tasks``, ``imgen plugins``, ``imgen models`` and ``imgen env``: what is installed.

``tasks`` and ``plugins`` never import torch (``models`` builds each model, ``env`` reads
torch's versions and devices).
"""

from __future__ import annotations

import json
from typing import Any

import click

from imgen import __version__
from imgen.cli.common import CONTEXT


@click.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tasks(as_json: bool) -> None:
    """List the registered tasks and the plugins that provide them.

    \b
    Example:
      imgen tasks --json
    """
    from imgen.plugins import get_host

    host = get_host()
    rows = [
        {
            "name": e.name,
            "plugin": e.plugin,
            "version": host.plugins[e.plugin].version,
            "help": e.help,
        }
        for e in host.registries.tasks.entries()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<12} {row['help']}  [{row['plugin']} {row['version']}]")


@click.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins: version, hooks, what they registered, load status.

    \b
    Example:
      IMGEN_DISABLE_PLUGINS=sr imgen plugins --json
    """
    from imgen.plugins import get_host

    host = get_host()
    host.registries  # noqa: B018 - collect registrations so each plugin's list is filled
    rows = [info.as_dict() for info in host.plugins.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        status = row["status"] if row["status"] != "error" else f"error: {row['error']}"
        click.echo(f"{row['name']} {row['version']} ({status})")
        if row["hooks"]:
            click.echo(f"  hooks: {', '.join(row['hooks'])}")
        for kind, names in row["registered"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
        for note in row["notes"]:  # e.g. a hook of a newer imgen, ignored
            click.echo(f"  note: {note}")


@click.command(context_settings=CONTEXT)
@click.argument("pattern", required=False)
@click.option(
    "--role",
    type=click.Choice(["generator", "discriminator"]),
    default=None,
    help="Only this role.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(pattern: str | None, role: str | None, as_json: bool) -> None:
    """List registered models (glob PATTERN), their role and parameter count at defaults.

    \b
    Example:
      imgen models 'rrdb*' --json
    """
    from imgen.plugins import create_model, registries
    from imgen.registry import ROLES

    rows = []
    for kind in [role] if role else ROLES:
        for entry in registries().models(kind).entries(pattern):
            rows.append(_model_row(entry, kind, create_model))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        count = row["parameters"]
        count = f"{count:,}" if isinstance(count, int) else count
        click.echo(f"{row['name']:<14} {row['role']:<14} {count:>14}  [{row['plugin']}]")


def _model_row(entry: Any, role: str, create_model: Any) -> dict[str, Any]:
    import warnings

    import torch

    params: int | str
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party architectures warn as they are built
        try:  # on the meta device: shapes only, no memory, no initialisation (10x faster)
            with torch.device("meta"):
                params = sum(p.numel() for p in create_model(entry.name, role).parameters())
        except Exception:
            try:
                params = sum(p.numel() for p in create_model(entry.name, role).parameters())
            except Exception as exc:  # a model that needs arguments still gets listed
                params = f"? ({type(exc).__name__})"
    return {
        "name": entry.name,
        "role": role,
        "parameters": params,
        "plugin": entry.plugin,
        "help": entry.help,
    }


@click.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def env(as_json: bool) -> None:
    """Versions, devices and plugins: paste this into bug reports.

    \b
    Example:
      imgen env --json
    """
    import platform

    import torch

    from imgen.plugins import get_host

    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    info = {
        "imgen": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "devices": devices,
        "mps": mps,
        "cpu_threads": torch.get_num_threads(),
        "plugins": {n: f"{p.version} ({p.status})" for n, p in get_host().plugins.items()},
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        click.echo(f"{key:<15} {value}")


COMMANDS = [tasks, plugins, models, env]
