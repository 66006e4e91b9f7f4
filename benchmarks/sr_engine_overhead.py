"""Seconds per step of imgen's engine against a plain PyTorch loop, in the same run.

The plain loop is what the foundation issue compares with: MSRResNet, L1, constant Adam,
batch 16 of 32x32 LR patches degraded with PIL's bicubic, no engine. imgen trains the same
network through ``Trainer`` (EMA, logging, its data stream and on-device MATLAB bicubic).

    python benchmarks/sr_engine_overhead.py --data ../shared/data/sr/SunHays80 --steps 15
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
import torch
from _common import write_json
from PIL import Image

from imgen.data.folder import decode_image, scan_images
from imgen.engine.trainer import Trainer
from imgen.plugins import create_task
from imgen_sr.models import MSRResNet


def plain_loop(
    images: list[np.ndarray], steps: int, batch: int, lr_size: int, precision: str
) -> list[float]:
    """The 60-line loop, timed per step (random 128x128 crops, PIL bicubic, L1, Adam)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = MSRResNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
    hr_size = lr_size * 4
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        hrs, lrs = [], []
        for _ in range(batch):
            img = images[rng.integers(len(images))]
            y = rng.integers(img.shape[0] - hr_size + 1)
            x = rng.integers(img.shape[1] - hr_size + 1)
            hr = img[y : y + hr_size, x : x + hr_size]
            lr = np.asarray(Image.fromarray(hr).resize((lr_size, lr_size), Image.BICUBIC))
            hrs.append(hr)
            lrs.append(lr)
        hr_t = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).float() / 255
        lr_t = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).float() / 255
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            sr = net(lr_t)
        loss = (sr.float() - hr_t).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def engine_loop(data: str, steps: int, batch: int, lr_size: int, precision: str) -> list[float]:
    task = create_task("sr")
    with tempfile.TemporaryDirectory() as out:
        cfg = task.Config(
            data=data,
            out=out,
            steps=steps,
            batch_size=batch,
            crop=lr_size * 4,
            gan_weight=0.0,
            lr_schedule="constant",
            lr=2e-4,
            precision=precision,
            log_every=10**9,
            sample_every=0,
            save_every=0,
            workers=0,
        )
        times: list[float] = []
        last = [0.0]

        def tick(trainer: Trainer) -> None:
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        trainer = Trainer(task, dataclasses.replace(cfg), callbacks=[tick], quiet=True)
        last[0] = time.perf_counter()
        trainer.fit()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/sr/SunHays80")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr-size", type=int, default=32)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--json", default="benchmarks/results/sr_engine_overhead.json")
    args = parser.parse_args()

    images = [decode_image(p) for p in scan_images(args.data)]
    plain = plain_loop(images, args.steps, args.batch, args.lr_size, args.precision)
    engine = engine_loop(args.data, args.steps, args.batch, args.lr_size, args.precision)
    # The first steps warm up allocators and oneDNN kernels: compare the medians of the rest.
    plain_s, engine_s = float(np.median(plain[3:])), float(np.median(engine[3:]))
    rows = {"plain loop": plain_s, "imgen engine": engine_s}
    print(f"{'loop':<14} {'s/step':>8} {'ratio':>7}")
    for name, value in rows.items():
        print(f"{name:<14} {value:8.3f} {value / plain_s:7.3f}")
    write_json(
        args.json,
        vars(args),
        {
            "plain_s_per_step": plain_s,
            "engine_s_per_step": engine_s,
            "engine_over_plain": engine_s / plain_s,
            "plain_times": plain,
            "engine_times": engine,
        },
    )


if __name__ == "__main__":
    main()
