"""``imgen train TASK`` and ``imgen eval TASK``: groups whose subcommands are the registered
tasks, with options generated from each task's config dataclass.

A task's subcommand is built (importing torch and the task's plugin) only when it is used, so
that ``imgen train --help`` lists the tasks without importing torch.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from imgen.cli.common import CONTEXT, examples, explicit, fail, guard, without_option
from imgen.errors import ImgenError, UsageError


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
            build = train_command if self.mode == "train" else eval_command
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
            ctx = self.real().make_context(info_name, list(args), parent=parent, **extra)
        except ImgenError as exc:
            fail(exc)
        ctx.meta["imgen.args"] = list(args)  # what --nproc hands on to each process
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        return ctx.command.invoke(ctx)


def _task_run(run_dir: str, task: str, option: str) -> dict[str, Any]:
    """The config.json of ``run_dir``, which must be a run of ``task``."""
    from imgen.engine.rundir import read_config

    run = read_config(run_dir)
    if run["task"] != task:
        raise UsageError(
            f"{run_dir} is a {run['task']!r} run, not {task!r}; use imgen train "
            f"{run['task']} {option} {run_dir}"
        )
    return run


def NO_DOWNLOAD() -> click.Option:  # noqa: N802 - reads as the constant option it makes
    """``--no-download``: what ``IMGEN_OFFLINE=1`` does, for one command."""
    return click.Option(
        ["--no-download"],
        is_flag=True,
        help="Never use the network (as IMGEN_OFFLINE=1): pretrained weights and published "
        "models come from the hub cache only; a missing file is an error that says where to "
        "put it.",
    )


def _offline_flag(no_download: bool) -> None:
    if no_download:
        from imgen.hub import set_offline

        set_offline()  # in the environment: torchrun's processes inherit it


def _published_file(name: str, task: str) -> str:
    """The hub-cache file of the published model ``name`` (pulled when absent), which must be
    a model of ``task``."""
    from imgen.published import find, pull

    entry = find(name)
    if entry.task != task:
        raise UsageError(f"{name} is a published {entry.task!r} model, not a {task!r} one")
    return str(pull(name))


def _published_run(name: str, task: str) -> str:
    """``--init NAME``: the run directory imported from the published model ``name``, kept
    in the hub cache beside its file (``imgen-runs/NAME``) and made once."""
    from imgen.published import find, is_published

    if not is_published(name):
        raise UsageError(
            f"--init {name}: no such run directory nor published model; give a run "
            "directory or a name from `imgen models --published`"
        )
    path = _published_file(name, task)
    run = find(name).path.parent / "imgen-runs" / name
    if not (run / "config.json").is_file():
        from imgen.weights.loading import import_model

        if run.exists():  # an import that stopped half-way
            import shutil

            shutil.rmtree(run)
        import_model(path, run, task=task)
        click.echo(f"imgen: --init {name}: imported {path} as {run}", err=True)
    return str(run)


# Where a torchrun job without --name records its run directory, for its restarted workers.
ELASTIC_RECORDS = ".torchrun-runs"


def _elastic_restart() -> tuple[str | None, bool]:
    """(torchrun's run id, whether this worker is a restart: TORCHELASTIC_RESTART_COUNT > 0)."""
    import os

    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    try:
        count = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    except ValueError:
        count = 0
    return run_id, count > 0


def _record_elastic_run(out: str, run_dir: Path) -> None:
    """Under torchrun, note ``run_dir`` under the job's run id in ``out``, so that a restarted
    worker (which cannot know the timestamped name the first attempt chose) continues it."""
    run_id, _ = _elastic_restart()
    if not run_id or run_id == "none":
        return
    records = Path(out, ELASTIC_RECORDS)
    records.mkdir(parents=True, exist_ok=True)
    (records / _record_name(run_id)).write_text(str(run_dir) + "\n")


def _record_name(run_id: str) -> str:
    """``run_id`` as one file name (an id such as a SLURM array's may hold a separator)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def _auto_resume(values: dict[str, Any]) -> str | None:
    """The run directory to continue, or None to start one: ``--resume auto`` and a worker
    that torchrun restarted (after a rank failed) continue ``--out/--name`` when it holds a
    run (its config.json), else start it; a restarted worker without ``--name`` continues the
    directory its job's first attempt recorded under TORCHELASTIC_RUN_ID. Every attempt and
    rank decides from the same files, so all of them pick the same directory."""
    resume = values.get("resume")
    run_id, restarted = _elastic_restart()
    if resume not in (None, "auto") or (resume is None and not restarted):
        return resume
    out = values.get("out") or "runs"
    name = values.get("name")
    if name:
        run = Path(out, name)
        return str(run) if (run / "config.json").exists() else None
    if resume == "auto" and not restarted:
        raise UsageError("--resume auto needs --name: the run directory to continue or start")
    record = Path(out, ELASTIC_RECORDS, _record_name(run_id or "none"))
    if run_id and run_id != "none" and record.exists():
        run = Path(record.read_text().strip())
        if (run / "config.json").exists():
            return str(run)
    return None


# Options a resumed run may take anew without changing what it learns: how long and where it
# runs, and what it writes; any other stored option differs only with --allow-changes.
RESUME_FREE = frozenset(
    {
        "data", "out", "name", "resume", "init", "steps", "time_limit", "keep", "save_every",
        "log_every", "sample_every", "eval_every", "eval_data", "workers", "logger",
        "dist_timeout", "device", "compile", "channels_last", "skip_nonfinite", "restart",
    }
)  # fmt: skip


def _resume_changes(cls: type, stored: dict[str, Any], cfg: Any) -> dict[str, tuple[Any, Any]]:
    """Options of ``cfg`` that differ from the resumed run's stored ones (old, new), except
    those in :data:`RESUME_FREE`; both sides pass through ``cls`` so types compare alike."""
    from imgen.config import from_dict, to_dict

    try:
        before = to_dict(from_dict(cls, stored, source="config.json"))
    except ImgenError:  # a stored config this version refuses: nothing sensible to compare
        return {}
    after = to_dict(cfg)
    return {
        k: (before[k], after[k])
        for k in after
        if k in before and k not in RESUME_FREE and before[k] != after[k]
    }


class StartupStopped(BaseException):
    """SIGINT, SIGTERM or SIGUSR1 before the training loop began (there is nothing to save)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stopped_during_startup():
    """Turn a stop signal during start-up (imports, data checks, model building) into
    :class:`StartupStopped`, so that it ends in one sentence and the signal's exit code rather
    than a traceback or a silent kill. The training loop installs its own handlers."""
    from imgen.engine.trainer import STOP_SIGNALS

    def stop(signum: int, frame: Any) -> None:
        raise StartupStopped(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def train_command(task: Any) -> click.Command:
    """The ``imgen train TASK`` command of ``task``: ``--config`` and its config's options."""
    from imgen.config import click_options

    cls = task.Config

    def callback(**values: Any) -> None:
        from imgen.config import load_toml, merge_options
        from imgen.engine.trainer import Interrupted, Trainer

        ctx = click.get_current_context()
        config_file = values.pop("config")
        nproc = values.pop("nproc")
        _offline_flag(values.pop("no_download"))
        allow_changes = values.pop("allow_changes")
        if nproc > 1:  # this process only launches: one training process per rank
            from imgen.engine.distributed import launch

            launch(nproc, ["train", task.name, *without_option(ctx.meta["imgen.args"], "--nproc")])
            return
        values["resume"] = _auto_resume(values)
        stored = initial = None
        if values.get("resume"):
            stored = _task_run(values["resume"], task.name, "--resume")["config"]
        else:
            init = values.get("init")
            if init is None and config_file:
                init = load_toml(config_file, cls).get("init")
            if init and not Path(init).exists():  # a published model's name
                init = values["init"] = _published_run(init, task.name)
            if init:  # its architecture options are the defaults of this run
                initial = _task_run(init, task.name, "--init")["config"]
        merged = merge_options(
            cls,
            values,
            explicit(ctx, values),
            stored=stored,
            config_file=config_file,
            initial=initial,
        )
        cfg = cls(**merged)
        changes = {}
        # A run without a checkpoint (imported, or stopped before its first save) has trained
        # nothing the new options could spoil.
        if stored is not None and any(Path(values["resume"], "checkpoints").glob("step_*")):
            changes = _resume_changes(cls, stored, cfg)
        if changes and not allow_changes:
            listed = ", ".join(
                f"--{k.replace('_', '-')} {old!r} -> {new!r}" for k, (old, new) in changes.items()
            )
            raise UsageError(
                f"--resume {values['resume']} would change training options the run was "
                f"started with ({listed}); leave them out to continue the run as it was, or "
                "add --allow-changes to change them (recorded in metrics.jsonl)"
            )
        try:
            with _stopped_during_startup():
                trainer = Trainer(task, cfg)
            if trainer.dist.is_main and not cfg.name:
                _record_elastic_run(cfg.out, trainer.run_dir)
            if changes and trainer.dist.is_main:
                from imgen.engine.rundir import MetricsLog

                MetricsLog(Path(values["resume"])).write(
                    "options_changed", changes={k: list(v) for k, v in changes.items()}
                )
            run_dir = trainer.fit()
        except StartupStopped as stopped:
            name = signal.Signals(stopped.signum).name
            click.echo(
                f"imgen: {name} during start-up, before step 1: nothing was trained or saved; "
                "run the command again (a run directory it already made resumes from step 0 "
                "with --resume)",
                err=True,
            )
            ctx.exit(128 + stopped.signum)
        except Interrupted as stopped:  # saved; the hint is printed, no "Aborted!" from click
            ctx.exit(128 + int(stopped.signum))
        except KeyboardInterrupt:  # a second Ctrl-C: aborted without saving, as it said
            ctx.exit(130)
        except Exception as exc:  # under torchrun: the launcher names this rank's error
            from imgen.engine.distributed import record_failure

            record_failure(exc)
            raise
        if trainer.dist.is_main:
            click.echo(str(run_dir))

    lines = task.examples or [f"imgen train {task.name} --data ./images --steps 1000"]
    params = [
        click.Option(
            ["--config"],
            type=click.Path(dir_okay=False),
            default=None,
            help="TOML file with any of these options, or a run's config.json (its options but "
            "its name): the command line wins.",
        ),
        click.Option(
            ["--allow-changes"],
            is_flag=True,
            help="With --resume: accept training options that differ from the run's "
            "config.json (lr, batch size...); the change is recorded in metrics.jsonl and "
            "config.json. Without it such a resume is refused.",
        ),
        click.Option(
            ["--nproc"],
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Train in N processes on this node (one per GPU; gloo on the CPU), through "
            "torchrun's launcher; for several nodes use torchrun itself (see the README).",
        ),
        NO_DOWNLOAD(),
    ]
    params += click_options(cls)
    return click.Command(
        task.name,
        callback=guard(callback),
        params=params,
        context_settings=CONTEXT,
        help=f"Train the {task.name!r} task: {task.help}\n\n"
        f"Writes a run directory (config.json, checkpoints/, samples/, metrics.jsonl) "
        f"and prints its path.\n\n" + examples(lines),
    )


def eval_command(task: Any) -> click.Command:
    """The ``imgen eval TASK`` command of ``task``: the generic options, ``--metric`` and
    its config's options marked for evaluation."""
    from imgen.config import click_options

    cls = task.Config

    def callback(
        run: str | None,
        weights: str | None,
        data: str | None,
        device: str,
        precision: str,
        as_json: bool,
        tile: int | None,
        tile_overlap: int,
        metric: tuple[str, ...],
        quiet: bool,
        model_name: str | None,
        no_download: bool,
        **values: Any,
    ) -> None:
        from imgen.config import check_tiling
        from imgen.engine.device import resolve_device
        from imgen.evaluation import evaluate_task

        check_tiling(tile, tile_overlap)
        _offline_flag(no_download)
        if model_name is not None:
            if run or weights:
                raise UsageError("give one of --run, --weights and --model")
            weights = _published_file(model_name, task.name)
        ctx = click.get_current_context()
        result = evaluate_task(
            task,
            run=run,
            weights=weights,
            precision=precision,
            quiet=quiet,
            data=data,
            device=resolve_device(device),
            overrides=explicit(ctx, values),
            tile=tile,
            tile_overlap=tile_overlap,
            full=True,  # what only a final evaluation computes (e.g. style's realism score)
            metrics=tuple(metric),
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
            ["--weights"],
            type=click.Path(dir_okay=False, exists=True),
            default=None,
            help="A model file made elsewhere to evaluate (.pth, .safetensors...; `imgen "
            "formats` lists the layouts).",
        ),
        click.Option(
            ["--model", "model_name"],
            default=None,
            metavar="NAME",
            help="A published model by name (`imgen models --published`), pulled into the hub "
            "cache when absent.",
        ),
        NO_DOWNLOAD(),
        click.Option(
            ["--data"],
            type=click.Path(exists=True),
            required=task.takes_image,  # a generation task compares with its training data
            help="Evaluation folder."
            if task.takes_image
            else "Real images to compare with [default: the run's training data].",
        ),
        click.Option(["--device"], default="auto", show_default=True, help="auto, cpu, cuda."),
        click.Option(
            ["--precision"],
            type=click.Choice(["auto", "fp32", "fp16", "bf16"]),
            default="fp32",
            show_default=True,
            help="The networks' precision (auto: bf16 on a CUDA device that has it); the "
            "metrics are always computed in fp32.",
        ),
        click.Option(
            ["--tile"],
            type=int,
            default=None,
            help="Process in tiles of N input pixels (N >= 1) [default: whole images].",
        ),
        click.Option(
            ["--tile-overlap"],
            type=int,
            default=32,
            show_default=True,
            help="Context pixels around each tile.",
        ),
        click.Option(
            ["--metric"],
            multiple=True,
            metavar="NAME",
            help="Also compute this registered metric (repeatable); `imgen plugins` lists them.",
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="Print one JSON object."),
        click.Option(["--quiet", "-q"], is_flag=True, help="No progress bar."),
    ]
    params += click_options(cls, only_eval=True)
    lines = task.eval_examples or [
        f"imgen eval {task.name} --run runs/{task.name}-1 --data ./val --json"
    ]
    return click.Command(
        task.name,
        callback=guard(callback),
        params=params,
        context_settings=CONTEXT,
        help=f"Evaluate the {task.name!r} task ({', '.join(task.metrics)}).\n\n" + examples(lines),
    )


@click.group(cls=TaskGroup, mode="train", context_settings=CONTEXT)
def train() -> None:
    """Train a task; each registered task is a subcommand with its own options.

    \b
    Examples:
      imgen train sr --steps 200              # built-in sample photos
      imgen train sr --data ./photos --scale 4 --gan-weight 0
      imgen train sr --resume runs/sr-20261127-101500 --steps 40000
    """


@click.group(cls=TaskGroup, mode="eval", context_settings=CONTEXT)
def eval() -> None:
    """Evaluate a run (or a baseline) on a folder; `--json` for one JSON object.

    \b
    Example:
      imgen eval sr --generator bicubic --scale 4 --data ./Set5
    """
