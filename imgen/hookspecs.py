"""The plugin API of imgen: every hook a plugin may implement.

Each ``imgen_register_*`` hook receives a ``register`` callback (the pattern of simonw/llm).
Plugins call it once per thing they provide. Implementations may accept a subset of a hook's
arguments, so adding an argument to a hook later does not break existing plugins.

Registrations may be lazy: pass ``"module:attribute"`` instead of the object, so that listing
plugins, tasks and models does not import torch.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("imgen")
hookimpl = pluggy.HookimplMarker("imgen")


@hookspec
def imgen_register_tasks(register):
    """Register tasks.

    ``register(task_or_path, name=None, help=None)``: a :class:`imgen.task.Task` instance, or a
    ``"module:Class"`` string (instantiated without arguments on first use) with ``name`` given.

    Example::

        @imgen.hookimpl
        def imgen_register_tasks(register):
            register("imgen_denoise.task:Denoise", name="denoise", help="Remove noise")
    """


@hookspec
def imgen_register_models(register):
    """Register generators and discriminators.

    ``register(name, factory, role="generator"|"discriminator", help=None)``; ``factory`` is a
    class or callable returning an ``nn.Module`` (or a ``"module:attribute"`` string).
    """


@hookspec
def imgen_register_losses(register):
    """Register losses: ``register(name, factory, help=None)``."""


@hookspec
def imgen_register_metrics(register):
    """Register metrics: ``register(name, fn, higher_is_better=True, help=None)``.

    ``fn(pred, target)`` takes (B, C, H, W) tensors in [0, 1] and returns a (B,) tensor.
    """


@hookspec
def imgen_register_commands(cli):
    """Add top-level Click commands: ``cli.add_command(my_command)``."""
