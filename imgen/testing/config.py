""":func:`check_config`: a task's options round-trip through the command line, a TOML file and
``config.json``."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imgen.config import TrainConfig, cli_name, click_options, coerce, from_dict, load_toml, to_dict
from imgen.errors import ImgenError
from imgen.testing.common import TaskLike, _fail, _task_factory


def check_config(task: TaskLike, values: Mapping[str, Any] | None = None) -> Any:
    """Check that a task's config round-trips through the command line, TOML and JSON.

    Every option needs a default and a help text (:func:`imgen.config.option`). The config
    made from ``values`` must come back unchanged from ``imgen train TASK --option value
    ...``, from a ``--config`` TOML file and from ``config.json`` (what a run stores); the
    defaults must come back from a command line without options.

    Args:
        task: a task instance or class, or a registered task name.
        values: option values (as in a TOML file) to round-trip besides the defaults.

    Returns:
        The config built from ``values``.
    """
    instance = _task_factory(task)()
    subject = f"task {instance.name!r}"
    cls = instance.Config
    if not (
        dataclasses.is_dataclass(cls) and isinstance(cls, type) and issubclass(cls, TrainConfig)
    ):
        raise _fail(subject, "Config must be a dataclass that subclasses imgen.config.TrainConfig")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not _supported_type(hints[f.name]):
            name = getattr(hints[f.name], "__name__", str(hints[f.name]))
            raise _fail(
                subject,
                f"option {f.name!r} is a {name}; options are bool, int, float, str, a "
                f"Literal of them or a dict (optionally | None)",
            )
        if f.default is dataclasses.MISSING:
            raise _fail(subject, f"option {f.name!r} has no default value; every option needs one")
        if not f.metadata.get("help"):
            raise _fail(
                subject,
                f"option {f.name!r} has no help text; declare it with "
                f"imgen.config.option(default, help)",
            )
    try:
        cfg = cls(**coerce(cls, dict(values or {}), source=f"{subject} config"))
    except ImgenError as exc:
        raise _fail(subject, str(exc)) from None
    defaults = cls()
    _same_config(
        subject, "the command line without options", _parse_cli(subject, cls, []), defaults
    )
    _same_config(
        subject, "the command line", _parse_cli(subject, cls, _cli_args(subject, cfg)), cfg
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(_toml(subject, cfg))
        try:
            from_toml = cls(**load_toml(path, cls))
        except ImgenError as exc:
            raise _fail(subject, f"its own TOML does not load back: {exc}") from None
    _same_config(subject, "a --config TOML file", from_toml, cfg)
    try:
        stored = json.loads(json.dumps(to_dict(cfg)))
    except (TypeError, ValueError) as exc:
        raise _fail(subject, f"the config cannot be stored in config.json: {exc}") from None
    _same_config(subject, "config.json", from_dict(cls, stored), cfg)
    return cfg


def _supported_type(tp: Any) -> bool:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return len(args) == 1 and _supported_type(args[0])
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(a, (bool, int, float, str)) for a in args)
    return tp in (bool, int, float, str, Path, dict) or typing.get_origin(tp) is dict


def _parse_cli(subject: str, cls: type, args: list[str]) -> Any:
    import click

    command = click.Command("train", params=click_options(cls))
    try:
        ctx = command.make_context("imgen train", list(args))
    except click.ClickException as exc:
        raise _fail(
            subject, f"the command line {' '.join(args)!r} is refused: {exc.format_message()}"
        ) from None
    return cls(**ctx.params)


def _cli_args(subject: str, cfg: Any) -> list[str]:
    args: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None:
            if f.default is not None:
                raise _fail(subject, f"option {f.name!r} is None, which no command line can set")
            continue
        flag = cli_name(f.name)
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, dict):
            args += [flag, json.dumps(value)]
        else:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


def _toml(subject: str, cfg: Any) -> str:
    lines = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None:  # TOML has no null: an absent key keeps the default
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            text = repr(value)  # 'inf' and 'nan' are TOML too
        elif isinstance(value, str):
            text = json.dumps(value)  # a TOML basic string
        elif isinstance(value, dict):
            text = json.dumps(json.dumps(value))  # a JSON object in a TOML string
        else:
            raise _fail(
                subject,
                f"option {f.name!r} holds a {type(value).__name__}; options are bool, int, "
                f"float or str (a Literal of them)",
            )
        lines.append(f"{f.name} = {text}")
    return "\n".join(lines) + "\n"


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _same_config(subject: str, where: str, got: Any, expected: Any) -> None:
    for f in dataclasses.fields(expected):
        a, b = getattr(got, f.name), getattr(expected, f.name)
        if not _same_value(a, b):
            raise _fail(
                subject,
                f"option {cli_name(f.name)} comes back from {where} as {a!r}, not {b!r}",
            )
