"""Which task and networks a foreign state dict is: the readers plugins register.

A reader (``imgen_register_formats``) looks at a state dict and, when it knows the layout,
returns a :class:`Detected`: the task, the config options that rebuild the network (a
generator name, a scale, a depth...) and the weights renamed to that network's keys. The core
asks the readers from the highest priority down and knows no layout itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from imgen.errors import ImgenError

# Readers use these helpers (imgen's own networks too, so they live in imgen.nn).
from imgen.nn.state_dict import (
    drop_norm_statistics,
    fits,
    indices,
    on_meta,
    rename,
)

State = dict[str, torch.Tensor]


@dataclass
class Detected:
    """What a reader found in a file.

    Attributes:
        task: the name of the task that runs it.
        architecture: one line for people, e.g. ``"RRDBNet x4, 23 blocks (ESRGAN, old keys)"``.
        options: config fields of the task that rebuild the networks
            (``{"generator": "rrdbnet", "scale": 4, "num_block": 23}``).
        weights: state dicts per network of the task, in that network's own keys
            (``{"G": {...}}``; a discriminator file gives ``{"D": {...}}``).
        notes: things the user should know (a dropped key, an assumption made).
    """

    task: str
    architecture: str
    options: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, State] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def known_formats() -> list[tuple[str, str]]:
    """(name, help) of every registered reader, in the order they are asked."""
    return [(entry.name, entry.help) for entry in _readers()]


def _readers() -> list[Any]:
    from imgen.plugins import registries

    entries = registries().formats.entries()
    return sorted(entries, key=lambda e: -float(e.meta.get("priority", 0)))


def detect(
    state: Mapping[str, torch.Tensor], *, path: str = "", task: str | None = None
) -> Detected:
    """The first reader's :class:`Detected` for ``state``, or one sentence naming its keys.

    Args:
        state: the file's tensors (see :func:`imgen.weights.read_state_dict`).
        path: the file's path (a reader may look at its name or its siblings: CycleGAN's
            ``latest_net_G_A.pth`` pairs with ``latest_net_G_B.pth``).
        task: the task the user asked for, or None for the reader's own choice.
    """
    from imgen.plugins import registries

    if task is not None:
        registries().tasks.entry(task)  # an unknown --task suggests the registered ones
    for entry in _readers():
        found = entry.load()(dict(state), path=str(path), task=task)
        if found is not None and (task is None or found.task == task):
            return found
    top = sorted({key.split(".")[0] for key in state})
    shown = ", ".join(top[:8]) + (f" and {len(top) - 8} more" if len(top) > 8 else "")
    wanted = f" for task {task!r}" if task else ""
    raise ImgenError(
        f"{path or 'the file'} is no model layout imgen knows{wanted} (top-level keys: "
        f"{shown}); `imgen formats` lists the supported ones"
    )


__all__ = [
    "Detected",
    "detect",
    "drop_norm_statistics",
    "fits",
    "indices",
    "known_formats",
    "on_meta",
    "rename",
]
