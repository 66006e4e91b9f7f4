"""Conformance checks for plugin authors: does a task, or a model, keep imgen's contracts?

Use them in a plugin's own tests (``imgen new-plugin`` writes such a test)::

    from imgen.testing import check_model, check_task, tiny_image_folder


    def test_denoise_task_conforms(tmp_path):
        data = tiny_image_folder(tmp_path / "images")
        check_task("denoise", data=data, config={"crop": 32, "depth": 3, "features": 8})


    def test_dncnn_conforms():
        check_model("dncnn", kwargs={"depth": 3, "features": 8})

Every check raises :class:`ConformanceError` (an ``AssertionError``, so pytest reports a
failed test) with one sentence naming the task or model, what broke and where to look. On
success it returns a report of what it saw, for further asserts.

What :func:`check_task` checks, in this order (each part is a function of its own):

1. :func:`check_config`: the config dataclass round-trips through the command line
   (``imgen train TASK --option value``), a ``--config`` TOML file and ``config.json``.
2. :func:`check_dataset`: the training dataset gives the same item for the same
   ``(index, seed)`` (exact ``--resume``), and the prepared batch has the declared keys, with
   image tensors in their ranges ([0, 1] unless declared otherwise).
3. One optimization step with the real trainer: it runs, changes the weights of every
   network it optimizes and logs finite losses.
4. The checkpoint round-trips: the run directory alone rebuilds the same networks (raw and
   EMA), and ``--resume`` restores the step, the weights and the optimizer state.
5. ``predict()`` keeps the input size (times the task's scale) for an odd-sized image and
   returns [0, 1]; for tasks without an image input (``takes_image = False``),
   ``generate()`` returns ``n`` images in [0, 1], the same ones for the same seed.
6. ``evaluate()`` reports finite numbers for every metric the task declares (or a note
   saying why one is unavailable).
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import json
import math
import tempfile
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgen.config import TrainConfig, cli_name, click_options, coerce, from_dict, load_toml, to_dict
from imgen.errors import ImgenError
from imgen.task import Task

__all__ = [
    "ConformanceError",
    "ModelReport",
    "TaskReport",
    "check_config",
    "check_dataset",
    "check_model",
    "check_task",
    "tiny_image_folder",
]

TaskLike = Task | type[Task] | str
Range = tuple[float, float]

# Float tolerance of the range checks: prepared images are often x / 255 in float32.
_EPS = 1e-5
# A parameter whose largest gradient is below this fraction of the largest gradient of the
# model gets no gradient in exact arithmetic (float rounding is ~1e-7 relative).
_ZERO_GRAD = 1e-5


class ConformanceError(AssertionError):
    """A task or model breaks one of imgen's contracts (the message says which and why)."""


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


@dataclass
class ModelReport:
    """What :func:`check_model` saw: the model's name, parameter count and output shape."""

    name: str
    parameters: int
    output_shape: tuple[int, ...]


def _fail(subject: str, message: str) -> ConformanceError:
    return ConformanceError(f"{subject}: {message}")


# -- data -----------------------------------------------------------------------------------------
def tiny_image_folder(
    folder: str | Path, count: int = 4, size: tuple[int, int] = (48, 64), seed: int = 0
) -> Path:
    """Write ``count`` small RGB PNG images with some structure (gradients, a disc, stripes),
    enough for one training step of any image task; returns the folder.

    Args:
        folder: created if missing.
        count: number of images (named ``image_000.png`` ...).
        size: (height, width) of each image.
        seed: the images depend on nothing else.

    Example:
        >>> folder = tiny_image_folder(tempfile.mkdtemp(), count=2, size=(32, 40))
        >>> sorted(p.name for p in folder.iterdir())
        ['image_000.png', 'image_001.png']
    """
    import numpy as np
    from PIL import Image

    if count < 1 or min(size) < 1:
        raise ValueError(
            f"tiny_image_folder needs count >= 1 and a positive size, got {count}, {size}."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    for i in range(count):
        # Smooth colour ramps plus edges: denoisers, edge detectors and GANs all see
        # something to learn, and the images differ from each other.
        a, b, c = rng.uniform(0.2, 1.0, 3)
        cy, cx, r = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width, height / 4
        disc = ((y - cy) ** 2 + (x - cx) ** 2 < r**2).astype(np.float64)
        stripes = (np.sin(x / rng.uniform(2, 6)) > 0).astype(np.float64)
        image = np.stack(
            [
                a * x / width + 0.3 * disc,
                b * y / height + 0.2 * stripes,
                c * (1 - x / width) * 0.7 + 0.3 * disc * stripes,
            ],
            axis=-1,
        )
        image = (255 * np.clip(image, 0, 1)).astype(np.uint8)
        Image.fromarray(image).save(folder / f"image_{i:03d}.png")
    return folder


# -- config ---------------------------------------------------------------------------------------
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
                f"option {f.name!r} is a {name}; options are bool, int, float, str or a "
                f"Literal of them (optionally | None)",
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
    return tp in (bool, int, float, str, Path)


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


# -- dataset --------------------------------------------------------------------------------------
def check_dataset(
    task: Task,
    cfg: Any,
    data: str | Path | None,
    *,
    keys: Iterable[str] | None = None,
    ranges: Mapping[str, Range] | None = None,
    batch_size: int = 2,
) -> dict[str, tuple[int, ...]]:
    """Check a task's training data: seed-addressed items and a prepared batch in range.

    Args:
        task: a task already ``setup()`` for training (``prepare`` uses its device).
        cfg: its config.
        data: the folder given as ``--data``.
        keys: keys the prepared batch must have.
        ranges: the ``(low, high)`` range of a key; every other floating tensor that is an
            image (3-D in a dataset item, 4-D in the batch) must be in [0, 1].
        batch_size: samples in the checked batch.

    Returns:
        The shape of every tensor of the prepared batch.
    """
    from torch.utils.data import default_collate

    subject = f"task {task.name!r}"
    ranges = dict(ranges or {})
    dataset = task.dataset(cfg, None if data is None else str(data), "train")
    if len(dataset) < 1:
        raise _fail(subject, f"dataset() over {data} is empty")
    first, again = dataset[(0, 1234)], dataset[(0, 1234)]
    if not isinstance(first, Mapping):
        raise _fail(subject, f"dataset items must be dicts of tensors, got {type(first).__name__}")
    if not _same_item(first, again):
        raise _fail(
            subject,
            "dataset[(index, seed)] differs between two calls; draw every random choice "
            "(crop, flip, noise) from the seed, e.g. with imgen.data.sample_rng(seed), so that "
            "--resume is exact",
        )
    for key, value in first.items():  # (C, H, W) images; other tensors (noise...) if declared
        if (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and (value.ndim == 3 or key in ranges)
        ):
            _check_range(subject, f"dataset item[{key!r}]", value, ranges.get(key, (0.0, 1.0)))
    items = [dataset[(i % len(dataset), 1000 + i)] for i in range(batch_size)]
    batch = task.prepare(default_collate(items))
    if not isinstance(batch, Mapping):
        raise _fail(subject, f"prepare() must return a dict, got {type(batch).__name__}")
    missing = sorted(set(keys or ()) - set(batch))
    if missing:
        raise _fail(
            subject,
            f"the prepared batch lacks {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, batch))}",
        )
    shapes = {}
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor):
            continue
        shapes[key] = tuple(value.shape)
        if value.ndim == 4 and value.shape[0] != batch_size:
            raise _fail(subject, f"batch[{key!r}] has {value.shape[0]} samples, not {batch_size}")
        if value.is_floating_point() and (value.ndim == 4 or key in ranges):
            _check_range(subject, f"batch[{key!r}]", value, ranges.get(key, (0.0, 1.0)))
    return shapes


def _same_item(a: Mapping, b: Mapping) -> bool:
    if set(a) != set(b):
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def _check_range(subject: str, what: str, value: torch.Tensor, bounds: Range) -> None:
    value = value.detach().float()
    if not torch.isfinite(value).all():
        raise _fail(subject, f"{what} has NaN or infinite values")
    low, high = bounds
    lo, hi = float(value.min()), float(value.max())
    if lo < low - _EPS or hi > high + _EPS:
        raise _fail(
            subject,
            f"{what} spans [{lo:.4g}, {hi:.4g}], outside [{low:g}, {high:g}]; images are in "
            f"[0, 1] outside the networks (declare another range with ranges={{key: (lo, hi)}})",
        )


# -- the task -------------------------------------------------------------------------------------
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
    """Check everything imgen expects of a task (see the module's docstring for the list).

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
        scale: ``predict()``'s output size over its input size [default: the config's
            integer ``scale`` option if it has one, else 1].
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
    if getattr(loaded, "takes_image", True):
        report.output_shape = _check_predict(subject, loaded, loaded_cfg, nets, scale, predict_size)
    else:
        report.output_shape = _check_generate(subject, loaded, nets)

    # 6. evaluation
    eval_folder = eval_data if eval_data is not None else data
    if evaluate and eval_folder is not None:
        report.metrics = _check_evaluate(subject, loaded, nets, eval_folder, full=full_eval)
    return report


def _task_factory(task: TaskLike | Callable[[], Task]) -> Callable[[], Task]:
    """A function that makes a fresh task (tasks keep per-run state)."""
    if isinstance(task, str):
        from imgen.plugins import create_task

        return lambda: create_task(task)
    if isinstance(task, Task):
        return lambda: copy.copy(task)
    if callable(task):
        return task
    raise TypeError(f"expected a Task, a Task class or a task name, got {type(task).__name__}")


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


def _output_scale(cfg: Any, scale: int | None) -> int:
    if scale is not None:
        return scale
    value = getattr(cfg, "scale", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


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
    s = _output_scale(cfg, scale)
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
    generate = getattr(task, "generate", None)
    if generate is None:
        raise _fail(subject, "a task with takes_image = False must implement generate()")
    with torch.inference_mode():
        first = generate(nets, 2, seed=0)
        again = generate(nets, 2, seed=0)
        other = generate(nets, 2, seed=1)
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


# -- models ---------------------------------------------------------------------------------------
def check_model(
    model: str | Callable[..., nn.Module],
    *,
    kwargs: Mapping[str, Any] | None = None,
    role: str = "generator",
    input_shape: tuple[int, ...] = (2, 3, 32, 32),
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    output_shape: tuple[int, ...] | None = None,
    zero_grad_ok: Iterable[str] = (),
    seed: int = 0,
) -> ModelReport:
    """Check a generator or discriminator: shapes, gradients, state_dict, determinism.

    1. It builds an ``nn.Module`` whose output for a batch is a finite tensor with the
       batch's size (and ``output_shape``, when given).
    2. Gradients flow to every trainable parameter (not None, finite, not zero) from a
       random projection of the output, in training mode.
    3. Its state_dict round-trips through safetensors (imgen's checkpoint format) into a
       model built with another seed, which then computes the same outputs.
    4. In eval mode, two calls on the same input give the same output.

    Args:
        model: a registered model name (built like a task builds it, with
            :func:`imgen.plugins.create_model`) or a factory: a class or a callable.
        kwargs: keyword arguments of the factory, e.g. ``{"num_feat": 8}`` (keep it small).
        role: ``generator`` or ``discriminator``: the registry of a name.
        input_shape: shape of the random input in [0, 1], batch first (at least 2, for
            batch norm).
        example_input: the input(s) to use instead (e.g. a noise vector and labels).
        output_shape: the exact output shape expected, if known.
        zero_grad_ok: glob patterns of parameters whose gradient may be zero (below 1e-5 of
            the model's largest).
        seed: seed of the weights and input.

    Returns:
        A :class:`ModelReport`.

    Raises:
        ConformanceError: naming the check that failed and why.

    Example:
        >>> check_model("patchgan", role="discriminator", kwargs={"ndf": 8}).output_shape
        (2, 1, 2, 2)
    """
    kwargs = dict(kwargs or {})
    if isinstance(model, str):
        from imgen.plugins import create_model

        name = model
        subject = f"{role} {model!r}"

        def build() -> Any:
            return create_model(model, role, **kwargs)

    else:
        name = getattr(model, "__name__", type(model).__name__)
        subject = f"model {name!r}"

        def build() -> Any:
            return model(**kwargs)

    torch.manual_seed(seed)
    net = build()
    if not isinstance(net, nn.Module):
        raise _fail(subject, f"the factory must return an nn.Module, got {type(net).__name__}")
    if example_input is None:
        generator = torch.Generator().manual_seed(seed)
        inputs: tuple[torch.Tensor, ...] = (torch.rand(*input_shape, generator=generator),)
    else:
        inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    batch = inputs[0].shape[0]

    net.train()
    out = net(*inputs)
    if not isinstance(out, torch.Tensor):
        raise _fail(subject, f"forward() must return a tensor, got {type(out).__name__}")
    if out.ndim < 1 or out.shape[0] != batch:
        raise _fail(subject, f"a batch of {batch} gave an output of shape {tuple(out.shape)}")
    if output_shape is not None and tuple(out.shape) != tuple(output_shape):
        raise _fail(
            subject,
            f"the output has shape {tuple(out.shape)}, not {tuple(output_shape)}, for an input "
            f"of shape {tuple(inputs[0].shape)}",
        )
    if not torch.isfinite(out).all():
        raise _fail(subject, "the output has NaN or infinite values")

    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if params:
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1))
        (out.float() * weights).sum().backward()
        _check_gradients(subject, params, tuple(zero_grad_ok))

    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    try:
        from safetensors.torch import load as load_bytes
        from safetensors.torch import save as save_bytes

        restored = load_bytes(save_bytes(state))
    except Exception as exc:
        raise _fail(subject, f"its state_dict cannot be saved as safetensors: {exc}") from None
    torch.manual_seed(seed + 2)
    twin = build()
    try:
        twin.load_state_dict(restored, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0:2]
        raise _fail(subject, f"its state_dict does not load back: {' '.join(first)}") from None

    net.eval()
    twin.eval()
    with torch.no_grad():
        a, b, c = net(*inputs), net(*inputs), twin(*inputs)
    if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
        raise _fail(
            subject, "two calls in eval mode give different outputs (dropout or noise in eval?)"
        )
    if a.shape != c.shape or not torch.allclose(a, c, rtol=1e-5, atol=1e-6):
        raise _fail(
            subject,
            "a copy loaded from its state_dict computes other outputs; keep all state in "
            "parameters or persistent buffers",
        )
    return ModelReport(name, sum(p.numel() for _, p in params), tuple(out.shape))


def _check_gradients(
    subject: str, params: list[tuple[str, nn.Parameter]], zero_ok: tuple[str, ...]
) -> None:
    def listed(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    missing = [n for n, p in params if p.grad is None]
    if missing:
        raise _fail(
            subject,
            f"no gradient reaches {listed(missing)}; is every parameter used in forward()?",
        )
    bad = [n for n, p in params if not torch.isfinite(p.grad).all()]
    if bad:
        raise _fail(subject, f"the gradient of {listed(bad)} has NaN or infinite values")
    # "Zero" is relative: a bias followed by a normalization that subtracts the mean gets
    # a gradient that is zero in exact arithmetic and only float rounding in practice.
    largest = max(float(p.grad.abs().max()) for _, p in params)
    zero = [
        n
        for n, p in params
        if float(p.grad.abs().max()) <= _ZERO_GRAD * largest
        and not any(fnmatch.fnmatchcase(n, pat) for pat in zero_ok)
    ]
    if zero:
        raise _fail(
            subject,
            f"the gradient of {listed(zero)} is zero (a bias followed by a normalization "
            f"that removes it? build that layer with bias=False)",
        )
