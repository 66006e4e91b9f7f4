"""The plugin manager: entry-point loading, allow/block lists and failure isolation.

The plugin manager is imgen's only global state. Plugins come from the ``imgen`` entry-point
group (the built-in tasks too) plus the core's own registrations (:mod:`imgen.builtins`).

Environment:
    IMGEN_LOAD_PLUGINS: comma-separated allow list of plugin names (only these load).
    IMGEN_DISABLE_PLUGINS: comma-separated block list.
    IMGEN_STRICT_PLUGINS=1: re-raise plugin errors instead of reporting them.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from imgen import hookspecs
from imgen.errors import RegistryError, UsageError
from imgen.registry import Registries, Registry
from imgen.task import Task

ENTRY_POINT_GROUP = "imgen"
CORE_PLUGIN = "imgen"

# hook name -> the kind of thing its register callback adds
REGISTER_HOOKS = {
    "imgen_register_tasks": "tasks",
    "imgen_register_models": "models",
    "imgen_register_losses": "losses",
    "imgen_register_metrics": "metrics",
    "imgen_register_formats": "formats",
    "imgen_register_loggers": "loggers",
    "imgen_register_published": "published",
}


@dataclass
class PluginInfo:
    """What ``imgen plugins`` shows about one plugin."""

    name: str
    version: str
    distribution: str = ""
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    status: str = "ok"  # ok | error | disabled
    error: str = ""
    # Things worth knowing that are not errors, e.g. a hook this imgen does not have.
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "hooks": self.hooks,
            "registered": self.registered,
            "status": self.status,
            "error": self.error,
            "notes": self.notes,
        }


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


def _strict() -> bool:
    return os.environ.get("IMGEN_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


class PluginHost:
    """A pluggy manager plus what each plugin loaded and registered.

    Args:
        entry_points: the plugins to load [default: the installed ``imgen`` entry points].
        report: receives one line per plugin error [default: print to stderr].
        specs: the module of hook specifications [default: :mod:`imgen.hookspecs`]; tests
            pass another one to play an older or newer imgen.
    """

    def __init__(
        self,
        entry_points: list[metadata.EntryPoint] | None = None,
        report: Callable[[str], None] | None = None,
        specs: ModuleType = hookspecs,
    ) -> None:
        self.pm = pluggy.PluginManager("imgen")
        self.pm.add_hookspecs(specs)
        self.plugins: dict[str, PluginInfo] = {}
        self._report = report or (lambda line: print(line, file=sys.stderr))
        self._registries: Registries | None = None
        self._register_core()
        if entry_points is None:
            entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        self._load_entry_points(entry_points)

    # -- loading -------------------------------------------------------------------------
    def _register_core(self) -> None:
        from imgen import __version__, builtins

        self.pm.register(builtins, name=CORE_PLUGIN)
        self.plugins[CORE_PLUGIN] = PluginInfo(CORE_PLUGIN, __version__, "imgen")

    def _load_entry_points(self, entry_points: list[metadata.EntryPoint]) -> None:
        allow = _env_list("IMGEN_LOAD_PLUGINS")
        block = _env_list("IMGEN_DISABLE_PLUGINS") or set()
        seen = set()
        for ep in sorted(entry_points, key=lambda e: e.name):
            if ep.name in seen:  # editable installs can list an entry point twice
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                ep.name,
                getattr(dist, "version", "") or "",
                getattr(dist, "name", "") or "",
            )
            self.plugins[ep.name] = info
            if (allow is not None and ep.name not in allow) or ep.name in block:
                info.status = "disabled"
                continue
            try:
                module = ep.load()
                info.notes = self._check_hookimpls(module)
                self.pm.register(module, name=ep.name)
            # A broken plugin must never break the CLI, not even one that calls sys.exit()
            # while it is imported (Ctrl-C still stops imgen).
            except (Exception, SystemExit) as exc:
                self.fail(ep.name, "failed to load", exc)

    def _check_hookimpls(self, module: Any) -> list[str]:
        """Check a plugin's hookimpls against this imgen's hooks; returns notes for the user.

        Hook versioning: an implementation may take any subset of its hook's arguments, so
        adding an argument to a hook never breaks older plugins. An implementation that asks
        for an argument this imgen does not have (a plugin written for a newer imgen) is
        refused in one sentence (pluggy would refuse it too, with a multi-line
        PluginValidationError). An implementation of a hook this imgen does not have is
        ignored, with a note that ``imgen plugins`` shows (a newer hook, or a typo).
        """
        notes = []
        known = sorted(self.hook_names())
        for attribute in dir(module):
            opts = self.pm.parse_hookimpl_opts(module, attribute)
            if opts is None:  # not a hookimpl
                continue
            spec = getattr(getattr(self.pm.hook, attribute, None), "spec", None)
            if spec is None:
                # a typo is one or two letters off; a newer hook shares only the prefix
                close = difflib.get_close_matches(attribute, known, n=1, cutoff=0.9)
                hint = f"; did you mean {close[0]}?" if close else " (a newer imgen may have it)"
                notes.append(
                    f"{attribute} is not a hook of imgen {_version()} and is ignored{hint}"
                )
                continue
            impl = pluggy.HookImpl(module, "", getattr(module, attribute), opts)
            missing = [name for name in impl.argnames if name not in spec.argnames]
            if missing:
                raise RegistryError(_missing_arguments(attribute, missing))
        return notes

    def hook_names(self) -> list[str]:
        """The hooks this imgen specifies (those of its hookspecs module)."""
        return [
            name
            for name, caller in vars(self.pm.hook).items()
            if getattr(caller, "spec", None) is not None
        ]

    def fail(self, plugin: str, what: str, exc: BaseException) -> None:
        """Record a plugin error and report it in one stderr line (or re-raise when strict)."""
        info = self.plugins.setdefault(plugin, PluginInfo(plugin, ""))
        info.status = "error"
        info.error = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        version = f" {info.version}" if info.version else ""
        dist = f" ({info.distribution}{version})" if info.distribution else ""
        if self.pm.get_plugin(plugin) is not None:
            self.pm.unregister(name=plugin)
        self._report(f"imgen: plugin {plugin!r}{dist} {what}: {info.error}")
        if _strict():
            raise exc

    # -- registrations -------------------------------------------------------------------
    @property
    def registries(self) -> Registries:
        if self._registries is None:
            self._registries = self._collect()
        return self._registries

    def _collect(self) -> Registries:
        registries = Registries()
        # Plugins are called in load order (the core first, then entry points by name), so
        # that on a name clash the first registration survives and the later plugin is blamed.
        order = {name: index for index, name in enumerate(self.plugins)}
        owned: dict[str, list[tuple[Registry, str]]] = {}
        for hook_name, attribute in REGISTER_HOOKS.items():
            # Call implementations one by one so that a failure is attributed to its plugin.
            impls = sorted(
                getattr(self.pm.hook, hook_name).get_hookimpls(),
                key=lambda impl: order.get(impl.plugin_name, len(order)),
            )
            for impl in impls:
                plugin = impl.plugin_name
                info = self.plugins.setdefault(plugin, PluginInfo(plugin, ""))
                if info.status == "error":
                    continue
                added: list[tuple[Registry, str]] = []
                register = _make_register(attribute, registries, plugin, added)
                try:
                    call_hookimpl(impl, {"register": register})
                except Exception as exc:
                    # roll back everything the plugin registered, in earlier hooks too
                    for registry, name in owned.pop(plugin, []) + added:
                        registry.remove(name)
                    info.registered.clear()
                    self.fail(plugin, f"hook {hook_name} raised", exc)
                    continue
                owned.setdefault(plugin, []).extend(added)
                for registry, name in added:  # e.g. {"generators": ["rrdbnet"]}
                    info.registered.setdefault(registry.plural, []).append(name)
        known = set(self.hook_names())
        for info in self.plugins.values():
            if info.status == "ok":
                plugin = self.pm.get_plugin(info.name)
                if plugin is not None:
                    callers = self.pm.get_hookcallers(plugin) or []
                    info.hooks = sorted({c.name for c in callers if c.name in known})
        return registries

    def add_commands(self, cli: Any) -> None:
        """Let plugins add top-level commands; a failing plugin is reported, not fatal.

        A plugin may not replace a command that exists already (imgen's own, e.g.
        ``uninstall``, must keep working whatever is installed): that is a plugin error.
        """
        for impl in reversed(self.pm.hook.imgen_register_commands.get_hookimpls()):
            before = dict(cli.commands)
            try:
                call_hookimpl(impl, {"cli": cli})
                replaced = sorted(n for n, c in before.items() if cli.commands.get(n) is not c)
                if replaced:
                    raise RegistryError(
                        f"command {', '.join(map(repr, replaced))} exists already; "
                        f"give the plugin's command another name"
                    )
            except Exception as exc:
                cli.commands.clear()  # nothing of a failing plugin stays, not even a command
                cli.commands.update(before)
                self.fail(impl.plugin_name, "hook imgen_register_commands raised", exc)


def call_hookimpl(impl: pluggy.HookImpl, available: dict[str, Any]) -> Any:
    """Call a hook implementation with the subset of arguments it declares.

    A plugin written for a newer imgen may ask for an argument this version does not have:
    it gets a clear error instead of a TypeError deep inside pluggy.
    """
    missing = [name for name in impl.argnames if name not in available]
    if missing:
        raise RegistryError(_missing_arguments(impl.function.__name__, missing))
    return impl.function(**{name: available[name] for name in impl.argnames})


def _version() -> str:
    from imgen import __version__

    return __version__


def _missing_arguments(hook: str, missing: list[str]) -> str:
    return (
        f"{hook} asks for {', '.join(missing)}, which imgen {_version()} does not "
        f"provide; upgrade imgen"
    )


def _make_register(
    kind: str, registries: Registries, plugin: str, added: list[tuple[Registry, str]]
) -> Callable:
    """The ``register`` callback handed to one plugin's hook."""

    def register(*args: Any, **kwargs: Any) -> None:
        if kind == "tasks":
            name, target, meta = _task_registration(*args, **kwargs)
            registry = registries.tasks
        elif kind == "published":  # plain data: register(name, task=..., url=..., ...)
            from imgen.published import Published

            target = Published.from_registration(*args, **kwargs)
            name, meta = target.name, {"help": target.help, "task": target.task}
            registry = registries.published
        else:
            name, target, *rest = args
            if rest:
                raise TypeError(f"register({name!r}, ...) takes options as keywords")
            meta = kwargs
            if kind == "models":
                registry = registries.models(meta.pop("role", "generator"))
            else:
                registry = getattr(registries, kind)
        registry.add(name, target, plugin=plugin, **meta)
        added.append((registry, name))

    return register


def _task_registration(
    task: Any, name: str | None = None, help: str | None = None
) -> tuple[str, Any, dict]:
    if isinstance(task, str):
        if not name:
            raise TypeError(f"register({task!r}) needs name= when the task is given lazily")
        return name, task, {"help": help or ""}
    if not isinstance(task, Task):
        raise TypeError(f"register() takes an imgen.task.Task, got {type(task).__name__}")
    doc = (type(task).__doc__ or "").strip().splitlines()
    return name or task.name, task, {"help": help or task.help or (doc[0] if doc else "")}


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def set_host(host: PluginHost | None) -> PluginHost | None:
    """Swap the process-wide host (tests use an isolated one); returns the previous one."""
    global _HOST
    previous, _HOST = _HOST, host
    return previous


def registries() -> Registries:
    return get_host().registries


def create_task(name: str) -> Any:
    """A fresh instance of the task registered as ``name`` (tasks keep per-run state)."""
    import copy

    obj = registries().tasks.get(name)
    return obj() if isinstance(obj, type) else copy.copy(obj)


def _accepted(factory: Any) -> set[str] | None:
    """The keyword arguments ``factory`` accepts (None: any, it takes ``**kwargs``)."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _build(kind: str, name: str, factory: Any, offered: dict | None, kwargs: dict) -> Any:
    accepted = _accepted(factory)
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise RegistryError(
                f"{kind} {name!r} ({getattr(factory, '__qualname__', factory)}) takes no "
                f"argument {', '.join(map(repr, unknown))}; it accepts: "
                f"{', '.join(sorted(accepted)) or 'none'}"
            )
    chosen = {k: v for k, v in (offered or {}).items() if accepted is None or k in accepted}
    arguments = {**chosen, **kwargs}
    if kind == "loss":
        return factory(**arguments)
    _check_model_size(kind, name, factory, arguments)
    try:
        return factory(**arguments)
    except (ValueError, TypeError, RuntimeError, MemoryError) as exc:
        # A factory refusing its arguments (--generator-options '{"num_feat": -5}', a scale it
        # does not have) is the user's value, not a bug: one sentence, exit 2.
        raise UsageError(
            f"--{kind} {name}: {_first_line(exc)} (built with {_shown(arguments)})"
        ) from None


# Parameters (fp32) beyond this share of the available memory are refused before a model is
# built: training holds them about 4 times (weights, gradients, two Adam moments).
_MODEL_MEMORY_SHARE = 0.25


def _check_model_size(kind: str, name: str, factory: Any, arguments: dict) -> None:
    """Build the model on the meta device (no memory) and refuse one whose parameters cannot
    be allocated, e.g. ``--num-feat 1000000``, with a sentence instead of an allocator error
    or the kernel's OOM killer."""
    try:
        import torch

        with torch.device("meta"):
            probe = factory(**arguments)
        count = sum(p.numel() for p in probe.parameters())
    except Exception:  # a factory that cannot run on meta (loads a file...): build for real
        return
    from imgen.engine.device import available_memory

    need, have = 4 * count, available_memory()
    if have and need > _MODEL_MEMORY_SHARE * have:
        raise UsageError(
            f"--{kind} {name} with {_shown(arguments)} has {count:,} parameters "
            f"({need / 1024**3:.1f} GB in fp32), more than a quarter of the "
            f"{have / 1024**3:.1f} GB of memory available; choose smaller width or depth options"
        )


def _shown(arguments: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(arguments.items())) or "no arguments"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def create_model(
    name: str,
    role: str = "generator",
    *,
    offered: dict[str, Any] | None = None,
    task: str | Sequence[str] | None = None,
    **kwargs: Any,
) -> Any:
    """Build the ``role`` model registered as ``name``.

    ``kwargs`` must all be arguments of the model's factory: an unknown one (a typo) is a
    :class:`imgen.errors.RegistryError` naming the factory and what it accepts. ``offered``
    are options a task offers to whichever model the user chose (``scale``, ``ngf``...): the
    factory gets those it accepts, so each model takes only what it understands. ``task``
    names the task asking: an unknown name then suggests the models meant for it (registered
    with ``tasks=[...]`` naming it, or without ``tasks``).

    Example::

        create_model("patchgan", "discriminator", ndf=8, offered={"scale": 4})  # no scale
    """
    from imgen.registry import _for_task, task_names

    registry = registries().models(role)
    entry = registry.entry(name, task=task)
    names, meant = task_names(task), entry.meta.get("tasks")
    if names and meant is not None and not any(n in meant for n in names):
        others = [e.name for e in registry.entries() if _for_task(e, names)]
        raise RegistryError(
            f"{role} {name!r} is for task {', '.join(meant)}, not {names[0]!r}; {names[0]}'s "
            f"{role}s: {', '.join(others) or 'none'}"
        )
    return _build(role, name, entry.load(), offered, kwargs)


def create_loss(name: str, *, offered: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Build the loss registered as ``name`` (an ``nn.Module``), arguments as for
    :func:`create_model`; an unknown name suggests the registered ones."""
    factory = registries().losses.get(name)
    return _build("loss", name, factory, offered, kwargs)
