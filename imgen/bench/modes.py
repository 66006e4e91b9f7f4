"""The training modes the suite measures, and how ``fast`` is chosen from them.

``baseline`` is what the reference implementations do: fp32, NCHW, eager, the plain
for-loop Adam(W). Every other mode turns on one knob over it, except ``defaults`` (imgen's
defaults on this device, whatever they are) and ``fast`` (the best measured combination).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from typing import Any

# The knobs, each in a group of alternatives: a combination takes at most one per group.
GROUPS = ("precision", "layout", "optimizer", "compile")

# A knob has to beat the baseline by this much to join ``fast``: smaller gains are noise.
WIN_MARGIN = 0.02


@dataclass(frozen=True)
class Mode:
    """How one training row is run. ``None`` fields keep the task config's defaults.

    Attributes:
        precision: ``fp32``, ``bf16`` or ``fp16`` autocast (``--precision``).
        channels_last: the channels_last memory format (``--channels-last``).
        optimizer: ``plain`` (for-loop), ``foreach`` or ``fused`` AdamW.
        compile: ``default`` (torch.compile) or ``reduce-overhead`` (torch.compile with CUDA
            graphs); None: eager.
        group: which knob group the mode turns on (None: baseline, defaults, fast).
    """

    name: str
    help: str
    precision: str | None = "fp32"
    channels_last: bool | None = False
    optimizer: str | None = "plain"
    compile: str | None = None
    group: str | None = None

    @property
    def expensive(self) -> bool:
        """Compiling takes minutes: such modes run last, within the suite's time budget."""
        return self.compile is not None

    def config_options(self) -> dict[str, Any]:
        """The task-config fields this mode sets."""
        out: dict[str, Any] = {}
        if self.precision is not None:
            out["precision"] = self.precision
        if self.channels_last is not None:
            out["channels_last"] = self.channels_last
        if self.name != "defaults":
            out["compile"] = self.compile is not None
        return out

    def optimizer_options(self) -> dict[str, Any] | None:
        """AdamW keyword arguments (None: imgen's own choice, fused on CUDA and the CPU)."""
        return {
            None: None,
            "plain": {"foreach": False, "fused": False},
            "foreach": {"foreach": True},
            "fused": {"fused": True},
        }[self.optimizer]

    def compile_options(self) -> dict[str, Any]:
        return {"mode": self.compile} if self.compile not in (None, "default") else {}


BASELINE = Mode("baseline", "fp32, NCHW, eager, plain for-loop AdamW (the reference code)")
DEFAULTS = Mode(
    "defaults",
    "imgen's defaults on this device (precision auto, its channels_last default, ...)",
    precision=None,
    channels_last=None,
    optimizer=None,
    compile=None,
)
KNOBS = (
    Mode("bf16", "bf16 autocast", precision="bf16", group="precision"),
    Mode("fp16", "fp16 autocast with a GradScaler", precision="fp16", group="precision"),
    Mode("channels_last", "channels_last memory format", channels_last=True, group="layout"),
    Mode("foreach", "foreach (multi-tensor) AdamW", optimizer="foreach", group="optimizer"),
    Mode("fused", "fused AdamW (one kernel)", optimizer="fused", group="optimizer"),
    Mode("compile", "torch.compile, default mode", compile="default", group="compile"),
    Mode(
        "cudagraphs",
        "torch.compile(mode='reduce-overhead'): CUDA graphs",
        compile="reduce-overhead",
        group="compile",
    ),
)
MODES = {m.name: m for m in (BASELINE, DEFAULTS, *KNOBS)}
FAST = "fast"
ALL_MODES = (*MODES, FAST)
QUICK_MODES = ("baseline", "defaults", "bf16", "channels_last", "fused", FAST)


def skip_reason(
    name: str, device_type: str, *, chosen: set[str], requested: bool, quick: bool
) -> str | None:
    """Why mode ``name`` is not measured on this device (None: it is).

    Args:
        chosen: the modes to measure (:func:`chosen_modes`).
        requested: ``chosen`` was given with ``--modes`` (else it is the quick or full set).
        quick: the ``--quick`` set, when not ``requested``.
    """
    if name not in chosen:
        if requested:
            return "not asked for (--modes)"
        return "--quick leaves it out" if quick else "not in the suite"
    if device_type != "cuda":
        if name == "fp16":
            return (
                "fp16 autocast is a GPU format: the CPU has no fast fp16 convolutions "
                "(bf16 is its reduced precision)"
            )
        if name == "cudagraphs":
            return "CUDA graphs exist on CUDA devices only"
        if name == "compile" and not (shutil.which("c++") or shutil.which("g++")):
            return "torch.compile on the CPU needs a C++ compiler, and none was found"
    return None


def chosen_modes(requested: list[str] | None, quick: bool) -> set[str]:
    """The modes to measure: ``requested``, else the quick or the full set."""
    if requested:
        return set(requested)
    return set(QUICK_MODES if quick else ALL_MODES)


def combine(parts: list[Mode]) -> Mode:
    """The baseline with each of ``parts``' knobs turned on (one mode per group)."""
    mode = replace(BASELINE, name=FAST, help="")
    for part in parts:
        changes = {
            field: getattr(part, field)
            for field in ("precision", "channels_last", "optimizer", "compile")
            if getattr(part, field) != getattr(BASELINE, field)
        }
        mode = replace(mode, **changes)
    names = " + ".join(p.name for p in parts) or "baseline"
    return replace(mode, help=f"the best combination measured: {names}")


def winners(speedups: dict[str, float], margin: float = WIN_MARGIN) -> list[Mode]:
    """Per knob group, the fastest mode that beats the baseline by more than ``margin``."""
    best: dict[str, tuple[float, Mode]] = {}
    for name, speedup in speedups.items():
        mode = MODES.get(name)
        if mode is None or mode.group is None or speedup <= 1 + margin:
            continue
        if mode.group not in best or speedup > best[mode.group][0]:
            best[mode.group] = (speedup, mode)
    return [best[g][1] for g in GROUPS if g in best]
