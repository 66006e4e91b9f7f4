"""CycleGAN on CMP facades, trained unpaired, in a fixed CPU budget.

    python benchmarks/style_facades.py --minutes 20 --steps 1150 --eval-every 150 \
        --json benchmarks/results/style_facades_noidt.json \
        -- --precision bf16 --no-channels-last --identity-weight 0

Trains ``imgen train style`` (resnet, 6 blocks, 128x128, batch 1, LSGAN, cycle 10, identity
0.5 unless overridden) with the test-set cycle L1 evaluated during training, then runs
``imgen eval style``
(cycle L1, paired PSNR/SSIM/L1 against the facades partners, and the domain-realism score),
and the same evaluation of the untrained generators for comparison.
Arguments after ``--`` go to ``imgen train style`` unchanged.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from _common import eval_curve, train_and_read, write_json

KEYS = (
    "cycle_l1_A",
    "cycle_l1_B",
    "l1_AtoB",
    "l1_BtoA",
    "ssim_AtoB",
    "ssim_BtoA",
    "realism_A",
    "realism_B",
)


def untrained(data: str, **options) -> dict:
    """The same evaluation of randomly initialised generators (seed 0)."""
    import torch

    from imgen.engine.trainer import seed_everything
    from imgen.plugins import create_task

    task = create_task("style")
    cfg = task.Config(data=data, **options)
    seed_everything(cfg.seed)
    task.setup(cfg, torch.device("cpu"))
    nets = {k: v.eval() for k, v in task.build(cfg).items()}
    with torch.inference_mode():
        return task.evaluate(nets, data, full=True)["metrics"]


def imgen_eval(*args: str) -> dict:
    out = subprocess.run(
        ["imgen", "eval", "style", *args, "--json"], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/facades")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=900, help="the run's total steps")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--json", default="benchmarks/results/style_facades.json")
    parser.add_argument("train_args", nargs="*", help="extra options for imgen train style")
    args = parser.parse_args()
    load = str(round(args.size * 286 / 256))
    name = time.strftime("style-facades-%Y%m%d-%H%M%S")
    command = [
        "imgen",
        "train",
        "style",
        "--data",
        args.data,
        "--blocks",
        str(args.blocks),
        "--crop",
        str(args.size),
        "--load-size",
        load,
        "--batch-size",
        "1",
        "--steps",
        str(args.steps),
        "--time-limit",
        str(args.minutes),
        "--eval-data",
        args.data,
        "--eval-every",
        str(args.eval_every),
        "--sample-every",
        "300",
        "--save-every",
        "300",
        "--out",
        args.out,
        "--name",
        name,
        *args.train_args,
    ]
    run = Path(args.out) / name
    curve = eval_curve(train_and_read(command, run), ("cycle_l1_A", "cycle_l1_B"))
    final = imgen_eval("--run", str(run), "--data", args.data)
    baseline = untrained(args.data, blocks=args.blocks, crop=args.size, load_size=int(load))

    print(f"\n{'minutes':>8} {'step':>6} {'cycle A':>8} {'cycle B':>8}")
    for e in curve:
        print(f"{e['minutes']:8.2f} {e['step']:6d} {e['cycle_l1_A']:8.4f} {e['cycle_l1_B']:8.4f}")
    print(f"\n{'test set':<22}" + "".join(f"{k:>11}" for k in KEYS))
    for label, m in (("untrained generators", baseline), ("imgen style, final", final)):
        print(f"{label:<22}" + "".join(f"{m.get(k, float('nan')):11.4f}" for k in KEYS))
    write_json(
        args.json,
        {"command": " ".join(command), **vars(args)},
        {"curve": curve, "final": final, "untrained": baseline, "run": str(run)},
    )


if __name__ == "__main__":
    main()
