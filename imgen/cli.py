"""The ``imgen`` command line.

``train`` and ``eval`` are groups whose subcommands are the registered tasks, with options
generated from each task's config dataclass. ``--help``, ``--version``, ``tasks`` and
``plugins`` never import torch.
"""

from __future__ import annotations

import json
from typing import Any

import click
from click.core import ParameterSource

from imgen import __version__, cli_plugins
from imgen.errors import ImgenError, UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(exc: ImgenError) -> None:
    if isinstance(exc, UsageError):
        raise click.UsageError(str(exc)) from exc
    raise click.ClickException(str(exc)) from exc


class ImgenGroup(click.Group):
    """A group that turns imgen's errors into one-line messages and loads plugin commands."""

    _plugin_commands_added = False

    def _add_plugin_commands(self) -> None:
        if not self._plugin_commands_added:
            self._plugin_commands_added = True
            from imgen.plugins import get_host

            get_host().add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands:  # imgen's own commands (uninstall...) load no plugin
            self._add_plugin_commands()
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImgenError as exc:
            _fail(exc)


class TaskGroup(click.Group):
    """``imgen train`` / ``imgen eval``: one subcommand per registered task, built on demand."""

    def __init__(self, *args: Any, mode: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = mode

    def list_commands(self, ctx: click.Context) -> list[str]:
        from imgen.plugins import registries

        return registries().tasks.names()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from imgen.plugins import registries

        tasks = registries().tasks
        if name not in tasks:
            return None
        entry = tasks.entry(name)
        return _LazyTaskCommand(name, mode=self.mode, help=entry.help, short_help=entry.help)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        from imgen.plugins import registries

        name = args[0] if args else None
        if name and not name.startswith("-") and name not in registries().tasks:
            ctx.fail(registries().tasks.unknown_message(name))
        return super().resolve_command(ctx, args)


class _LazyTaskCommand(click.Command):
    """A task subcommand whose options are generated (importing torch) only when it is used."""

    def __init__(self, name: str, *, mode: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.mode = mode
        self._real: click.Command | None = None

    def real(self) -> click.Command:
        if self._real is None:
            from imgen.plugins import create_task

            task = create_task(self.name)
            build = _train_command if self.mode == "train" else _eval_command
            self._real = build(task)
        return self._real

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return self.real().make_context(info_name, args, parent=parent, **extra)
        except ImgenError as exc:
            _fail(exc)

    def invoke(self, ctx: click.Context) -> Any:
        return ctx.command.invoke(ctx)


def _examples(lines: list[str]) -> str:
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _explicit(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    sources = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k: v for k, v in values.items() if ctx.get_parameter_source(k) in sources}


def _train_command(task: Any) -> click.Command:
    from imgen.config import click_options

    cls = task.Config

    def callback(**values: Any) -> None:
        from imgen.config import load_toml
        from imgen.engine.rundir import read_config
        from imgen.engine.trainer import Trainer

        ctx = click.get_current_context()
        config_file = values.pop("config")
        explicit = _explicit(ctx, values)
        merged = {k: v for k, v in values.items()}
        if values.get("resume"):
            stored = read_config(values["resume"])
            if stored["task"] != task.name:
                raise UsageError(
                    f"{values['resume']} is a {stored['task']!r} run, not "
                    f"{task.name!r}; use imgen train {stored['task']} --resume"
                )
            merged.update({k: v for k, v in stored["config"].items() if k in merged})
        if config_file:
            merged.update(load_toml(config_file, cls))
        merged.update(explicit)
        merged["resume"] = values.get("resume")
        cfg = cls(**merged)
        run_dir = Trainer(task, cfg).fit()
        click.echo(str(run_dir))

    examples = task.examples or [f"imgen train {task.name} --data ./images --steps 1000"]
    params = [
        click.Option(
            ["--config"],
            type=click.Path(dir_okay=False),
            default=None,
            help="TOML file with any of these options (command line wins).",
        )
    ]
    params += click_options(cls)
    return click.Command(
        task.name,
        callback=_guard(callback),
        params=params,
        context_settings=CONTEXT,
        help=f"Train the {task.name!r} task: {task.help}\n\n"
        f"Writes a run directory (config.json, checkpoints/, samples/, metrics.jsonl) "
        f"and prints its path.\n\n" + _examples(examples),
    )


def _eval_command(task: Any) -> click.Command:
    from imgen.config import click_options

    cls = task.Config

    def callback(
        run: str | None,
        data: str | None,
        device: str,
        as_json: bool,
        tile: int | None,
        tile_overlap: int,
        **values: Any,
    ) -> None:
        from imgen.engine.device import resolve_device
        from imgen.evaluation import evaluate_task

        ctx = click.get_current_context()
        result = evaluate_task(
            task,
            run=run,
            data=data,
            device=resolve_device(device),
            overrides=_explicit(ctx, values),
            tile=tile,
            tile_overlap=tile_overlap,
            full=True,  # what only a final evaluation computes (e.g. style's realism score)
        )
        if as_json:
            click.echo(json.dumps(result, indent=2))
            return
        click.echo(f"{task.name} on {result['data']} ({result['images']} images)")
        for name, value in result["metrics"].items():
            click.echo(
                f"  {name:<10} {value:.4f}" if isinstance(value, float) else f"  {name:<10} {value}"
            )
        for note in result.get("notes", []):  # e.g. "lpips: unavailable (...)"
            click.echo(f"  {note}")

    params = [
        click.Option(
            ["--run"],
            type=click.Path(file_okay=False, exists=True),
            default=None,
            help="Run directory to evaluate (its config and weights).",
        ),
        click.Option(
            ["--data"],
            type=click.Path(exists=True),
            required=task.takes_image,  # a generation task compares with its training data
            help="Evaluation folder."
            if task.takes_image
            else "Real images to compare with [default: the run's training data].",
        ),
        click.Option(["--device"], default="auto", show_default=True, help="auto, cpu, cuda."),
        click.Option(["--tile"], type=int, default=None, help="Tile size for large images."),
        click.Option(
            ["--tile-overlap"],
            type=int,
            default=32,
            show_default=True,
            help="Context pixels around each tile.",
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="Print one JSON object."),
    ]
    params += click_options(cls, only_eval=True)
    example = getattr(task, "eval_examples", None) or [
        f"imgen eval {task.name} --run runs/{task.name}-1 --data ./val --json"
    ]
    return click.Command(
        task.name,
        callback=_guard(callback),
        params=params,
        context_settings=CONTEXT,
        help=f"Evaluate the {task.name!r} task ({', '.join(task.metrics)}).\n\n"
        + _examples(example),
    )


def _guard(fn: Any) -> Any:
    """Turn imgen's errors inside a command into Click's one-line errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImgenError as exc:
            _fail(exc)

    return wrapper


@click.group(cls=ImgenGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="imgen")
def cli() -> None:
    """imgen: train, evaluate and apply image-to-image GANs from a folder of images.

    \b
    Examples:
      imgen train sr --data ./photos --scale 4 --steps 20000
      imgen eval sr --run runs/sr-20261127-101500 --data ./Set5
      imgen predict --run runs/sr-20261127-101500 photo.png -o out/
      imgen tasks
    """


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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
    try:
        params: int | str = sum(p.numel() for p in create_model(entry.name, role).parameters())
    except Exception as exc:  # a model that needs arguments still gets listed
        params = f"? ({type(exc).__name__})"
    return {
        "name": entry.name,
        "role": role,
        "parameters": params,
        "plugin": entry.plugin,
        "help": entry.help,
    }


@cli.command(context_settings=CONTEXT)
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


@cli.group(cls=TaskGroup, mode="train", context_settings=CONTEXT)
def train() -> None:
    """Train a task; each registered task is a subcommand with its own options.

    \b
    Examples:
      imgen train sr --steps 200              # built-in sample photos
      imgen train sr --data ./photos --scale 4 --gan-weight 0
      imgen train sr --resume runs/sr-20261127-101500 --steps 40000
    """


@cli.group(cls=TaskGroup, mode="eval", context_settings=CONTEXT)
def eval() -> None:
    """Evaluate a run (or a baseline) on a folder; `--json` for one JSON object.

    \b
    Example:
      imgen eval sr --generator bicubic --scale 4 --data ./Set5
    """


class PredictCommand(click.Command):
    """``imgen predict``: also offers the options the run's task marks for prediction
    (e.g. ``--direction`` for style), found by reading ``--run``'s config.json first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        base = self.__dict__.setdefault("_base_params", list(self.params))
        self.params = list(base)  # a new invocation starts from the generic options
        run = _option_value(args, "--run")
        if run and not ctx.resilient_parsing:
            try:
                self.params += _task_predict_options(run)
            except ImgenError as exc:
                _fail(exc)
        return super().parse_args(ctx, args)


def _option_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _task_predict_options(run: str) -> list[click.Option]:
    from pathlib import Path

    from imgen.config import click_options
    from imgen.engine.rundir import read_config
    from imgen.plugins import registries

    if not (Path(run) / "config.json").exists():
        return []  # --run's own check reports it
    task = registries().tasks.get(read_config(run)["task"])
    return click_options(task.Config, only_predict=True)


@cli.command(cls=PredictCommand, context_settings=CONTEXT)
@click.option(
    "--run", required=True, type=click.Path(file_okay=False, exists=True), help="Run directory."
)
@click.argument("inputs", nargs=-1, required=False, type=click.Path(exists=True))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(),
    help="Output folder; for a generation run, the grid's PNG file (a folder with --separate).",
)
@click.option("--tile", type=int, default=None, help="Process in tiles of N input pixels.")
@click.option(
    "--tile-overlap",
    type=int,
    default=32,
    show_default=True,
    help="Context pixels around each tile (at least the receptive field for seamless output).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--raw", is_flag=True, help="Use the raw weights instead of the EMA copy.")
@click.option(
    "--n", "n", type=int, default=64, show_default=True, help="Generation runs: samples to draw."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generation runs: noise seed.")
@click.option(
    "--class",
    "label",
    default=None,
    metavar="NAME",
    help="Conditional generation runs: draw every sample from this class [default: all "
    "classes, in equal blocks].",
)
@click.option(
    "--separate", is_flag=True, help="Generation runs: one PNG per sample into the -o folder."
)
def predict(
    run: str,
    inputs: tuple[str, ...],
    out: str,
    tile: int | None,
    tile_overlap: int,
    device: str,
    raw: bool,
    n: int,
    seed: int,
    label: str | None,
    separate: bool,
    **task_options: Any,
) -> None:
    """Apply a trained run to images (files or folders) of any size; writes PNGs to OUT.

    With --run, the options of the run's task are offered too (e.g. --direction for style).
    A generation run (e.g. dcgan) takes no INPUTS: it draws --n samples and writes them as
    one grid to -o FILE.png, or one PNG per sample into the -o folder with --separate.

    \b
    Examples:
      imgen predict --run runs/sr-20261127-101500 photo.png -o out/ --tile 256
      imgen predict --run runs/style-20261127-101500 --direction BtoA photos/ -o out/
      imgen predict --run runs/dcgan-20261127-101500 --n 64 --seed 1 -o grid.png
      imgen predict --run runs/dcgan-20261127-101500 --class cat --n 16 --separate -o cats/
    """
    from imgen.evaluation import generate_files, predict_files, run_takes_image

    ctx = click.get_current_context()
    if not run_takes_image(run):
        if inputs:
            raise UsageError(
                f"{run} generates images from noise and takes no INPUTS "
                f"({inputs[0]}, ...); use --n, --seed and -o FILE.png"
            )
        paths = generate_files(
            run, out, n=n, seed=seed, label=label, separate=separate, device=device, ema=not raw
        )
    else:
        generation = ("n", "seed", "label", "separate")
        given = [p for p in generation if _explicit(ctx, {p: None})]
        if given:
            names = {"n": "--n", "seed": "--seed", "label": "--class", "separate": "--separate"}
            raise UsageError(
                f"{names[given[0]]} is for generation runs (e.g. dcgan); {run} applies its "
                "task to INPUTS images"
            )
        if not inputs:
            raise UsageError(f"missing INPUTS: the image files or folders to apply {run} to")
        paths = predict_files(
            run,
            inputs,
            out,
            tile=tile,
            tile_overlap=tile_overlap,
            device=device,
            ema=not raw,
            **task_options,
        )
    for path in paths:
        click.echo(str(path))


for _command in cli_plugins.COMMANDS:  # install, uninstall, new-plugin
    cli.add_command(_command)


# `imgen bench` lives in a module of its own, torch-free at import like this one.
from imgen.cli_bench import bench  # noqa: E402

cli.add_command(bench)


def main() -> None:
    cli(prog_name="imgen")
