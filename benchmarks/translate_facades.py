"""pix2pix on CMP facades (labels -> photos) in a fixed CPU budget, beside two baselines.

    python benchmarks/translate_facades.py --minutes 20 -- --precision bf16

Measures, on the 106 test pairs at the training resolution, in one run:
  * the untrained generator (same architecture and seed, random weights);
  * the mean training photo used as the prediction for every input;
  * ``imgen train translate`` after MINUTES of training (evaluation time excluded), with
    its curve read from metrics.jsonl.
Arguments after ``--`` go to ``imgen train translate`` unchanged.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

import numpy as np
import torch
from _common import eval_curve, train_and_read, write_json
from PIL import Image

from imgen.data.folder import decode_image, scan_images
from imgen.metrics import psnr, ssim
from imgen.plugins import create_task


def resized(path: Path, size: int) -> torch.Tensor:
    image = Image.fromarray(decode_image(path)).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255


def mean_photo_baseline(data: Path, size: int, photos: str) -> dict[str, float]:
    """Score the mean training photo as the prediction for every test image."""
    train = torch.stack([resized(p, size) for p in scan_images(data / f"train{photos}")])
    mean = train.mean(0, keepdim=True)
    mean = (mean * 255).round() / 255
    rows = []
    for path in scan_images(data / f"test{photos}"):
        target = resized(path, size)[None]
        rows.append(
            (
                float(psnr(mean, target)[0]),
                float(ssim(mean, target)[0]),
                float((mean - target).abs().mean()),
            )
        )
    psnr_, ssim_, l1 = np.mean(rows, axis=0)
    return {"psnr": psnr_, "ssim": ssim_, "l1": l1}


def untrained_baseline(data: Path, options: dict) -> dict[str, float]:
    from imgen.engine.trainer import seed_everything

    task = create_task("translate")
    cfg = task.Config(data=str(data), **options)
    seed_everything(cfg.seed)
    task.setup(cfg, torch.device("cpu"))
    nets = {k: v.eval() for k, v in task.build(cfg).items()}
    with torch.inference_mode():
        return task.evaluate(nets, str(data))["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/facades")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=3000, help="the run's total steps")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--depth", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--json", default="benchmarks/results/translate_facades.json")
    parser.add_argument("train_args", nargs="*", help="extra options for imgen train translate")
    args = parser.parse_args()
    data = Path(args.data)
    options = {
        "direction": "BtoA",
        "depth": args.depth,
        "crop": args.size,
        "load_size": round(args.size * 286 / 256),
    }

    baselines = {
        "mean training photo": mean_photo_baseline(data, args.size, "A"),
        "untrained generator": untrained_baseline(data, options),
    }

    name = time.strftime("facades-%Y%m%d-%H%M%S")
    command = [
        "imgen",
        "train",
        "translate",
        "--data",
        str(data),
        "--direction",
        "BtoA",
        "--depth",
        str(args.depth),
        "--crop",
        str(args.size),
        "--load-size",
        str(options["load_size"]),
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--time-limit",
        str(args.minutes),
        "--eval-data",
        str(data),
        "--eval-every",
        str(args.eval_every),
        "--sample-every",
        "500",
        "--save-every",
        "500",
        "--out",
        args.out,
        "--name",
        name,
        *args.train_args,
    ]
    run = Path(args.out) / name
    curve = eval_curve(train_and_read(command, run), ("psnr", "ssim", "l1"))

    rows = {
        **baselines,
        f"imgen unet (depth {args.depth}), {curve[-1]['minutes']:.0f} min": curve[-1],
    }
    print(
        f"\n{'test set, ' + str(args.size) + 'x' + str(args.size):<34} "
        f"{'L1':>7} {'SSIM':>7} {'PSNR':>7}"
    )
    for label, m in rows.items():
        print(f"{label:<34} {m['l1']:7.4f} {m['ssim']:7.4f} {m['psnr']:7.2f}")
    print(f"\n{'minutes':>8} {'step':>6} {'L1':>7} {'SSIM':>7} {'PSNR':>7}")
    for e in curve:
        print(
            f"{e['minutes']:8.2f} {e['step']:6d} {e['l1']:7.4f} {e['ssim']:7.4f} {e['psnr']:7.2f}"
        )
    write_json(
        args.json,
        {"command": shlex.join(command), **vars(args)},
        {"baselines": baselines, "curve": curve, "final": curve[-1], "run": str(run)},
    )


if __name__ == "__main__":
    main()
