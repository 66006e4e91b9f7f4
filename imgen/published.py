"""Published models by name: what plugins register through ``imgen_register_published``,
``imgen pull NAME``, and ``NAME`` wherever a model file is taken (``predict --model``,
``eval --model``, ``train --init``, :func:`imgen.load`).

An entry is plain data (no torch): the file's name, the official URL(s), its SHA-256 (None
where its publisher gives none, then ``pull`` says so and only checks that the file reads as
a model), its size, licence and source page. Files go to the hub cache (:mod:`imgen.hub`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imgen import hub
from imgen.errors import ImgenError, UsageError

__all__ = ["Published", "find", "is_published", "published_models", "pull", "resolve"]


@dataclass(frozen=True)
class Published:
    """One published model file.

    Attributes:
        name: what users type (``RealESRGAN_x4plus``).
        task: the imgen task it runs as (``sr``, ``translate``, ``style``).
        urls: official download URLs, tried in order.
        file: the file name in the hub cache.
        sha256: the published SHA-256, None when none is published (a hash prefix in
            ``file``, torch's ``name-<hex>.pth`` convention, is then still checked).
        size: bytes, None when unknown.
        licence: the licence of the weights (SPDX id or a short phrase).
        source: the page that publishes the file (release page, model zoo).
        help: one line on what it is.
        hash_source: where ``sha256`` was taken from.
        plugin: the plugin that registered it.
    """

    name: str
    task: str
    urls: tuple[str, ...]
    file: str
    sha256: str | None = None
    size: int | None = None
    licence: str = ""
    source: str = ""
    help: str = ""
    hash_source: str = ""
    plugin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_registration(
        cls,
        name: str,
        *,
        task: str,
        url: str | list[str] | tuple[str, ...],
        file: str | None = None,
        sha256: str | None = None,
        size: int | None = None,
        licence: str = "",
        source: str = "",
        help: str = "",
        hash_source: str = "",
        **extra: Any,
    ) -> Published:
        """The entry of ``register(name, task=..., url=..., ...)`` (see the hook's doc)."""
        urls = (url,) if isinstance(url, str) else tuple(url)
        if not name or not task or not urls:
            raise TypeError(f"register({name!r}, ...) needs a name, task= and url=")
        return cls(
            name=name,
            task=task,
            urls=urls,
            file=file or urls[0].rsplit("/", 1)[-1].split("?", 1)[0],
            sha256=sha256.lower() if sha256 else None,
            size=size,
            licence=licence,
            source=source,
            help=help,
            hash_source=hash_source,
            extra=extra,
        )

    @property
    def path(self) -> Path:
        """Where the file is (or goes) in the hub cache."""
        return hub.cache_dir() / self.file

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["urls"] = list(self.urls)
        row["path"] = str(self.path)
        row["present"] = self.path.is_file()
        return row


def published_models(pattern: str | None = None) -> list[Published]:
    """The registered published models (glob ``pattern``), by name."""
    from imgen.plugins import registries

    return [_with_plugin(e.target, e.plugin) for e in registries().published.entries(pattern)]


def _with_plugin(entry: Published, plugin: str) -> Published:
    from dataclasses import replace

    return entry if entry.plugin == plugin else replace(entry, plugin=plugin)


def is_published(name: str) -> bool:
    """Whether ``name`` is a registered published model."""
    from imgen.plugins import registries

    return name in registries().published


def find(name: str) -> Published:
    """The published model ``name``; an unknown name is a UsageError naming close ones."""
    from imgen.errors import RegistryError
    from imgen.plugins import registries

    try:
        entry = registries().published.entry(name)
    except RegistryError as exc:
        raise UsageError(f"{exc} (`imgen models --published` lists them)") from None
    return _with_plugin(entry.target, entry.plugin)


def _say(line: str) -> None:
    import click

    click.echo(f"imgen: {line}", err=True)


def _check_present(entry: Published, say: Callable[[str], None]) -> bool:
    """Whether the cached file is there and has the published hash (a wrong one is removed)."""
    path = entry.path
    if not path.is_file():
        return False
    wanted = hub.expected_hash(entry.file, entry.sha256)
    if wanted is None:
        say(f"{entry.name}: {path} is present (no published hash to check it against)")
        return True
    got = hub.sha256_file(path)
    if got.startswith(wanted):
        say(f"{entry.name}: {path} is present and its SHA-256 matches; nothing to download")
        return True
    say(f"{entry.name}: {path} has SHA-256 {got}, not the published {wanted}; downloading again")
    path.unlink()
    return False


def pull(name: str, *, progress: bool = True, say: Callable[[str], None] | None = None) -> Path:
    """Download the published model ``name`` into the hub cache (when not there and verified
    already) and return its path.

    Raises:
        UsageError: ``name`` is not registered.
        hub.OfflineError, hub.DownloadError, hub.HashMismatchError: see :func:`imgen.hub.download`.
        ImgenError: a file without a published hash does not read as a model (removed).
    """
    say = say or _say
    entry = find(name)
    if _check_present(entry, say):
        return entry.path
    last: hub.DownloadError | None = None
    for url in entry.urls:
        try:
            path = hub.download(
                url, entry.path, sha256=entry.sha256, what="published model", progress=progress
            )
            break
        except (hub.OfflineError, hub.HashMismatchError):
            raise
        except hub.DownloadError as exc:  # this mirror is down: try the next one
            last = exc
    else:
        assert last is not None
        raise last
    wanted = hub.expected_hash(entry.file, entry.sha256)
    if wanted is None:
        digest = hub.sha256_file(path)
        _check_readable(path)
        say(
            f"{entry.name}: no published hash: SHA-256 of what was downloaded is {digest}; "
            "checked only for being a readable model"
        )
    else:
        say(f"{entry.name}: SHA-256 matches the published {wanted}")
    return path


def _check_readable(path: Path) -> None:
    from imgen.weights.files import read_state_dict

    try:
        read_state_dict(path)
    except ImgenError as exc:
        path.unlink(missing_ok=True)
        raise ImgenError(f"{exc}; the download was removed") from None


def resolve(source: str | os.PathLike[str], *, say: Callable[[str], None] | None = None) -> str:
    """A model file's path for ``source``: an existing path as it is, else a published
    model's name pulled into the hub cache (unless offline: then its sentence says how)."""
    text = os.fspath(source)
    if Path(text).exists() or not is_published(text):
        return text
    return str(pull(text, say=say))


def markdown_table(entries: list[Published] | None = None) -> str:
    """The Markdown table of docs/models.md (``python -m imgen.published`` prints it)."""
    entries = published_models() if entries is None else entries
    lines = [
        "| name | task | size | SHA-256 | hash from | licence | what it is | URL, source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        size = f"{e.size:,} B" if e.size else "?"
        prefix = hub.expected_hash(e.file, None)
        sha = f"`{e.sha256}`" if e.sha256 else (f"prefix `{prefix}`" if prefix else "none")
        links = " ".join(f"<{u}>" for u in e.urls) + (f"; {e.source}" if e.source else "")
        lines.append(
            f"| `{e.name}` | {e.task} | {size} | {sha} | {e.hash_source or '-'} | "
            f"{e.licence or '?'} | {e.help} | {links} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
