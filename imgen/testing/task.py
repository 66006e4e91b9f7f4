""":func:`check_task`: everything imgen expects of a task, from its options to its evaluation
(the list is in :mod:`imgen.testing`)."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgen.config import from_dict
from imgen.errors import ImgenError
from imgen.task import Task
from imgen.testing.common import Range, TaskLike, _check_range, _fail, _task_factory
from imgen.testing.config import _same_config, check_config
from imgen.testing.data import check_dataset


@dataclass
class TaskReport:
    """What :func:`check_task` saw.

    Attributes:
        task: the task's name.
        config_fields: every option of its config, in order.
        batch: shape of every tensor of a prepared training batch of 2 samples.
        parameters: trainable parameters per network built for training.
        changed: the networks one optimization step changed (all the optimized ones).
        losses: what the training step logged.
        run_dir: the run directory of the check (config, checkpoint, samples).
        output_shape: shape of ``predict()``'s output (or ``generate()``'s).
        metrics: what ``evaluate()`` reported; empty when it was skipped.
    """

    task: str
    config_fields: list[str] = field(default_factory=list)
    batch: dict[str, tuple[int, ...]] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    losses: dict[str, float] = field(default_factory=dict)
    run_dir: Path | None = None
    output_shape: tuple[int, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)


def check_task(
    task: TaskLike,
    *,
    data: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    keys: Iterable[str] | None = None,
    ranges: Mapping[str, Range] | None = None,
    scale: int | None = None,
    predict_size: tuple[int, int] = (37, 45),
    evaluate: bool = True,
    eval_data: str | Path | None = None,
    full_eval: bool = True,
    tmp_path: str | Path | None = None,
    device: str = "cpu",
) -> TaskReport:
    """Check everything imgen expects of a task (:mod:`imgen.testing` lists it).

    Training runs one step with the real :class:`imgen.engine.trainer.Trainer` in fp32 on a
    batch of 2, writing a run directory under ``tmp_path``; keep ``config`` tiny (small crop,
    few features) so that the check takes seconds.

    Args:
        task: a task instance or class, or a registered task name (what a user types).
        data: the training folder (``--data``); None uses the task's default, if any.
        config: option values, e.g. ``{"crop": 32, "ngf": 8}``; ``steps``, ``out``,
            ``device`` and the logging options are set by the check.
        keys: keys the prepared training batch must have (e.g. ``{"noisy", "clean"}``).
        ranges: ``(low, high)`` of batch keys that are not [0, 1] images.
        scale: ``predict()``'s output size over its input size [default: the task's
            ``output_scale()``].
        predict_size: (height, width) of the image given to ``predict()``; odd sizes check
            that the task pads and crops back rather than resizing.
        evaluate: run ``evaluate()`` on ``eval_data``.
        eval_data: folder for ``evaluate()`` [default: ``data``; no data: not evaluated].
        full_eval: evaluate as ``imgen eval`` does (``full=True``) and require every metric
            of ``Task.metrics``; False evaluates as during training (a task may skip costly
            extras there) and checks only that the numbers are finite.
        tmp_path: where the run directory goes [default: a new temporary folder].
        device: ``cpu``, ``cuda``, ...

    Returns:
        A :class:`TaskReport`.

    Raises:
        ConformanceError: naming the check that failed and why.
    """
    from imgen.engine.trainer import Trainer

    make = _task_factory(task)
    instance = make()
    subject = f"task {instance.name!r}"
    report = TaskReport(task=instance.name)
    torch.manual_seed(0)

    # 1. options
    values = dict(config or {})
    values.setdefault("batch_size", 2)
    cfg = check_config(make, values)
    report.config_fields = [f.name for f in dataclasses.fields(cfg)]

    folder = Path(tmp_path) if tmp_path is not None else Path(tempfile.mkdtemp(prefix="imgen-"))
    folder.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(
        cfg,
        data=None if data is None else str(data),
        out=str(folder),
        name=_free_name(folder, f"check-{instance.name}"),
        steps=1,
        device=device,
        precision="fp32",
        compile=False,
        workers=0,
        log_every=1,
        sample_every=0,
        save_every=0,
        eval_data=None,
        eval_every=0,
        time_limit=0.0,
        resume=None,
    )

    # 2. data
    torch_device = torch.device(device)
    instance.setup(cfg, torch_device, train=True)
    report.batch = check_dataset(
        instance, cfg, data, keys=keys, ranges=ranges, batch_size=cfg.batch_size // cfg.grad_accum
    )

    # 3. one optimization step
    try:
        trainer = Trainer(make(), cfg, quiet=True)
    except ImgenError as exc:
        raise _fail(subject, f"training cannot start: {exc}") from None
    report.parameters = {
        name: sum(p.numel() for p in net.parameters() if p.requires_grad)
        for name, net in trainer.nets.items()
    }
    before = {
        name: {k: p.detach().clone() for k, p in net.named_parameters()}
        for name, net in trainer.nets.items()
    }
    run_dir = Path(trainer.fit())
    report.run_dir = run_dir
    for group, names in trainer.groups.items():
        loss = "g_loss" if group == "G" else "d_loss"
        for name in names:
            params = dict(trainer.nets[name].named_parameters())
            if not all(torch.isfinite(p).all() for p in params.values()):
                raise _fail(subject, f"network {name!r} has NaN or infinite weights after one step")
            if not params:
                continue
            if all(torch.equal(p, before[name][k]) for k, p in params.items()):
                raise _fail(
                    subject,
                    f"one optimization step left network {name!r} ({group} group) unchanged; "
                    f"does {loss}() depend on it?",
                )
            report.changed.append(name)
    report.losses = _training_losses(subject, run_dir)
    if not (run_dir / "samples" / "step_000001.png").exists():
        raise _fail(subject, "the run wrote no sample grid; check sample_columns()")

    # 4. the checkpoint
    _check_checkpoint(subject, make, trainer, run_dir, torch_device)

    # 5. outputs
    loaded, loaded_cfg, nets = _load_run(subject, make, run_dir, torch_device, ema=True)
    if loaded.takes_image:
        report.output_shape = _check_predict(subject, loaded, loaded_cfg, nets, scale, predict_size)
    else:
        report.output_shape = _check_generate(subject, loaded, nets)

    # 6. evaluation
    eval_folder = eval_data if eval_data is not None else data
    if evaluate and eval_folder is not None:
        report.metrics = _check_evaluate(subject, loaded, nets, eval_folder, full=full_eval)
    return report


def _free_name(folder: Path, stem: str) -> str:
    name, n = stem, 1
    while (folder / name).exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def _training_losses(subject: str, run_dir: Path) -> dict[str, float]:
    from imgen.engine.rundir import MetricsLog

    events = [e for e in MetricsLog(run_dir).read() if e.get("event") == "train"]
    if not events:
        raise _fail(subject, "the training step logged nothing to metrics.jsonl")
    skip = {"event", "time", "step", "minutes", "lr", "steps_per_s", "data_wait"}
    losses = {k: v for k, v in events[-1].items() if k not in skip}
    for key, value in losses.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(subject, f"the training step logged {key} = {value!r}, not a finite number")
    return losses


def _state_differs(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> str | None:
    """The first key whose tensors differ (or that only one side has), else None."""
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            return key
        if not torch.equal(a[key].detach().cpu(), b[key].detach().cpu()):
            return key
    return None


def _check_checkpoint(
    subject: str, make: Callable[[], Task], trainer: Any, run_dir: Path, device: torch.device
) -> None:
    from imgen.engine.trainer import Trainer

    for ema, expected in ((False, trainer.nets), (True, trainer.eval_nets())):
        _, cfg, nets = _load_run(subject, make, run_dir, device, ema=ema)
        _same_config(subject, "the run's config.json", cfg, trainer.cfg)
        for name, net in nets.items():
            if name not in expected:
                raise _fail(
                    subject,
                    f"build() for inference makes a network {name!r} that training does not",
                )
            key = _state_differs(net.state_dict(), expected[name].state_dict())
            if key is not None:
                kind = "EMA " if ema else ""
                raise _fail(
                    subject,
                    f"the {kind}weights of {name!r} do not round-trip through the checkpoint "
                    f"({key} differs)",
                )
    resumed = Trainer(
        make(), dataclasses.replace(trainer.cfg, resume=str(run_dir), steps=2), quiet=True
    )
    if resumed.step != trainer.step:
        raise _fail(subject, f"--resume starts at step {resumed.step}, not {trainer.step}")
    for name, net in trainer.nets.items():
        key = _state_differs(resumed.nets[name].state_dict(), net.state_dict())
        if key is not None:
            raise _fail(subject, f"--resume does not restore network {name!r} ({key} differs)")
    for group, optimizer in trainer.optimizers.items():
        saved = optimizer.state_dict()["state"]
        loaded = resumed.optimizers[group].state_dict()["state"]
        for index, state in saved.items():
            for key, value in state.items():
                other = loaded.get(index, {}).get(key)
                same = (
                    torch.equal(value, other)
                    if isinstance(value, torch.Tensor) and isinstance(other, torch.Tensor)
                    else value == other
                )
                if not same:
                    raise _fail(subject, f"--resume does not restore the {group} optimizer's {key}")


def _load_run(
    subject: str, make: Callable[[], Task], run_dir: Path, device: torch.device, *, ema: bool
) -> tuple[Task, Any, dict[str, nn.Module]]:
    """What :func:`imgen.engine.loading.load_run` does, with the task at hand rather than the
    one registered under its name, so that an unregistered task can be checked too."""
    from imgen.engine.checkpoint import load_weights
    from imgen.engine.rundir import read_config

    task = make()
    info = read_config(run_dir)
    if info.get("task") != task.name:
        raise _fail(subject, f"the run's config.json names task {info.get('task')!r}")
    cfg = from_dict(task.Config, info["config"], source=str(run_dir / "config.json"))
    task.setup(cfg, device)
    nets = task.build(cfg)
    weights = load_weights(run_dir, ema=ema)
    for name, net in nets.items():
        if name not in weights:
            raise _fail(subject, f"the checkpoint has no weights for network {name!r}")
        net.load_state_dict(weights[name])
        net.to(device).eval()
    return task, cfg, nets


def _check_image(subject: str, what: str, out: Any) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise _fail(subject, f"{what} must return a (B, C, H, W) tensor, got {shape}")
    if out.shape[1] not in (1, 3):
        raise _fail(subject, f"{what} returned {out.shape[1]} channels; images have 1 or 3")
    _check_range(subject, f"{what}'s output", out, (0.0, 1.0))
    return out


def _check_predict(
    subject: str,
    task: Task,
    cfg: Any,
    nets: dict[str, nn.Module],
    scale: int | None,
    size: tuple[int, int],
) -> tuple[int, ...]:
    s = scale if scale is not None else task.output_scale()
    height, width = size
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    image = image.to(task.device or "cpu")
    with torch.inference_mode():
        out = task.predict(nets, image)
    _check_image(subject, "predict()", out)
    if out.shape[0] != 1 or tuple(out.shape[-2:]) != (height * s, width * s):
        raise _fail(
            subject,
            f"predict() turned a 1x3x{height}x{width} image into "
            f"{'x'.join(map(str, out.shape))}, not 1xCx{height * s}x{width * s}; pad to the "
            f"network's multiple and crop back (imgen.inference.predict_tiled does), never resize",
        )
    return tuple(out.shape)


def _check_generate(subject: str, task: Task, nets: dict[str, nn.Module]) -> tuple[int, ...]:
    if type(task).generate is Task.generate:
        raise _fail(subject, "a task with takes_image = False must implement generate()")
    with torch.inference_mode():
        first = task.generate(nets, 2, seed=0)
        again = task.generate(nets, 2, seed=0)
        other = task.generate(nets, 2, seed=1)
    _check_image(subject, "generate()", first)
    if first.shape[0] != 2:
        raise _fail(subject, f"generate(nets, 2) returned {first.shape[0]} images, not 2")
    if not torch.equal(first, again):
        raise _fail(subject, "generate() gives other images for the same seed")
    if torch.equal(first, other):
        raise _fail(subject, "generate() gives the same images for seeds 0 and 1")
    return tuple(first.shape)


def _check_evaluate(
    subject: str, task: Task, nets: dict[str, nn.Module], data: str | Path, *, full: bool
) -> dict[str, Any]:
    # as `imgen eval` does (imgen.evaluation.evaluate_task), which passes full=True
    options = {"full": True} if full else {}
    with torch.inference_mode():
        result = task.evaluate(nets, str(data), **options)
    if not isinstance(result, dict):
        raise _fail(subject, "evaluate() must return {'metrics': {name: value, ...}, ...}")
    metrics = result.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise _fail(subject, "evaluate() must return {'metrics': {name: value, ...}, ...}")
    for name, value in metrics.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(subject, f"evaluate() reported {name} = {value!r}, not a finite number")
    notes = " ".join(result.get("notes", []))
    for name in task.metrics if full else []:
        if name not in metrics and name not in notes:
            raise _fail(
                subject,
                f"metric {name!r} is declared in metrics but evaluate() reported only "
                f"{', '.join(metrics)} (and no note on why)",
            )
    return metrics
