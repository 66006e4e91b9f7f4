"""Named registries of tasks, models, losses, metrics, model-file formats, loggers and
published models.

Entries may be registered lazily as ``"module:attribute"`` strings and are resolved on first
use, so listing what is registered never imports torch.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from imgen.errors import RegistryError, UnknownNameError


def resolve(target: Any) -> Any:
    """Import ``"package.module:attribute"`` strings; return any other object unchanged."""
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else []:
        obj = getattr(obj, part)
    return obj


@dataclass
class Entry:
    """One registered thing: its name, where it came from, and how to load it."""

    name: str
    target: Any
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        return resolve(self.target)

    @property
    def help(self) -> str:
        return self.meta.get("help") or ""


def task_names(task: str | Sequence[str] | None) -> tuple[str, ...]:
    """A task name, or the names of a task and its ancestors (``Task.model_scope()``)."""
    if task is None:
        return ()
    return (task,) if isinstance(task, str) else tuple(task)


def _for_task(entry: Entry, names: tuple[str, ...]) -> bool:
    tasks = entry.meta.get("tasks")
    return tasks is None or any(name in tasks for name in names)


class Registry:
    """A name -> entry mapping that refuses duplicates and suggests close names.

    Example:
        >>> r = Registry("generator")
        >>> r.add("rrdbnet", "imgen_sr.models:RRDBNet", plugin="sr")
        >>> r.names("rrdb*")
        ['rrdbnet']
    """

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or kind + ("es" if kind.endswith("s") else "s")
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, target: Any, *, plugin: str, **meta: Any) -> Entry:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"plugin {plugin!r} registered a {self.kind} without a name")
        if name in self._entries:
            other = self._entries[name].plugin
            raise RegistryError(
                f"{self.kind} {name!r} is registered by both plugin {other!r} and plugin "
                f"{plugin!r}; uninstall or disable one of them (IMGEN_DISABLE_PLUGINS)"
            )
        entry = Entry(name, target, plugin, meta)
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def entry(self, name: str, *, task: str | Sequence[str] | None = None) -> Entry:
        """The entry of ``name``; an unknown name is a RegistryError that suggests close
        names, among those meant for ``task`` when it is given (see :meth:`unknown_message`)."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name, task=task)) from None

    def get(self, name: str) -> Any:
        """The loaded object registered as ``name``."""
        return self.entry(name).load()

    def unknown_message(self, name: str, *, task: str | Sequence[str] | None = None) -> str:
        """Why ``name`` is unknown, with the closest names, or all of them. With ``task``,
        only entries meant for it count: those registered with ``tasks=[...]`` naming it, and
        those registered without ``tasks`` (for any task)."""
        names = task_names(task)
        candidates = [e.name for e in self.entries() if not names or _for_task(e, names)]
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        message = f"unknown {self.kind} {name!r}" + (f" for task {names[0]!r}" if names else "")
        if close:
            return message + "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        known = ", ".join(sorted(candidates)) or "none"
        return f"{message}; registered: {known}"

    def names(self, pattern: str | None = None, **meta: Any) -> list[str]:
        """Sorted names matching a glob ``pattern`` and every ``meta`` key=value given."""
        return [e.name for e in self.entries(pattern, **meta)]

    def entries(self, pattern: str | None = None, **meta: Any) -> list[Entry]:
        found = []
        for name in sorted(self._entries):
            entry = self._entries[name]
            if pattern and not fnmatch.fnmatchcase(name, pattern):
                continue
            if any(entry.meta.get(k) != v for k, v in meta.items()):
                continue
            found.append(entry)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class Registries:
    """The registries filled by the plugins' ``imgen_register_*`` hooks."""

    tasks: Registry = field(default_factory=lambda: Registry("task"))
    generators: Registry = field(default_factory=lambda: Registry("generator"))
    discriminators: Registry = field(default_factory=lambda: Registry("discriminator"))
    losses: Registry = field(default_factory=lambda: Registry("loss"))
    metrics: Registry = field(default_factory=lambda: Registry("metric"))
    formats: Registry = field(default_factory=lambda: Registry("format"))
    loggers: Registry = field(default_factory=lambda: Registry("logger"))
    published: Registry = field(default_factory=lambda: Registry("published model", "published"))

    def models(self, role: str) -> Registry:
        """The registry of a model role: ``generator`` or ``discriminator``."""
        if role not in ROLES:
            raise RegistryError(f"unknown model role {role!r}; use generator or discriminator")
        return self.generators if role == "generator" else self.discriminators


ROLES = ("generator", "discriminator")
