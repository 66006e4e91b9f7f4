"""The suite: environment, matmul peak, training, inference, data pipeline, degradation and
metrics.

:func:`run_suite` returns one JSON-ready report (machine, versions, every setting, the rows
of each section and a per-variant summary); ``imgen bench`` prints it as tables and writes
it with ``--json``. Sections run in an order that keeps the expensive part last: the eager
training modes of every variant, then inference, data and metrics, then the compiled modes
(within ``max_minutes``), then each variant's ``fast`` combination.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgen.errors import UsageError

SECTIONS = ("train", "inference", "data", "degradation", "metrics")

# Defaults may not cost more than this against the baseline (the acceptance).
DEFAULTS_TOLERANCE = 0.05


def _stderr(line: str) -> None:
    print(f"imgen bench: {line}", file=sys.stderr, flush=True)


@dataclass
class SuiteOptions:
    """What ``imgen bench`` was asked for (None: the profile's value)."""

    tasks: tuple[str, ...] = ()
    device: str = "auto"
    quick: bool = False
    modes: list[str] | None = None
    sections: list[str] | None = None
    steps: int | None = None
    warmup: int | None = None
    batch_size: int | None = None
    crop: int | None = None
    size: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    max_minutes: float | None = None
    images: int | None = None  # synthetic 2K PNGs of the data sources' table (None: 40)
    log: Callable[[str], None] = _stderr


def resolve_variants(specs: tuple[str, ...]) -> list[Any]:
    """``sr``, ``sr:rrdbnet``... as variants (no specs: every registered task's)."""
    from imgen.bench.variants import select
    from imgen.plugins import create_task, registries

    tasks = registries().tasks
    specs = specs or tuple(tasks.names())
    out = []
    for spec in specs:
        name, _, variant = spec.partition(":")
        if name not in tasks:
            raise UsageError(tasks.unknown_message(name))
        out.extend(select(create_task(name), variant or None))
    return out


def _check_modes(modes: list[str] | None) -> None:
    from imgen.bench.modes import ALL_MODES

    for name in modes or []:
        if name not in ALL_MODES:
            raise UsageError(f"unknown mode {name!r}; the modes are: {', '.join(ALL_MODES)}")


def _check_sections(sections: list[str] | None) -> None:
    for name in sections or []:
        if name not in SECTIONS:
            raise UsageError(f"unknown section {name!r}; the sections are: {', '.join(SECTIONS)}")


def run_suite(opts: SuiteOptions) -> dict[str, Any]:
    """Run the suite and return its report (see the module docstring)."""
    from imgen.bench.environment import machine, versions
    from imgen.bench.variants import profile
    from imgen.engine.device import resolve_device

    started = time.monotonic()
    _check_modes(opts.modes)
    _check_sections(opts.sections)
    device = resolve_device(opts.device)
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"imgen bench measures cpu and cuda devices, not {device.type}")
    prof = profile(device.type, opts.quick)
    changes = {"steps": opts.steps, "warmup": opts.warmup, "size": opts.size}
    if opts.size is not None:  # --size: the side of the metrics' images too, at most
        changes["metric_size"] = min(prof.metric_size, opts.size)
    prof = dataclasses.replace(prof, **{k: v for k, v in changes.items() if v is not None})
    overrides = dict(opts.overrides)
    if opts.batch_size is not None:
        overrides["batch_size"] = opts.batch_size
    if opts.crop is not None:
        overrides["crop"] = opts.crop
    variants = resolve_variants(opts.tasks)
    sections = list(opts.sections or SECTIONS)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(device),
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory(prefix="imgen-bench-") as tmp:
        ctx = _context(opts, device, prof, overrides, variants, Path(tmp))
        report["settings"] = _settings(ctx, opts, sections, variants)
        report.update(_sections(ctx, opts, sections, variants))
    report["seconds"] = round(time.monotonic() - started, 1)
    report["notes"] = ctx.notes
    return report


def _context(
    opts: SuiteOptions,
    device: Any,
    prof: Any,
    overrides: dict[str, Any],
    variants: list[Any],
    tmp: Path,
) -> Any:
    from imgen.bench.context import Context
    from imgen.bench.datafolder import make_data_folder

    deadline = None
    minutes = opts.max_minutes if opts.max_minutes is not None else prof.budget_minutes
    if minutes is not None:
        deadline = time.monotonic() + minutes * 60
    ctx = Context(
        device=device,
        quick=opts.quick,
        profile=prof,
        data_root=str(tmp / "data"),
        out_root=str(tmp / "runs"),
        overrides=overrides,
        deadline=deadline,
        budget_minutes=minutes,
        log=opts.log,
    )
    # Photos large enough for every crop asked for: twice the largest, so crops vary.
    crops = [prof.crop]
    for variant in variants:
        values = {**variant.options_for(device.type), **overrides}
        crops.append(int(values.get("crop", prof.crop)))
    make_data_folder(ctx.data_root, size=2 * max(crops))
    return ctx


def _settings(ctx: Any, opts: SuiteOptions, sections: list[str], variants: list[Any]) -> dict:
    import torch

    from imgen.bench.inference import OVERLAP, precisions
    from imgen.bench.modes import MODES, chosen_modes
    from imgen.bench.timing import PeakMemory

    chosen = sorted(chosen_modes(opts.modes, opts.quick))
    return {
        "device": str(ctx.device),
        "quick": ctx.quick,
        "sections": sections,
        "profile": dataclasses.asdict(ctx.profile),
        "modes": chosen,
        "mode_definitions": {name: mode.help for name, mode in MODES.items()},
        "variants": {v.label: {"options": v.options_for(ctx.device.type)} for v in variants},
        "overrides": ctx.overrides,
        "max_minutes": ctx.budget_minutes,
        "timing": (
            f"median of the timed steps after the warm-up ones (compiled modes: at least 3), "
            f"each step synchronised on {ctx.device.type}; the same collated batch every step"
        ),
        "peak_memory": PeakMemory.describe(ctx.device),
        "flops": "torch.utils.flop_counter.FlopCounterMode over one eager training step",
        "data": "scikit-image's sample photos as trainA/ + trainB/ (B mirrored), PNG",
        "data_sources": (
            "the training dataset of the first task with prepared_data, in a fresh "
            "one-thread process per source, over synthetic 2040x1356 PNGs (scikit-image "
            "photos resized, seeded noise): uncached folder, imgen prepare shards, cached "
            "folder; files warm in the page cache"
        ),
        "degradation": (
            "batch x crop HR photo crops (scikit-image's) to x4 LR, fp32, on the device: "
            "megapixels of HR per second (median of the timed repeats after a warm-up)"
        ),
        "inference": {
            "precisions": precisions(ctx.device),
            "size": f"{ctx.profile.size} px output side (SR input: size / scale)",
            "tile": "half the input side (four tiles)",
            "overlap": OVERLAP,
            "cudnn_benchmark": False,
        },
        "torch": {
            "threads": torch.get_num_threads(),
            "cudnn_benchmark_in_training": ctx.device.type == "cuda",
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        },
    }


def _sections(
    ctx: Any, opts: SuiteOptions, sections: list[str], variants: list[Any]
) -> dict[str, Any]:
    from imgen.bench import degradation, demand, inference, metrics, pipeline

    out: dict[str, Any] = {}
    training = _Training(ctx, opts, variants)
    if "train" in sections:
        out["peak"] = training.peak()
        training.eager()
    if "inference" in sections:
        out["inference"] = [row for v in variants for row in inference.measure_variant(ctx, v)]
    if "data" in sections:
        out["data"] = []
        for run in training.first_per_task():
            out["data"].extend(pipeline.measure_task(ctx, run.variant, training.step_rate(run)))
        from imgen.bench import datasources

        reader = datasources.prepared_reader(variants)
        if reader is not None:
            images = opts.images if opts.images is not None else (8 if ctx.quick else 40)
            with tempfile.TemporaryDirectory(prefix="imgen-bench-2k-") as tmp:
                out["data_sources"] = datasources.measure(
                    tmp, images, task=reader, quick=ctx.quick, log=ctx.log
                )
            gpu = demand.measure(ctx, reader, out["data_sources"])
            if gpu is not None:
                out["data_sources"]["demand"] = gpu
    if "degradation" in sections:
        out["degradation"] = degradation.measure(ctx)
    if "metrics" in sections:
        out["metrics"] = metrics.measure(ctx)
    if "train" in sections:
        training.expensive()
        training.fast()
        out["training"] = training.rows()
        out["summary"] = [_summary(run) for run in training.runs]
    return out


class _Training:
    """The training section, in its three passes: eager modes, compiled modes, ``fast``."""

    def __init__(self, ctx: Any, opts: SuiteOptions, variants: list[Any]) -> None:
        from imgen.bench.modes import chosen_modes
        from imgen.bench.training import VariantRun

        self.ctx, self.opts = ctx, opts
        self.chosen = chosen_modes(opts.modes, opts.quick)
        self.runs = [VariantRun(ctx, v) for v in variants]
        self.bf16_peak: float | None = None

    def peak(self) -> dict[str, Any]:
        """The bf16 and fp32 matmul peaks that achieved TFLOP/s are compared with."""
        import torch

        from imgen.bench.flops import matmul_peak

        p, ctx = self.ctx.profile, self.ctx
        out = {
            name: matmul_peak(ctx.device, dtype, p.matmul_size, p.matmul_repeats)
            for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))
        }
        self.bf16_peak = out["bf16"]["tflops"]
        ctx.log(
            f"matmul peak: bf16 {self.bf16_peak:.2f} TFLOP/s at {out['bf16']['size']}^2, "
            f"fp32 {out['fp32']['tflops']:.2f} TFLOP/s at {out['fp32']['size']}^2"
        )
        return out

    def _reason(self, name: str) -> str | None:
        from imgen.bench.modes import skip_reason

        return skip_reason(
            name,
            self.ctx.device.type,
            chosen=self.chosen,
            requested=bool(self.opts.modes),
            quick=self.ctx.quick,
        )

    def _pass(self, expensive: bool) -> None:
        from imgen.bench.modes import MODES

        for run in self.runs:
            for name, mode in MODES.items():
                if mode.expensive != expensive:
                    continue
                why = self._reason(name)
                if why is None and expensive and self.ctx.over_budget():
                    why = f"time budget of {self.ctx.budget_minutes} min reached (--max-minutes)"
                if why:
                    run.skip(name, why)
                else:
                    run.run(mode)

    def eager(self) -> None:
        """Every variant's eager modes: minutes at most."""
        self._pass(expensive=False)

    def expensive(self) -> None:
        """The compiled modes, while the time budget lasts."""
        self._pass(expensive=True)

    def fast(self) -> None:
        from imgen.bench.modes import FAST

        for run in self.runs:
            why = self._reason(FAST)
            if why:
                run.skip(FAST, why)
            else:
                run.choose_fast()

    def rows(self) -> list[dict[str, Any]]:
        return [row for run in self.runs for row in run.finish(self.bf16_peak)]

    def first_per_task(self) -> list[Any]:
        """One variant per task (the data pipeline does not depend on the model)."""
        seen: dict[str, Any] = {}
        for run in self.runs:
            seen.setdefault(run.variant.task, run)
        return list(seen.values())

    @staticmethod
    def step_rate(run: Any) -> float | None:
        """What the step consumes at the defaults (the baseline if they were not run)."""
        rows = [run.rows.get(m, {}) for m in ("defaults", "baseline")]
        return next((r["samples_per_s"] for r in rows if r.get("samples_per_s")), None)


def _summary(run: Any) -> dict[str, Any]:
    rows = run.rows
    base, fast, defaults = rows.get("baseline", {}), rows.get("fast", {}), rows.get("defaults", {})
    out = {
        "task": run.variant.task,
        "variant": run.variant.name,
        "batch": base.get("batch"),
        "crop": base.get("crop"),
        "baseline_samples_per_s": base.get("samples_per_s"),
        "fast_samples_per_s": fast.get("samples_per_s"),
        "fast_speedup": fast.get("speedup"),
        "fast_chosen": fast.get("chosen"),
        "fast_peak_share": fast.get("peak_share"),
        "defaults_speedup": defaults.get("speedup"),
    }
    if out["defaults_speedup"] is not None:
        out["defaults_ok"] = out["defaults_speedup"] >= 1 - DEFAULTS_TOLERANCE
    return out
