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
from imgen.errors import UsageError


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
@click.option(
    "--published",
    is_flag=True,
    help="List the published models `imgen pull NAME` downloads (name, task, size, what it is).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(pattern: str | None, role: str | None, published: bool, as_json: bool) -> None:
    """List registered models (glob PATTERN), their role and parameter count at defaults.

    Counts are cached per version of imgen and its plugins (in $IMGEN_CACHE, default
    ~/.cache/imgen), so only the first listing builds the models. With --published: the
    published models by name (torch is not imported).

    \b
    Examples:
      imgen models 'rrdb*' --json
      imgen models --published
    """
    if published:
        _published(pattern, as_json)
        return
    from imgen.plugins import registries
    from imgen.registry import ROLES

    entries = [
        (entry, kind)
        for kind in ([role] if role else ROLES)
        for entry in registries().models(kind).entries(pattern)
    ]
    if not entries:
        what = f" of role {role}" if role else ""
        raise UsageError(f"no model{what} matches {pattern!r}; `imgen models` lists them all")
    counts = _parameter_counts(entries)
    rows = [
        {
            "name": entry.name,
            "role": kind,
            "parameters": counts[f"{kind}/{entry.name}"],
            "plugin": entry.plugin,
            "help": entry.help,
        }
        for entry, kind in entries
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        count = row["parameters"]
        count = f"{count:,}" if isinstance(count, int) else count
        click.echo(f"{row['name']:<14} {row['role']:<14} {count:>14}  [{row['plugin']}]")


def _published(pattern: str | None, as_json: bool) -> None:
    from imgen.published import published_models

    found = published_models(pattern)
    if pattern and not found:
        raise UsageError(f"no published model matches {pattern!r}; `imgen models --published`")
    if as_json:
        click.echo(json.dumps([entry.as_dict() for entry in found], indent=2))
        return
    for entry in found:
        size = f"{entry.size / 1e6:.1f} MB" if entry.size else "?"
        here = " (pulled)" if entry.path.is_file() else ""
        click.echo(f"{entry.name:<28} {entry.task:<10} {size:>8}  {entry.help}{here}")


def _parameter_counts(entries: list[tuple[Any, str]]) -> dict[str, Any]:
    """``{"role/name": count}``, from the cache of this set of plugin versions, else counted
    (and stored)."""
    import hashlib
    import os
    from pathlib import Path

    from imgen.plugins import get_host

    versions = sorted(f"{i.name}={i.version}" for i in get_host().plugins.values())
    key = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]
    root = Path(os.environ.get("IMGEN_CACHE") or Path.home() / ".cache" / "imgen")
    path = root / f"model-parameters-{key}.json"
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    missing = [(e, k) for e, k in entries if f"{k}/{e.name}" not in cached]
    if missing:
        cached.update({f"{k}/{e.name}": _count(e, k) for e, k in missing})
        try:
            root.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached, indent=1))
        except OSError:  # a read-only home: counted again next time
            pass
    return cached


def _count(entry: Any, role: str) -> int | str:
    """The parameters of ``entry``'s model at its defaults (on the meta device when it can
    be built there: shapes only), or why it could not be built."""
    import warnings

    import torch

    from imgen.plugins import create_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party architectures warn as they are built
        try:
            with torch.device("meta"):
                return sum(p.numel() for p in create_model(entry.name, role).parameters())
        except Exception:
            try:
                return sum(p.numel() for p in create_model(entry.name, role).parameters())
            except Exception as exc:  # a model that needs arguments still gets listed
                return f"? ({type(exc).__name__})"


@click.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def env(as_json: bool) -> None:
    """Versions, devices and plugins: paste this into bug reports.

    \b
    Example:
      imgen env --json
    """
    import platform
    from importlib import metadata

    import torch

    from imgen.plugins import get_host

    def version(distribution: str) -> str | None:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return None

    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    packages = {
        "torch": torch.__version__,
        **{
            name: version(dist)
            for name, dist in [
                ("torchvision", "torchvision"),
                ("timm", "timm"),
                ("kornia", "kornia"),
                ("Pillow", "pillow"),
                ("numpy", "numpy"),
                ("spandrel", "spandrel"),
                ("safetensors", "safetensors"),
                ("onnxruntime", "onnxruntime"),
                ("tensorboard", "tensorboard"),
            ]
        },
    }
    info = {
        "imgen": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "devices": devices,
        "mps": mps,
        "cpu_threads": torch.get_num_threads(),
        "plugins": [
            {"name": n, "version": p.version, "status": p.status, "distribution": p.distribution}
            for n, p in get_host().plugins.items()
        ],
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key in ("imgen", "python", "platform", "cuda", "cuda_available", "mps", "cpu_threads"):
        click.echo(f"{key:<16} {info[key]}")
    click.echo(f"{'devices':<16} {', '.join(devices) or 'none'}")
    click.echo("\npackage          version")
    for name, value in packages.items():
        click.echo(f"{name:<16} {value or 'not installed'}")
    click.echo("\nplugin           version    status  distribution")
    for row in info["plugins"]:
        click.echo(
            f"{row['name']:<16} {row['version']:<10} {row['status']:<7} {row['distribution']}"
        )


COMMANDS = [tasks, plugins, models, env]
