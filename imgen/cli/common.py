"""What every command module of :mod:`imgen.cli` shares: Click settings and error handling.

Torch-free, like the whole package at import.
"""

from __future__ import annotations

import functools
from typing import Any

import click
from click.core import ParameterSource

from imgen.errors import ImgenError, UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(exc: ImgenError) -> None:
    """Raise ``exc`` as Click's one-line error: exit status 2 for a usage error, else 1."""
    if isinstance(exc, UsageError):
        raise click.UsageError(str(exc)) from exc
    raise click.ClickException(str(exc)) from exc


def guard(fn: Any) -> Any:
    """Turn imgen's errors inside a command into Click's one-line errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImgenError as exc:
            fail(exc)

    return wrapper


def explicit(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The ``values`` given on the command line or through the environment (not defaults)."""
    sources = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k: v for k, v in values.items() if ctx.get_parameter_source(k) in sources}


def examples(lines: list[str]) -> str:
    """An ``Examples:`` paragraph for a command's help, kept as written (``\\b``)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


class KeepsArgs(click.Command):
    """A command that keeps its raw arguments in ``ctx.meta["imgen.args"]`` (``--nproc``
    hands them on to each process it launches)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        ctx = super().make_context(info_name, list(args), parent=parent, **extra)
        ctx.meta["imgen.args"] = list(args)
        return ctx


def without_option(args: list[str], name: str) -> list[str]:
    """``args`` without ``NAME VALUE`` / ``NAME=VALUE``."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out
