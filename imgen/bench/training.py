"""Training throughput: imgen's real training step, timed in each mode.

The step is :meth:`Trainer.train_step` (the D and G updates, autocast, GradScaler, the
optimizers, the schedulers and the EMA), on a trainer built from the task's config exactly
as ``imgen train`` builds it; the mode only changes config fields and the two trainer seams
(``optimizer_options``, ``compile_options``). Each timed step gets the same collated batch,
so the loader's cost is left out here (the data-pipeline section measures it) while the
batch's move to the device and what the task derives there (SR's bicubic downscale) count.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch

from imgen.bench.context import Context
from imgen.bench.flops import count_flops
from imgen.bench.modes import BASELINE, FAST, Mode, combine, winners
from imgen.bench.timing import PeakMemory, median, release, synchronize, timed_calls
from imgen.bench.variants import Variant
from imgen.engine.trainer import Trainer


def one_line(exc: BaseException) -> str:
    """An exception as one line (compile errors run to pages)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text[:300]


def bench_trainer(task: Any, cfg: Any, mode: Mode) -> Trainer:
    """A real :class:`Trainer`, with the mode's optimizer and compile options."""

    class BenchTrainer(Trainer):
        optimizer_options = mode.optimizer_options()
        compile_options = mode.compile_options()

    return BenchTrainer(task, cfg, quiet=True)


def _optimizer_kind(trainer: Trainer) -> str:
    defaults = trainer.optimizers["G"].defaults
    if defaults.get("fused"):
        return "fused"
    if defaults.get("foreach"):
        return "foreach"
    if defaults.get("foreach") is None and trainer.device.type == "cuda":
        return "foreach (torch's default on CUDA)"
    return "plain"


def effective_settings(trainer: Trainer) -> dict[str, Any]:
    """What the step really ran with, read back from the trainer."""
    precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[trainer.dtype]
    compiled = None
    if trainer.cfg.compile:
        compiled = trainer.compile_options.get("mode", "default")
    return {
        "precision": precision,
        "channels_last": trainer.channels_last,
        "optimizer": _optimizer_kind(trainer),
        "compile": compiled,
    }


def _shapes(batch: dict) -> dict[str, list[int]]:
    return {
        k: list(v.shape[1:])
        for k, v in batch.items()
        if isinstance(v, torch.Tensor) and v.dim() == 4
    }


def base_row(variant: Variant, mode: str) -> dict[str, Any]:
    return {"task": variant.task, "variant": variant.name, "mode": mode}


def measure(ctx: Context, variant: Variant, mode: Mode, *, flops: bool = False) -> dict[str, Any]:
    """One training row: median step time, samples/s and peak memory of ``mode``.

    With ``flops``, one extra untimed step runs under FlopCounterMode first.
    """
    from imgen.plugins import create_task

    row = base_row(variant, mode.name)
    device = ctx.device
    release(device)
    rss_before = PeakMemory.rss_kb()
    trainer = None
    try:
        task = create_task(variant.task)
        with ctx.capture(variant.label):
            cfg = ctx.config(task, variant, **mode.config_options())
            trainer = bench_trainer(task, cfg, mode)
            batch = next(iter(trainer.loader()))
        for net in trainer.nets.values():
            net.train()
        it = itertools.repeat(batch)
        prepared = trainer.prepare_batch(batch)
        shapes = _shapes(prepared)
        del prepared
        row.update(
            status="ok",
            batch=cfg.batch_size,
            crop=max((s[1] for s in shapes.values()), default=None),
            shapes=shapes,
            samples_per_step=trainer.samples_per_step,
            settings=effective_settings(trainer),
            parameters={k: sum(p.numel() for p in v.parameters()) for k, v in trainer.nets.items()},
        )
        if flops:
            with ctx.capture(variant.label):
                count, _ = count_flops(lambda: trainer.train_step(it))
            row["flops_per_step"] = count
        # Compiled modes compile (and recompile, as requires_grad flips between the D and G
        # updates) in their first steps: give them more untimed steps.
        warmup = max(ctx.profile.warmup, 3 if mode.expensive else 1)
        t0 = time.perf_counter()
        with ctx.capture(variant.label):
            for _ in range(warmup):
                trainer.train_step(it)
            synchronize(device)
            row["warmup_s"] = round(time.perf_counter() - t0, 2)
            meter = PeakMemory(device)
            meter.start(reference_kb=rss_before)
            times = timed_calls(lambda: trainer.train_step(it), device, ctx.profile.steps)
            row["peak_memory_mb"] = meter.stop()
        step = median(times)
        row.update(
            warmup=warmup,
            steps=len(times),
            step_ms=round(step * 1000, 2),
            step_ms_all=[round(t * 1000, 2) for t in times],
            samples_per_s=round(trainer.samples_per_step / step, 3),
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        row.update(status="failed", error=one_line(exc))
    finally:
        trainer = None  # free the networks before the next mode
        if mode.expensive:
            torch._dynamo.reset()  # drop the compiled graphs before the next mode
        release(device)
    return row


def skipped(variant: Variant, mode: str, reason: str) -> dict[str, Any]:
    return {**base_row(variant, mode), "status": "skipped", "reason": reason}


class VariantRun:
    """The rows of one variant, and the ``fast`` mode chosen from them."""

    def __init__(self, ctx: Context, variant: Variant) -> None:
        self.ctx, self.variant = ctx, variant
        self.rows: dict[str, dict[str, Any]] = {}
        self.flops_per_step: int | None = None

    def run(self, mode: Mode) -> dict[str, Any]:
        count = self.flops_per_step is None and not mode.expensive
        t0 = time.monotonic()
        row = measure(self.ctx, self.variant, mode, flops=count)
        if mode.expensive:
            self.ctx.expensive_s = max(self.ctx.expensive_s, time.monotonic() - t0)
        if "flops_per_step" in row:
            self.flops_per_step = row.pop("flops_per_step")
        self.rows[mode.name] = row
        self.ctx.log(_progress(row))
        return row

    def skip(self, mode: str, reason: str) -> None:
        self.rows[mode] = skipped(self.variant, mode, reason)

    def speedups(self) -> dict[str, float]:
        base = self.rows.get(BASELINE.name, {}).get("samples_per_s")
        if not base:
            return {}
        return {
            name: row["samples_per_s"] / base
            for name, row in self.rows.items()
            if row.get("status") == "ok" and name != FAST
        }

    def choose_fast(self) -> dict[str, Any]:
        """Measure the combination of the knobs that won alone; keep it if it wins.

        A knob wins when it beats the baseline by more than the noise margin; ``fast`` is
        the baseline when none does, the winner when one does, and otherwise the measured
        combination of the winners unless the best single winner was faster.
        """
        if self.rows.get(BASELINE.name, {}).get("status") != "ok":
            row = skipped(self.variant, FAST, "no baseline measurement to compare with")
            self.rows[FAST] = row
            return row
        speedups = self.speedups()
        parts = winners(speedups)
        note = ""
        if any(p.expensive for p in parts) and self.ctx.over_budget():
            parts = [p for p in parts if not p.expensive]
            note = "compiled modes left out of the combination (time budget reached); "
        chosen = max(parts, key=lambda m: speedups[m.name]) if parts else BASELINE
        if len(parts) >= 2:
            names = " + ".join(p.name for p in parts)
            combined = combine(parts)
            row = self.run(combined)
            single = self.rows[chosen.name]["samples_per_s"]
            if row.get("status") == "ok" and row["samples_per_s"] >= single:
                row.update(chosen=names, note=note + combined.help)
                return row
            got = row.get("samples_per_s", row.get("error"))
            note += f"the combination {names} gave {got} samples/s; "
        row = {
            **self.rows[chosen.name],
            "mode": FAST,
            "chosen": chosen.name,
            "note": note + f"= {chosen.name}, measured above",
        }
        self.rows[FAST] = row
        return row

    def finish(self, bf16_peak_tflops: float | None) -> list[dict[str, Any]]:
        """The rows with FLOPs, TFLOP/s, the share of the bf16 peak and the speed-ups."""
        base = self.rows.get(BASELINE.name, {}).get("samples_per_s")
        out = []
        for row in self.rows.values():
            if row.get("status") == "ok":
                per_step = self.flops_per_step
                if per_step:
                    row["flops_per_sample"] = per_step // row["samples_per_step"]
                    tflops = per_step / (row["step_ms"] / 1000) / 1e12
                    row["tflops"] = float(f"{tflops:.4g}")
                    if bf16_peak_tflops:
                        row["peak_share"] = float(f"{tflops / bf16_peak_tflops:.4g}")
                if base:
                    row["speedup"] = round(row["samples_per_s"] / base, 3)
            out.append(row)
        return out


def _progress(row: dict[str, Any]) -> str:
    label = f"train {row['task']}:{row['variant']} {row['mode']}"
    if row.get("status") == "ok":
        return (
            f"{label}: {row['samples_per_s']:.2f} samples/s "
            f"({row['step_ms']:.0f} ms/step, batch {row['batch']}, crop {row['crop']})"
        )
    return f"{label}: {row.get('status')}: {row.get('error') or row.get('reason')}"
