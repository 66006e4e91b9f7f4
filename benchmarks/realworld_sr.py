"""Real-world SR: a model trained on Real-ESRGAN's degradations against one trained on bicubic.

    python benchmarks/realworld_sr.py --steps 2000 --json benchmarks/results/realworld_sr.json

1. A real-world test set: `imgen degrade --data SET14/HR --preset realesrgan --scale 4 --seed 0`
   (the LR images), beside Set14's HR images, as an `HR/` + `LR/` folder `imgen eval sr` reads.
2. Two PSNR-oriented x4 runs on SunHays80 of exactly --steps steps each, the same options and
   seed but `--degradation realesrgan` or `bicubic` (generator: --generator-options, by default
   a slim SRResNet, 32 features and 6 blocks, the fastest that learns well on 2 CPU cores).
3. With --recipe, two more runs at the same budget with `imgen train sr`'s defaults (the
   two-phase ESRGAN recipe: pixel-loss pretraining, then the GAN) against `--pretrain-steps 0`
   (the GAN from step 0).
4. `imgen eval sr` of every run, and of plain bicubic upscaling, on the degraded Set14 (Y-PSNR,
   SSIM and LPIPS where its weights are present; BasicSR's protocol) and on the clean Set5 x4.
5. A picture: degraded input (nearest, x4) | bicubic upscaling | bicubic-trained |
   realesrgan-trained | ground truth, for crops of two Set14 images; with --recipe, a second
   one: bicubic upscaling | two-phase recipe | GAN from step 0 | ground truth, on Set5's
   butterfly.

Arguments after `--` go to every `imgen train sr` run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import write_json
from PIL import Image

METRICS = ("psnr_y", "ssim_y", "lpips")
RECIPE = "default recipe (two phases)"
GAN_ONLY = "GAN from step 0 (--pretrain-steps 0)"


def imgen(*args: object) -> str:
    command = [sys.executable, "-m", "imgen", *map(str, args)]
    print("$ imgen " + shlex.join(map(str, args)), flush=True)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def evaluate(data: Path, *, run: Path | None = None) -> dict[str, float]:
    source = ["--run", run] if run else ["--generator", "bicubic", "--scale", "4"]
    report = json.loads(imgen("eval", "sr", *source, "--data", data, "--json", "-q"))
    return {k: round(v, 4) for k, v in report["metrics"].items() if k in METRICS}


def bicubic_upscale(lr: Path, size: tuple[int, int]) -> np.ndarray:
    import torch

    from imgen.data.resize import imresize

    x = torch.from_numpy(np.array(Image.open(lr).convert("RGB"))).permute(2, 0, 1)[None]
    up = imresize(x.float() / 255, 4).clamp(0, 1).mul(255).round().byte()[0]
    return up.permute(1, 2, 0).numpy()[: size[1], : size[0]]


def joined(images: list[np.ndarray], axis: int) -> np.ndarray:
    """The images side by side (axis 1) or stacked (axis 0), 4 white pixels between."""
    gap = list(images[0].shape)
    gap[axis] = 4
    parts = []
    for image in images:
        parts += [image, np.full(gap, 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=axis)


def picture(crops: list[tuple[Path, Path, tuple]], runs: list[Path], out: Path, nearest: bool):
    """A row per (LR file, HR file, (top, left, size)): [degraded input (nearest) |] bicubic
    upscaling | each run's output | ground truth."""
    rows = []
    for lr, hr, (top, left, size) in crops:
        target = Image.open(hr).convert("RGB")
        columns = []
        if nearest:
            lr_image = Image.open(lr).convert("RGB")
            columns.append(lr_image.resize(target.size, Image.Resampling.NEAREST))
        columns.append(bicubic_upscale(lr, target.size))
        for run in runs:
            with tempfile.TemporaryDirectory() as work:
                imgen("predict", "--run", run, lr, "-o", work, "-q")
                columns.append(Image.open(Path(work) / lr.name).convert("RGB"))
        columns.append(target)
        rows.append(
            joined([np.asarray(c)[top : top + size, left : left + size] for c in columns], 1)
        )
    Image.fromarray(joined(rows, 0)).save(out, optimize=True)


def train(out: Path, name: str, args: argparse.Namespace, *options: object) -> Path:
    run = out / name
    if not (run / "checkpoints" / "last.safetensors").exists():
        shutil.rmtree(run, ignore_errors=True)
        limit = ["--time-limit", args.minutes] if args.minutes else []
        imgen("train", "sr", "--data", args.train, "--scale", 4, "--steps", args.steps,
              "--seed", args.seed, "--batch-size", args.batch_size, "--crop", args.crop,
              *shlex.split(args.generator_options), "--sample-every", 0, "--save-every", 500,
              "--out", out, "--name", name, *limit, *options, *args.train_args)  # fmt: skip
    return run


def last_event(run: Path) -> dict:
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] in ("train", "end")][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="../shared/data/sr/SunHays80")
    parser.add_argument("--set14", default="../shared/data/sr/Set14/HR")
    parser.add_argument("--set5", default="../shared/data/sr/Set5")
    parser.add_argument("--steps", type=int, default=2000, help="every run's --steps")
    parser.add_argument("--minutes", type=float, default=None, help="optional --time-limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--generator-options", default="--num-feat 32 --num-block 6")
    parser.add_argument("--recipe", action="store_true", help="also the two-phase recipe runs")
    parser.add_argument("--out", default="runs/realworld")
    parser.add_argument("--json", default="benchmarks/results/realworld_sr.json")
    parser.add_argument("--picture", default="benchmarks/results/realworld_sr.png")
    parser.add_argument("--recipe-picture", default="benchmarks/results/realworld_sr_recipe.png")
    parser.add_argument("train_args", nargs="*", help="extra options for imgen train sr")
    args = parser.parse_args()

    out = Path(args.out)
    test = out / "set14-realesrgan-x4"
    if not (test / "LR").is_dir():
        imgen("degrade", "--data", args.set14, "--preset", "realesrgan", "--scale", 4,
              "--seed", 0, "-o", test / "LR")  # fmt: skip
        shutil.copytree(args.set14, test / "HR", dirs_exist_ok=True)
    runs = {
        label: train(out, f"psnr-{label}", args, "--gan-weight", 0, "--degradation", label)
        for label in ("realesrgan", "bicubic")
    }
    named = {
        "trained on realesrgan (PSNR, L1)": runs["realesrgan"],
        "trained on bicubic (PSNR, L1)": runs["bicubic"],
    }
    if args.recipe:
        named[RECIPE] = train(out, "recipe-two-phase", args)
        named[GAN_ONLY] = train(out, "recipe-gan-only", args, "--pretrain-steps", 0)
    rows = {
        "bicubic upscaling": {
            "real-world Set14": evaluate(test),
            "Set5 x4 (clean)": evaluate(Path(args.set5)),
        }
    }
    for name, run in named.items():
        last = last_event(run)
        rows[name] = {
            "real-world Set14": evaluate(test, run=run),
            "Set5 x4 (clean)": evaluate(Path(args.set5), run=run),
            "steps": last["step"],
            "minutes": last["minutes"],
        }
    lp = any("lpips" in r[k] for r in rows.values() for k in ("real-world Set14",))
    head = "| model | degraded Set14 Y-PSNR | SSIM |" + (" LPIPS |" if lp else "")
    head += " clean Set5 x4 Y-PSNR | SSIM |" + (" LPIPS |" if lp else "") + " steps |"
    print("\n" + head)
    print("|---" * (head.count("|") - 1) + "|")
    for name, r in rows.items():
        cells = []
        for key in ("real-world Set14", "Set5 x4 (clean)"):
            m = r[key]
            cells += [m["psnr_y"], m["ssim_y"]] + ([m.get("lpips", "-")] if lp else [])
        print(f"| {name} | " + " | ".join(map(str, cells)) + f" | {r.get('steps', '-')} |")
    # baboon: fur no model restores; barbara: the noise the realesrgan model removes
    crops = [
        (test / "LR" / f"{name}.png", test / "HR" / f"{name}.png", box)
        for name, box in (("baboon", (120, 160, 160)), ("barbara", (20, 20, 160)))
    ]
    picture(crops, [runs["bicubic"], runs["realesrgan"]], Path(args.picture), nearest=True)
    if args.recipe:
        set5 = Path(args.set5) / "X4" if (Path(args.set5) / "X4").is_dir() else Path(args.set5)
        butterfly = [(set5 / "LR" / "butterfly.png", set5 / "HR" / "butterfly.png", (40, 40, 160))]
        picture(butterfly, [named[RECIPE], named[GAN_ONLY]], Path(args.recipe_picture), False)
    settings = {
        "steps": args.steps,
        "minutes": args.minutes,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "crop": args.crop,
        "generator_options": args.generator_options,
        "train": args.train,
        "test": f"imgen degrade --data {args.set14} --preset realesrgan --scale 4 --seed 0",
        "train_args": args.train_args,
    }
    write_json(args.json, settings, rows)


if __name__ == "__main__":
    main()
