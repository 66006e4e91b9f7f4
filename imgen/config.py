"""Dataclass configs: the single source of the CLI options, TOML files and checkpoint metadata.

A task's ``Config`` subclasses :class:`TrainConfig` and adds (or re-declares, to change a
default) fields made with :func:`option`. :func:`click_options` turns the dataclass into Click
options; :func:`load_toml` reads the same names from a file; ``dataclasses.asdict`` writes them
to ``config.json``; :func:`merge_options` combines a resumed run's stored config, a ``--config``
file and the command line, as ``imgen train`` does.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from imgen.errors import ImgenError, UsageError


def option(
    default: Any,
    help: str,
    *,
    eval: bool = False,
    predict: bool = False,
    arch: bool = False,
    metavar: str | None = None,
    repeatable: bool = False,
) -> Any:
    """A config field. ``eval=True`` also offers it on ``imgen eval TASK``; ``predict=True``
    on ``imgen predict --run RUN`` (for runs of this task); ``arch=True`` marks an option that
    shapes a network, which ``--init RUN`` takes from that run unless it is given.
    ``repeatable=True`` (a str option holding a comma-separated list) may be given several
    times on the command line: ``--logger a --logger b`` is ``"a,b"``, as is ``--logger a,b``
    (and ``logger = "a,b"`` in a TOML file)."""
    return field(
        default=default,
        metadata={
            "help": help,
            "eval": eval,
            "predict": predict,
            "arch": arch,
            "metavar": metavar,
            "repeatable": repeatable,
        },
    )


def split_list(value: str | None) -> list[str]:
    """The items of a comma-separated option (a ``repeatable`` one), blanks dropped, each once."""
    return list(dict.fromkeys(item.strip() for item in (value or "").split(",") if item.strip()))


@dataclass
class TrainConfig:
    """Options every task's training shares. Tasks subclass it and add their own."""

    # old option name -> new one: runs, resumes and TOML files from before a rename still load
    renamed: ClassVar[dict[str, str]] = {}

    data: str | None = option(
        None,
        "Folder of training images (a task may offer built-in samples when omitted).",
        metavar="DIR",
    )
    out: str = option("runs", "Folder in which the run directory is created.", metavar="DIR")
    name: str | None = option(None, "Run directory name [default: TASK-YYYYmmdd-HHMMSS].")
    steps: int = option(
        1000, "Total generator steps of the run (with --resume: train on until this step)."
    )
    batch_size: int = option(16, "Samples per step.")
    crop: int = option(128, "Training crop, in output pixels.")
    lr: float = option(2e-4, "Learning rate (generator; the discriminator's too unless --d-lr).")
    d_lr: float | None = option(
        None, "Discriminator learning rate [default: --lr; --gan-lr where the task has it]."
    )
    beta1: float = option(0.9, "Adam beta1.")
    beta2: float = option(0.99, "Adam beta2.")
    weight_decay: float = option(0.0, "AdamW weight decay.")
    lr_schedule: Literal["constant", "linear", "cosine"] = option(
        "constant", "Learning-rate schedule after warmup: constant, linear decay to 0, cosine."
    )
    warmup: int = option(0, "Linear learning-rate warmup steps.")
    grad_accum: int = option(1, "Micro-batches accumulated per step (batch is split).")
    ema: float = option(0.999, "EMA decay of the generator weights (0 disables).")
    device: str = option("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", "auto: bf16 autocast on CUDA, fp32 elsewhere; fp16 uses a GradScaler."
    )
    channels_last: bool | None = option(
        None,
        "channels_last memory format [default: on CUDA, off elsewhere; `imgen bench` measured "
        "it 0.85-1.13x on the CPU, see the README's performance section].",
    )
    compile: bool = option(False, "torch.compile the networks.")
    seed: int = option(0, "Random seed (weights, data order, crops).")
    deterministic: bool = option(False, "Deterministic algorithms (bitwise-repeatable on CPU).")
    workers: int = option(-1, "Data-loader worker processes (-1: 0 on CPU, else min(8, cores)).")
    log_every: int = option(50, "Log losses to metrics.jsonl every N steps.")
    sample_every: int = option(500, "Write a sample grid every N steps (0: never).")
    logger: str = option(
        "jsonl",
        "Where the metrics and sample grids go, repeatable or comma-separated: jsonl "
        "(metrics.jsonl, always written), tensorboard (RUN/tensorboard/; pip install "
        "'imgen[tensorboard]'), or a plugin's logger (`imgen plugins` lists the loggers).",
        metavar="NAME",
        repeatable=True,
    )
    save_every: int = option(1000, "Write a checkpoint every N steps (and always at the end).")
    keep: int = option(
        1,
        "Newest checkpoints kept (checkpoints/step_N/); older ones are deleted, except the "
        "best validation's when --eval-data is given.",
    )
    skip_nonfinite: int = option(
        0,
        "Skip up to N steps whose loss or gradients are not finite (NaN/inf) instead of "
        "stopping at the first one.",
    )
    eval_data: str | None = option(
        None, "Validation folder evaluated during training.", metavar="DIR"
    )
    eval_every: int = option(0, "Evaluate on --eval-data every N steps (0: only at the end).")
    time_limit: float = option(0.0, "Stop (and save) after this many minutes (0: no limit).")
    resume: str | None = option(
        None,
        "Continue the run in this directory; 'auto' (with --name): continue --out/--name if "
        "it exists, else start it.",
        metavar="RUN_DIR",
    )
    restart: bool = option(
        False,
        "With --resume, when no checkpoint of the run can be read: start it over from step 0, "
        "keeping the unreadable folders aside (renamed step_N.unreadable).",
    )
    sync_bn: bool = option(
        False,
        "With several processes: batch norm over the global batch (SyncBatchNorm), not each "
        "rank's share.",
    )
    dist_timeout: float = option(
        10.0,
        "With several processes: minutes a rank waits for the others before the job stops "
        "(a rank that died or hangs).",
    )
    init: str | None = option(
        None,
        "Start from this run's weights (every network it has; G's EMA copy where it kept "
        "one), with the architecture options it was built with unless given: GAN "
        "fine-tuning of a PSNR-oriented run, or of a model from `imgen import`.",
        metavar="RUN_DIR",
    )

    def __post_init__(self) -> None:
        # Checked here, where the options are declared, so a bad value from the command line,
        # a --config file or a stored run stops the command before a run directory exists.
        # A subclass's __post_init__ calls super().__post_init__() and checks its own options.
        for name in ("steps", "batch_size", "crop", "grad_accum", "log_every", "keep"):
            check_int(self, name, 1)
        for name in ("warmup", "sample_every", "save_every", "eval_every", "skip_nonfinite"):
            check_int(self, name, 0)
        check_int(self, "seed", 0)
        check_int(self, "workers", -1)
        # 0 is allowed: it freezes the weights (tests of --init rely on it).
        check_float(self, "lr", 0)
        if self.d_lr is not None:
            check_float(self, "d_lr", 0)
        check_float(self, "beta1", 0, 1)
        check_float(self, "beta2", 0, 1)
        check_float(self, "weight_decay", 0)
        check_float(self, "ema", 0, 1)
        check_float(self, "time_limit", 0)
        check_float(self, "dist_timeout", 0, low_open=True)
        self.logger = ",".join(split_list(self.logger))
        if self.name is not None and (
            not self.name.strip() or self.name in (".", "..") or any(c in self.name for c in "/\\")
        ):
            # The run directory must stay inside --out: no separators, no "..", no absolute path.
            raise UsageError(
                f"--name {self.name!r} is not a plain folder name; give one without '/', '\\' "
                f"or '..' (the run goes into --out)"
            )
        if self.out and os.path.isfile(self.out):
            raise UsageError(
                f"--out {self.out} is a file, not a folder; give a folder for the run directories"
            )
        check_float_options(self)
        if self.batch_size % self.grad_accum:
            raise UsageError(
                f"--batch-size {self.batch_size} is not divisible by --grad-accum {self.grad_accum}"
            )


def check_int(cfg: Any, name: str, low: int, high: int | None = None) -> None:
    """Raise a UsageError unless option ``name`` of ``cfg`` is an integer in [low, high]."""
    value = getattr(cfg, name)
    if value < low:
        raise UsageError(f"{cli_name(name)} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise UsageError(f"{cli_name(name)} must be at most {high}, got {value}")


def check_float(
    cfg: Any, name: str, low: float, high: float | None = None, *, low_open: bool = False
) -> None:
    """Raise a UsageError unless option ``name`` of ``cfg`` is a finite number from ``low``
    (excluded with ``low_open``) up to ``high`` (always excluded), e.g. EMA decays in [0, 1)."""
    value = getattr(cfg, name)
    low_text = f"greater than {low:g}" if low_open else f"of at least {low:g}"
    bounds = low_text if high is None else f"{low_text} and less than {high:g}"
    if (
        not math.isfinite(value)
        or (value <= low if low_open else value < low)
        or (high is not None and value >= high)
    ):
        raise UsageError(f"{cli_name(name)} must be a finite number {bounds}, got {value}")


def check_float_options(cfg: Any) -> None:
    """Refuse NaN and infinity in every float option of ``cfg`` (a subclass's too), and a
    negative value in every ``*_weight`` option (a loss weight), whatever declared them."""
    for f in fields(type(cfg)):
        value = getattr(cfg, f.name)
        if not isinstance(value, float) or isinstance(value, bool):
            continue
        if f.name.endswith("_weight"):
            check_float(cfg, f.name, 0)
        elif not math.isfinite(value):
            raise UsageError(f"{cli_name(f.name)} must be a finite number, got {value}")


def check_tiling(tile: int | None, tile_overlap: int) -> None:
    """Check ``--tile`` (None: tiles when the whole image would not fit in memory, 0: never)
    and ``--tile-overlap`` of predict and eval."""
    if tile is not None and tile < 0:
        raise UsageError(
            f"--tile must be at least 1 (input pixels per tile) or 0 (never tile), got {tile}"
        )
    if tile_overlap < 0:
        raise UsageError(f"--tile-overlap must be at least 0, got {tile_overlap}")


def fields(cls: type) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def cli_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def click_options(
    cls: type,
    *,
    only_eval: bool = False,
    only_predict: bool = False,
    skip: set[str] = frozenset(),
) -> list:
    """Click options for every field of the config dataclass ``cls`` (or those marked)."""
    import click

    params = []
    types_ = field_types(cls)
    for f in fields(cls):
        if f.name in skip or (only_eval and not f.metadata.get("eval")):
            continue
        if only_predict and not f.metadata.get("predict"):
            continue
        tp, optional = _unwrap_optional(types_[f.name])
        help_text = f.metadata.get("help", "")
        kwargs: dict[str, Any] = {
            "help": help_text,
            "default": f.default,
            "metavar": f.metadata.get("metavar"),
        }
        if f.metadata.get("repeatable"):  # a comma-separated str: repeat or comma-join it
            kwargs["multiple"] = True
            kwargs["default"] = split_list(f.default)
            kwargs["callback"] = lambda ctx, param, value: ",".join(split_list(",".join(value)))
            params.append(click.Option([cli_name(f.name), f.name], show_default=True, **kwargs))
            continue
        if tp is bool:
            decl = f"{cli_name(f.name)}/--no-{f.name.replace('_', '-')}"
            params.append(click.Option([decl], is_flag=True, show_default=True, **kwargs))
            continue
        if typing.get_origin(tp) is Literal:
            choices = {str(a): a for a in typing.get_args(tp)}
            kwargs["type"] = click.Choice(list(choices))
            kwargs.pop("metavar")
            if any(not isinstance(a, str) for a in choices.values()):  # e.g. Literal[2, 4]
                kwargs["callback"] = lambda ctx, param, value, choices=choices: choices.get(
                    value, value
                )
        elif tp in (int, float, str):
            kwargs["type"] = tp
            if f.name in MODEL_ROLES:  # --generator / --discriminator: complete the names
                kwargs["shell_complete"] = _complete_models(f.name)
        elif typing.get_origin(tp) is dict or tp is dict:
            kwargs["type"] = _json_object_type()
            kwargs["metavar"] = kwargs["metavar"] or "JSON"
        elif tp is Path:
            kwargs["type"] = click.Path(path_type=str)
        else:
            kwargs["type"] = str
        params.append(click.Option([cli_name(f.name), f.name], show_default=not optional, **kwargs))
    return params


def parse_json_object(text: str) -> dict[str, Any]:
    """A JSON object given as text (a dict-valued option); a UsageError when it is not one."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{text!r} is not valid JSON ({exc.msg}); give an object such as "
            "'{\"num_grow_ch\": 32}'"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"{text!r} is not a JSON object; give one such as '{{\"key\": 1}}'")
    return value


MODEL_ROLES = ("generator", "discriminator")


def _complete_models(role: str) -> Any:
    """Shell completion of a model option: the registered names of ``role``."""

    def complete(ctx: Any, param: Any, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        from imgen.plugins import registries

        entries = registries().models(role).entries(f"{incomplete}*")
        return [CompletionItem(e.name, help=e.help) for e in entries]

    return complete


def _json_object_type() -> Any:
    """The Click type of dict-valued options: a JSON object on the command line."""
    import click

    class JSONObject(click.ParamType):
        name = "json"

        def convert(self, value: Any, param: Any, ctx: Any) -> Any:
            if value is None or isinstance(value, dict):
                return value
            try:
                return parse_json_object(value)
            except UsageError as exc:
                self.fail(str(exc), param, ctx)

    return JSONObject()


def coerce(cls: type, values: dict[str, Any], *, source: str) -> dict[str, Any]:
    """Check names and types of ``values`` (from TOML or config.json) against ``cls``."""
    types_ = field_types(cls)
    names = {f.name for f in fields(cls)}
    out = {}
    renamed = getattr(cls, "renamed", {})
    for key, value in values.items():
        name = key.replace("-", "_")
        name = renamed.get(name, name)
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(f"{source}: unknown option {key!r}{hint}")
        tp, optional = _unwrap_optional(types_[name])
        if value is None and optional:
            out[name] = None
            continue
        try:
            if tp is bool:
                if not isinstance(value, bool):
                    raise TypeError
            elif tp is float:
                if isinstance(value, bool):
                    raise TypeError
                value = float(value)
            elif tp is int:
                if isinstance(value, bool) or int(value) != value:
                    raise TypeError
                value = int(value)
            elif typing.get_origin(tp) is Literal:
                if value not in typing.get_args(tp):
                    raise TypeError
            elif typing.get_origin(tp) is dict or tp is dict:
                value = parse_json_object(value) if isinstance(value, str) else dict(value)
            elif not isinstance(value, str):
                raise TypeError
        except (TypeError, ValueError):
            raise UsageError(f"{source}: option {key!r} has an invalid value {value!r}") from None
        out[name] = value
    return out


def load_toml(path: str | Path, cls: type) -> dict[str, Any]:
    """Read option values from a TOML file (keys as on the command line, dashes or underscores).

    Values may sit at the top level or in a ``[train]`` table.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        # A binary file (e.g. a pickle): read as text only, never unpickled. A usage error
        # (exit 2), as a --config file that is not valid TOML or JSON.
        raise UsageError(
            f"config file {path} is not text (binary, e.g. a pickle); give a TOML or JSON file"
        ) from None
    except OSError as exc:
        raise ImgenError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return _load_json_config(path, text, cls)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    if isinstance(data.get("train"), dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    return coerce(cls, data, source=str(path))


# A run's own settings, which a new run started from its config.json must not take.
_RUN_ONLY = ("name", "resume", "restart", "init")


def _load_json_config(path: Path, text: str, cls: type) -> dict[str, Any]:
    """Options from a JSON file: a run's ``config.json`` (its ``"config"``, without the run's
    own name, resume and init) or a plain object of options."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} holds no JSON object of options")
    if isinstance(data.get("config"), dict) and "task" in data:  # a run's config.json
        names = {f.name for f in fields(cls)} | set(getattr(cls, "renamed", {}))
        data = {k: v for k, v in data["config"].items() if k in names and k not in _RUN_ONLY}
    return coerce(cls, data, source=str(path))


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, values: dict[str, Any], *, source: str = "config") -> Any:
    """Build ``cls`` from stored values, ignoring options this version no longer has."""
    names = {f.name for f in fields(cls)} | set(getattr(cls, "renamed", {}))
    values = with_legacy(cls, values)
    return cls(**coerce(cls, {k: v for k, v in values.items() if k in names}, source=source))


def with_legacy(cls: type, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A run's stored options with ``cls.legacy``'s values for the options it predates (a
    run from before ``--pretrain-steps`` trained the GAN from step 0, whatever the default
    is now)."""
    renamed = getattr(cls, "renamed", {})
    present = {renamed.get(k, k) for k in stored}
    legacy = getattr(cls, "legacy", {})
    return {**{k: v for k, v in legacy.items() if k not in present}, **stored}


def merge_options(
    cls: type,
    values: Mapping[str, Any],
    explicit: Mapping[str, Any],
    *,
    stored: Mapping[str, Any] | None = None,
    config_file: str | Path | None = None,
    initial: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The option values of a training run, merged from their sources (as ``imgen train``).

    Each source overrides the ones before it:

    1. ``values``: every option of ``cls`` as parsed, defaults included;
    2. ``initial``: the config of the ``--init`` run, its architecture options only (those
       declared with ``option(..., arch=True)``);
       ``stored``: the config of the run being resumed (``config.json``'s ``"config"``);
       options that ``cls`` no longer has are ignored;
    3. ``config_file``: a ``--config`` TOML file (checked by :func:`load_toml`);
    4. ``explicit``: the options given on the command line (or through the environment).

    ``resume`` always keeps its value from ``values``: it names the run to continue, which
    neither the stored config nor a file can change.

    Args:
        cls: the task's config dataclass.
        values: option name -> value, for every option.
        explicit: the subset of ``values`` the user gave.
        stored: the resumed run's stored options, if any.
        config_file: path of a TOML file, if any.

    Returns:
        Keyword arguments for ``cls(...)``.

    Example:
        >>> merge_options(TrainConfig, {"steps": 1000, "lr": 2e-4, "resume": "runs/a"},
        ...               {"lr": 1e-4}, stored={"steps": 500, "lr": 3e-4, "gone": 1})
        {'steps': 500, 'lr': 0.0001, 'resume': 'runs/a'}
    """
    merged = dict(values)
    renamed = getattr(cls, "renamed", {})
    if initial:
        arch = {f.name for f in fields(cls) if f.metadata.get("arch")}
        initial = {renamed.get(k, k): v for k, v in initial.items()}
        merged.update({k: v for k, v in initial.items() if k in arch})
    if stored:
        stored = {renamed.get(k, k): v for k, v in with_legacy(cls, stored).items()}
        merged.update({k: v for k, v in stored.items() if k in merged})
    if config_file:
        merged.update(load_toml(config_file, cls))
    merged.update(explicit)
    merged["resume"] = values.get("resume")
    # A restart is a decision about this invocation, never one stored with the run.
    merged["restart"] = bool(values.get("restart", False))
    return merged


@dataclass
class GANConfig(TrainConfig):
    """Options of every task that trains a discriminator: the objective zoo of the core.

    Tasks re-declare ``gan_loss`` to change its default or add choices (e.g. sr's ``ragan``).
    The engine applies ``spectral_norm`` to the discriminator group; the task's losses read the
    rest through :func:`imgen.losses.adversarial.discriminator_objective`.
    """

    gan_loss: Literal["vanilla", "lsgan", "hinge", "wgan-gp"] = option(
        "vanilla", "Adversarial loss: vanilla (non-saturating), lsgan, hinge, wgan-gp."
    )
    spectral_norm: bool = option(
        False,
        "Spectral normalization on every conv/linear layer of the discriminator (SNGAN).",
        arch=True,
    )
    gp_weight: float = option(10.0, "Gradient-penalty weight (wgan-gp).")
    r1_weight: float = option(
        0.0, "R1 weight gamma: adds gamma/2 * E|grad D(real)|^2 to the D loss (0: off)."
    )
    n_critic: int = option(1, "Discriminator steps per generator step (5 is usual for wgan-gp).")
    discriminator: str = option(
        "patchgan",
        "Discriminator model (`imgen models --role discriminator` lists them).",
        arch=True,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "n_critic", 1)
        for name in ("gp_weight", "r1_weight"):
            check_float(self, name, 0)

    def discriminator_options(self) -> dict[str, Any]:
        """Options offered to the ``--discriminator`` model (it takes those it accepts)."""
        return {}


@dataclass
class PairedGANConfig(GANConfig):
    """Options of a task that maps an input to a target (:class:`imgen.task.PairedGANTask`):
    the pixel loss from the loss registry, and the weights of the generator's terms."""

    pixel_loss: str = option(
        "l1", "Pixel loss: l1, l2, charbonnier, or any registered loss (`imgen plugins`)."
    )
    pixel_weight: float = option(1.0, "Pixel loss weight.")
    gan_weight: float = option(1.0, "Adversarial loss weight; 0 trains without a discriminator.")
    pretrain_steps: int | None = option(
        0,
        "Steps of pixel loss alone (no discriminator) before the GAN phase, which starts from "
        "those weights with a fresh discriminator; 0 trains the GAN from step 0.",
    )
    gan_lr: float | None = option(
        None,
        "Learning rate of the GAN phase (generator; the discriminator's too unless --d-lr) "
        "[default: half of --lr after a --pretrain-steps phase, as ESRGAN's 2e-4 then 1e-4; "
        "--lr without one].",
    )

    # Runs from before an option existed trained as if it had this value.
    legacy: ClassVar[dict[str, Any]] = {"pretrain_steps": 0}
    # --pretrain-steps' default where a task leaves it to the total (sr): ESRGAN and
    # Real-ESRGAN train the PSNR model for 1,000k iterations, then the GAN for 400k.
    PRETRAIN_SHARE: ClassVar[float] = 1000 / 1400

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("pixel_weight", "gan_weight"):
            check_float(self, name, 0)
        if self.pretrain_steps is not None:  # None: the task's default (the trainer stores it)
            check_int(self, "pretrain_steps", 0)
            if self.pretrain_steps and self.gan_weight == 0:
                raise UsageError(
                    f"--pretrain-steps {self.pretrain_steps} has no effect with --gan-weight 0 "
                    "(the whole run trains the pixel loss alone); leave one of them out"
                )
            if self.pretrain_steps > self.steps:
                raise UsageError(
                    f"--pretrain-steps {self.pretrain_steps} is more than --steps {self.steps};"
                    f" pass at most {self.steps} (as many: no GAN phase)"
                )
        if self.gan_lr is not None:
            check_float(self, "gan_lr", 0, low_open=True)
            if self.gan_weight == 0 and self.gan_lr != self.lr:
                raise UsageError(
                    f"--gan-lr {self.gan_lr:g} has no effect with --gan-weight 0 (no GAN "
                    "phase); pass --lr instead"
                )

    def resolved_pretrain_steps(self) -> int:
        """``--pretrain-steps``, its default worked out: :attr:`PRETRAIN_SHARE` of --steps,
        0 with --init (the generator comes trained) or without a GAN (--gan-weight 0)."""
        if self.pretrain_steps is not None:
            return self.pretrain_steps if self.gan_weight > 0 else 0
        if self.init is not None or self.gan_weight == 0:
            return 0
        return round(self.steps * self.PRETRAIN_SHARE)

    def resolved_gan_lr(self) -> float:
        """``--gan-lr``, its default worked out: half of --lr after a pixel-loss phase."""
        if self.gan_lr is not None:
            return self.gan_lr
        return self.lr / 2 if self.resolved_pretrain_steps() else self.lr


@dataclass
class ImageToImageConfig(GANConfig):
    """Options shared by the pix2pix/CycleGAN family (translate, style and their plugins),
    with those papers' defaults: batch 1, 256 crops, Adam(0.5, 0.999), linear LR decay."""

    load_size: int | None = option(
        None,
        "Resize images to this square size before the random --crop (pix2pix's 286); "
        "evaluation then resizes to --crop.",
        eval=True,
    )
    ngf: int = option(64, "Generator features in the first layer.", arch=True)
    ndf: int = option(64, "Discriminator features in the first layer.", arch=True)
    norm: Literal["batch", "instance", "none"] = option("batch", "Normalization layers.", arch=True)
    discriminator: str = option("patchgan", "Discriminator: patchgan or pixelgan.", arch=True)
    d_layers: int = option(3, "PatchGAN layers (3: 70x70 receptive field).", arch=True)
    cache: bool = option(True, "Keep the decoded training images in memory.")
    crop: int = option(256, "Training crop, in output pixels.")
    batch_size: int = option(1, "Samples per step.")
    lr_schedule: Literal["constant", "linear", "cosine"] = option(
        "linear",
        "Learning-rate schedule: linear keeps the LR for the first half of --steps and decays "
        "it to 0 over the second (pix2pix, CycleGAN); constant; cosine.",
    )
    beta1: float = option(0.5, "Adam beta1.")
    beta2: float = option(0.999, "Adam beta2.")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("ngf", "ndf", "d_layers"):
            check_int(self, name, 1)
        if self.load_size is not None and self.load_size < self.crop:
            raise UsageError(f"--load-size {self.load_size} is smaller than --crop {self.crop}")

    def discriminator_options(self) -> dict[str, Any]:
        return {"ndf": self.ndf, "n_layers": self.d_layers, "norm": self.norm}
