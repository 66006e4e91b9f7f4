"""Experiment tracking: ``metrics.jsonl`` (always) and the ``--logger`` backends.

A logger is registered by name through the ``imgen_register_loggers`` hook (the core
registers ``jsonl`` and ``tensorboard``). Its factory is called without arguments on every
process before the run directory exists, so that a missing package stops ``imgen train``
in one sentence before anything is written (raise :class:`imgen.errors.UsageError`, e.g.
with :func:`imgen.extras.require`). The main process then calls, on what it returned:

- ``open(run_dir, config, step)`` when training starts (``step`` > 0 on ``--resume``);
- ``log_scalars(step, values)`` where ``metrics.jsonl`` gets a ``train`` or ``eval`` line:
  every number of the line but the step, named ``"train/<key>"`` or ``"eval/<metric>"``
  (``train/g_loss``, ``train/lr``, ``train/steps_per_s``, ``eval/psnr``...);
- ``log_image(step, name, path)`` for each sample grid, once per step (``name`` is
  ``"samples"``, ``path`` the PNG file in ``RUN/samples/``);
- ``close()`` when training ends, however it ends.

A logger that raises is reported once on stderr and switched off for the rest of the run:
a tracker's outage never costs a training run.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imgen.engine.rundir import MetricsLog
from imgen.errors import UsageError

# The events of metrics.jsonl whose numbers go to the loggers, and the keys that are no metric.
SCALAR_EVENTS = ("train", "eval")
NOT_SCALARS = frozenset({"event", "time", "step", "minutes"})


class Logger:
    """The logger interface, every method a no-op: a plugin's logger overrides what it uses."""

    def open(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        """Training of the run in ``run_dir`` (its options: ``config``) starts at ``step``."""

    def log_scalars(self, step: int, values: dict[str, float]) -> None:
        """Numbers logged at ``step``: ``{"train/g_loss": 0.1, "eval/psnr": 27.3, ...}``."""

    def log_image(self, step: int, name: str, path: Path) -> None:
        """An image (a PNG file) written at ``step``: the sample grids, as ``"samples"``."""

    def close(self) -> None:
        """Training ended (finished, interrupted or failed): flush and release."""


class JsonlLogger(Logger):
    """``metrics.jsonl``: the trainer always writes it, so naming it changes nothing."""


class TensorBoardLogger(Logger):
    """TensorBoard event files in ``RUN/tensorboard/``: the scalars, the sample grids as
    images, and the config as text (``tensorboard --logdir runs``)."""

    def __init__(self) -> None:
        require_tensorboard()
        self.writer: Any = None

    def open(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run drops the events logged after its checkpoint's step (those
        # of that step stay: the resumed run does not log them again)
        self.writer = SummaryWriter(
            str(run_dir / "tensorboard"), purge_step=step + 1 if step else None
        )
        if not step:
            text = json.dumps(config, indent=2)
            self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def log_scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def log_image(self, step: int, name: str, path: Path) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image(name, pixels, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def require_tensorboard() -> None:
    from imgen.extras import require

    require("tensorboard", "--logger tensorboard", "pip install 'imgen[tensorboard]'")


def make_loggers(names: list[str]) -> dict[str, Logger]:
    """The loggers of ``--logger`` (a list of registered names; ``jsonl`` is implied), made
    before the run directory exists: an unknown name or a missing package is a UsageError."""
    from imgen.plugins import registries

    registry = registries().loggers
    loggers = {}
    for name in names:
        if name == "jsonl":
            continue
        if name not in registry:
            raise UsageError(f"--logger: {registry.unknown_message(name)}")
        loggers[name] = registry.get(name)()
    return loggers


class Tracker:
    """``metrics.jsonl`` and the ``--logger`` loggers together, on the main process.

    ``write`` appends an event to ``metrics.jsonl`` and, once :meth:`open` was called, gives
    the numbers of ``train`` and ``eval`` events to every logger.
    """

    def __init__(
        self,
        log: MetricsLog,
        loggers: dict[str, Logger] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.log = log
        self.loggers = dict(loggers or {})
        self.say = say or (lambda message: print(f"imgen: {message}", file=sys.stderr))
        self.opened = False
        self._imaged: dict[str, int] = {}

    @property
    def path(self) -> Path:
        return self.log.path

    def read(self) -> list[dict[str, Any]]:
        return self.log.read()

    def open(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        self.opened = True
        self._each("open", run_dir, config, step)

    def write(self, event: str, **values: Any) -> None:
        self.log.write(event, **values)
        if self.opened and event in SCALAR_EVENTS and self.loggers:
            scalars = scalar_values(values)
            if scalars:
                self._each("log_scalars", int(values.get("step", 0)), prefixed(event, scalars))

    def image(self, step: int, name: str, path: Path) -> None:
        # once per step: the last grid of a run is written again after its final save
        if self.opened and self._imaged.get(name) != step:
            self._imaged[name] = step
            self._each("log_image", step, name, path)

    def close(self) -> None:
        if self.opened:
            self.opened = False
            self._each("close")

    def _each(self, method: str, *args: Any) -> None:
        for name, logger in list(self.loggers.items()):
            try:
                getattr(logger, method)(*args)
            except Exception as exc:  # a tracker's failure never stops training
                del self.loggers[name]
                detail = " ".join(f"{type(exc).__name__}: {exc}".split())
                self.say(f"logger {name!r} failed in {method}() and is switched off: {detail}")
                if method != "close":
                    with contextlib.suppress(Exception):
                        logger.close()


def scalar_values(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of an event's values (booleans and the step excluded)."""
    return {
        key: float(value)
        for key, value in values.items()
        if key not in NOT_SCALARS
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


def prefixed(event: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{event}/{key}": value for key, value in values.items()}
