"""Reading state dicts whose layout is not known yet: rename keys, count blocks, compare
with candidate networks built on the meta device."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch

State = dict[str, torch.Tensor]


def rename(state: Mapping[str, torch.Tensor], rules: Iterable[tuple[str, str]]) -> State:
    """``state`` with each key rewritten by the regex ``rules`` (pattern, replacement), applied
    in order; e.g. ``[(r"^RRDB_trunk\\.", "body."), (r"\\.RDB(\\d)\\.", r".rdb\\1.")]``."""
    compiled = [(re.compile(p), r) for p, r in rules]
    out: State = {}
    for key, value in state.items():
        for pattern, replacement in compiled:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


def indices(state: Mapping[str, Any], prefix: str) -> list[int]:
    """The sorted integers N of the keys ``prefix + "N." + ...`` (e.g. ``body.`` -> blocks)."""
    found = set()
    for key in state:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def drop_norm_statistics(state: Mapping[str, torch.Tensor], keep: Iterable[str]) -> State:
    """``state`` without running statistics that the network does not have (``keep``: its
    keys): files from before PyTorch 0.4 stored them for InstanceNorm layers, which the
    reference loaders of pix2pix and CycleGAN drop too."""
    keep = set(keep)
    stats = (".running_mean", ".running_var", ".num_batches_tracked")
    return {k: v for k, v in state.items() if k in keep or not k.endswith(stats)}


def on_meta(factory: Any, **kwargs: Any) -> torch.nn.Module:
    """``factory(**kwargs)`` built on the meta device: its keys and shapes, no memory, no
    initialisation cost (for comparing a state dict with candidate configurations)."""
    with torch.device("meta"):
        return factory(**kwargs)


def fits(net: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state`` has exactly ``net``'s keys, with the same shapes."""
    own = net.state_dict()
    return set(own) == set(state) and all(tuple(own[k].shape) == tuple(state[k].shape) for k in own)
