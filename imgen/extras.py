"""Optional dependencies (the extras of ``pip install 'imgen[...]'``), and the one sentence a
command says when one it needs is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from imgen.errors import UsageError


def require(module: str, what: str, install: str) -> ModuleType:
    """Import ``module``, or raise a :class:`UsageError` saying that ``what`` needs it and
    the command that installs it.

    Example::

        require("tensorboard", "--logger tensorboard", "pip install 'imgen[tensorboard]'")
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.partition(".")[0]
        raise UsageError(
            f"{what} needs the {package} package, which is not installed; install it with: "
            f"{install}"
        ) from None
