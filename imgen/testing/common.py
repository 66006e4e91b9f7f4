"""What the checks of :mod:`imgen.testing` share: the error they raise, the task factory and
the range check of images."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from imgen.task import Task

TaskLike = Task | type[Task] | str
Range = tuple[float, float]
# Float tolerance of the range checks: prepared images are often x / 255 in float32.
_EPS = 1e-5


class ConformanceError(AssertionError):
    """A task or model breaks one of imgen's contracts (the message says which and why)."""


def _fail(subject: str, message: str) -> ConformanceError:
    return ConformanceError(f"{subject}: {message}")


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
