"""The plugin API of imgen: every hook a plugin may implement.

Each ``imgen_register_*`` hook receives a ``register`` callback (the pattern of simonw/llm).
Plugins call it once per thing they provide. ``docs/plugins.md`` is the guide; it documents
every hook below with its signature (a test keeps the two in step).

Registrations may be lazy: pass ``"module:attribute"`` instead of the object, so that listing
plugins, tasks and models does not import torch.

Versioning: hooks only ever gain arguments, never lose or rename them, and an implementation
may declare any subset of its hook's arguments (by name, in any order), so a plugin written
for an older imgen keeps working. A plugin written for a newer imgen, whose implementation
asks for an argument this imgen does not provide, is reported in one sentence ("... asks for
X, which imgen 0.1.0 does not provide; upgrade imgen") and skipped; an implementation of a
hook this imgen does not have is ignored, with a note in ``imgen plugins``.
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
def imgen_register_formats(register):
    """Register readers of model files made elsewhere (``imgen predict --weights``, ``imgen
    import``): ``register(name, detect, priority=0, help=None)``.

    ``detect(state, path=..., task=...)`` gets a file's state dict (tensors, containers such as
    ``{"params_ema": ...}`` and a ``module.`` prefix already removed), the file's path, and
    the task the user asked for with ``--task`` (or None). It returns an
    :class:`imgen.weights.Detected` (the task, its config options and the weights in the
    layout of the task's networks) when it knows the layout, else None. Detectors run from the
    highest ``priority`` down (imgen's own networks at 0, spandrel's catch-all at -100).

    Example::

        @imgen.hookimpl
        def imgen_register_formats(register):
            register("dncnn", "imgen_denoise.formats:detect_dncnn", help="KAIR DnCNN")
    """


@hookspec
def imgen_register_loggers(register):
    """Register experiment trackers for ``imgen train --logger NAME`` (W&B, MLflow, Aim...):
    ``register(name, factory, help=None)``.

    ``factory()`` (or a ``"module:attribute"`` string naming it) is called without arguments
    on every process before the run directory exists, and should raise
    :class:`imgen.errors.UsageError` naming the pip command when what it needs is missing.
    It returns an :class:`imgen.engine.loggers.Logger`, whose methods the main process calls:
    ``open(run_dir, config, step)``, ``log_scalars(step, values)`` (``{"train/pixel": ...,
    "eval/psnr": ...}``), ``log_image(step, name, path)`` (each sample grid's PNG) and
    ``close()``.

    Example::

        @imgen.hookimpl
        def imgen_register_loggers(register):
            register("wandb", "imgen_wandb:WandbLogger", help="Weights & Biases")
    """


@hookspec
def imgen_register_published(register):
    """Register published models by name (``imgen models --published``, ``imgen pull NAME``,
    ``imgen predict --model NAME``, ``imgen train TASK --init NAME``, ``imgen.load(NAME)``).

    ``register(name, task=..., url=..., sha256=None, **about)``: ``url`` is the official
    download URL (or a list of them, tried in order), ``sha256`` the published SHA-256, or None
    when the publisher gives none (``imgen pull`` then prints the SHA-256 of what it got and
    checks only that it reads as a model; a torch-style hash prefix in the file name,
    ``name-1a2b3c4d.pth``, is still checked). ``about``: ``file`` (the name in the hub cache;
    default: the URL's last part), ``size`` (bytes), ``licence``, ``source`` (the page that
    publishes the file), ``help`` (one line) and ``hash_source`` (where the hash comes from).
    Keep the values plain data: listing them imports no torch.

    Example::

        @imgen.hookimpl
        def imgen_register_published(register):
            register(
                "DnCNN_color_blind",
                task="denoise",
                url="https://github.com/cszn/KAIR/releases/download/v1.0/dncnn_color_blind.pth",
                sha256=None,
                licence="MIT",
                source="https://github.com/cszn/KAIR/releases/tag/v1.0",
                help="DnCNN colour blind denoiser (KAIR)",
            )
    """


@hookspec
def imgen_register_commands(cli):
    """Add top-level Click commands: ``cli.add_command(my_command)``."""
