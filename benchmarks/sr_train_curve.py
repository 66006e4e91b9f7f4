"""PSNR against training minutes for a PSNR-oriented SR run, through the real CLI.

Trains ``srresnet`` x4 on a folder of HR photos for a fixed wall-clock budget (evaluation time
excluded), evaluating on Set5 x4 every few steps, then prints the curve and writes JSON.

    python benchmarks/sr_train_curve.py --minutes 20 -- --precision bf16 --channels-last

Arguments after ``--`` go to ``imgen train sr`` unchanged.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from _common import eval_curve, train_and_read, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/sr/SunHays80")
    parser.add_argument("--eval-data", default="../shared/data/sr/Set5")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument(
        "--steps",
        type=int,
        default=1400,
        help="the run's total steps (sets the LR schedule's length)",
    )
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--json", default="benchmarks/results/sr_train_curve.json")
    parser.add_argument("train_args", nargs="*", help="extra options for imgen train sr")
    args = parser.parse_args()

    name = time.strftime("curve-%Y%m%d-%H%M%S")
    command = [
        "imgen",
        "train",
        "sr",
        "--data",
        args.data,
        "--scale",
        "4",
        "--gan-weight",
        "0",
        "--steps",
        str(args.steps),
        "--time-limit",
        str(args.minutes),
        "--eval-data",
        args.eval_data,
        "--eval-every",
        str(args.eval_every),
        "--sample-every",
        "0",
        "--save-every",
        "500",
        "--out",
        args.out,
        "--name",
        name,
        *args.train_args,
    ]
    run = Path(args.out) / name
    events = train_and_read(command, run)
    curve = eval_curve(events, ("psnr_y", "ssim_y"))
    speed = [e["steps_per_s"] for e in events if e["event"] == "train"]
    print(f"\n{'minutes':>8} {'step':>6} {'psnr_y':>8} {'ssim_y':>7}")
    for row in curve:
        print(f"{row['minutes']:8.2f} {row['step']:6d} {row['psnr_y']:8.3f} {row['ssim_y']:7.4f}")
    write_json(
        args.json,
        {"command": shlex.join(command), **vars(args)},
        {
            "curve": curve,
            "final": curve[-1] if curve else None,
            "median_steps_per_s": sorted(speed)[len(speed) // 2] if speed else None,
            "run": str(run),
        },
    )


if __name__ == "__main__":
    main()
