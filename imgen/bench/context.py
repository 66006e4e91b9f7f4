"""What every section of a suite run shares: device, sizes, data folder, budget, log."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from imgen.bench.variants import Profile, Variant


@dataclass
class Context:
    """The settings of one suite run.

    Attributes:
        device: the benchmarked device.
        quick: the ``--quick`` profile (fewer modes, steps and repeats).
        profile: sizes and counts for this device and speed.
        data_root: the photo folder every task trains from (:mod:`imgen.bench.datafolder`).
        out_root: where the trainers' run directories go (a temporary folder).
        overrides: config fields set for every row (``--set KEY=VALUE``, ``--batch-size``,
            ``--crop``); they win over the variants' options.
        deadline: ``time.monotonic()`` after which expensive modes are skipped (None: never).
        log: one progress line (to stderr).
    """

    device: torch.device
    quick: bool
    profile: Profile
    data_root: str
    out_root: str
    overrides: dict[str, Any] = field(default_factory=dict)
    deadline: float | None = None
    budget_minutes: float | None = None
    log: Callable[[str], None] = print
    notes: dict[str, list[str]] = field(default_factory=dict)
    # The longest compiled mode so far (seconds): one that would not end in time is skipped.
    expensive_s: float = 0.0

    def over_budget(self) -> bool:
        """Whether another expensive mode, as long as the longest so far, would overrun."""
        if self.deadline is None:
            return False
        return time.monotonic() + self.expensive_s > self.deadline

    def config(self, task: Any, variant: Variant, **fields: Any) -> Any:
        """The task's config for ``variant`` at this run's sizes, with ``fields`` on top.

        Order (later wins): the profile's batch and crop and quiet run settings, the
        variant's options for this device type, the user's overrides, ``fields`` (a mode's).
        """
        base: dict[str, Any] = {
            "data": self.data_root,
            "out": self.out_root,
            "steps": 10**6,  # a long run's learning rate throughout (schedules, warmup)
            "batch_size": self.profile.batch_size,
            "crop": self.profile.crop,
            "device": str(self.device),
            "workers": 0,
            "log_every": 10**9,
            "sample_every": 0,
            "save_every": 0,
            "eval_every": 0,
            "seed": 0,
        }
        if any(f.name == "pretrain_steps" for f in dataclasses.fields(task.Config)):
            base["pretrain_steps"] = 0  # a GAN task's step with its discriminator, not L1 alone
        values = {
            **base,
            **variant.options_for(self.device.type),
            **self.overrides,
            **fields,
        }
        return task.Config(**values)

    def note(self, label: str, text: str) -> None:
        """Remember a message a task printed (e.g. a loss it disabled), once per variant."""
        seen = self.notes.setdefault(label, [])
        if text not in seen:
            seen.append(text)
            self.log(f"{label}: {text}")

    @contextlib.contextmanager
    def capture(self, label: str) -> Iterator[None]:
        """Collect what tasks print on stderr while building (one note, not one per mode)."""
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stderr(buffer):
                yield
        finally:
            for line in buffer.getvalue().splitlines():
                if line.strip():
                    self.note(label, line.strip())
