"""Real-world SR: a model trained on Real-ESRGAN's degradations against one trained on bicubic.

    python benchmarks/realworld_sr.py --minutes 20 --json benchmarks/results/realworld_sr.json

1. A real-world test set: `imgen degrade --data SET14/HR --preset realesrgan --scale 4 --seed 0`
   (the LR images), beside Set14's HR images, as an `HR/` + `LR/` folder `imgen eval sr` reads.
2. Two PSNR-oriented SRResNet x4 runs on SunHays80 for --minutes of training time each (the
   engine's clock), the same options but `--degradation realesrgan` or `bicubic`.
3. `imgen eval sr` of both, and of plain bicubic upscaling, on the degraded Set14 (Y-PSNR and
   SSIM, BasicSR's protocol) and on the clean Set5 x4.
4. A picture: degraded input (nearest, x4) | bicubic-trained | realesrgan-trained | ground
   truth, for a crop of a Set14 image.

Arguments after `--` go to both `imgen train sr` runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import write_json
from PIL import Image


def imgen(*args: object) -> str:
    command = [sys.executable, "-m", "imgen", *map(str, args)]
    print("$ imgen " + " ".join(map(str, args)), flush=True)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def evaluate(data: Path, *, run: Path | None = None) -> dict[str, float]:
    source = ["--run", run] if run else ["--generator", "bicubic", "--scale", "4"]
    report = json.loads(imgen("eval", "sr", *source, "--data", data, "--json", "-q"))
    return {k: round(v, 4) for k, v in report["metrics"].items() if k in ("psnr_y", "ssim_y")}


def picture(test: Path, runs: dict[str, Path], out: Path, name: str, box: tuple) -> None:
    """degraded input | bicubic-trained | realesrgan-trained | ground truth, one crop."""
    work = out.parent / "picture-work"
    columns = [np.asarray(Image.open(test / "LR" / name).convert("RGB").resize(
        Image.open(test / "HR" / name).size, Image.Resampling.NEAREST))]  # fmt: skip
    for label in ("bicubic", "realesrgan"):
        imgen("predict", "--run", runs[label], test / "LR" / name, "-o", work / label, "-q")
        columns.append(np.asarray(Image.open(work / label / name).convert("RGB")))
    columns.append(np.asarray(Image.open(test / "HR" / name).convert("RGB")))
    top, left, size = box
    crops = []
    for c in columns:
        crop = c[top : top + size, left : left + size]
        crops += [crop, np.full((size, 4, 3), 255, np.uint8)]
    Image.fromarray(np.hstack(crops[:-1])).save(out, optimize=True)
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="../shared/data/sr/SunHays80")
    parser.add_argument("--set14", default="../shared/data/sr/Set14/HR")
    parser.add_argument("--set5", default="../shared/data/sr/Set5")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=600, help="the runs' --steps (schedule)")
    parser.add_argument("--out", default="runs/realworld")
    parser.add_argument("--json", default="benchmarks/results/realworld_sr.json")
    parser.add_argument("--picture", default="benchmarks/results/realworld_sr.png")
    parser.add_argument("train_args", nargs="*", help="extra options for imgen train sr")
    args = parser.parse_args()

    out = Path(args.out)
    test = out / "set14-realesrgan-x4"
    if not (test / "LR").is_dir():
        imgen("degrade", "--data", args.set14, "--preset", "realesrgan", "--scale", 4,
              "--seed", 0, "-o", test / "LR")  # fmt: skip
        shutil.copytree(args.set14, test / "HR", dirs_exist_ok=True)
    runs = {}
    for label in ("realesrgan", "bicubic"):
        run = out / f"srresnet-{label}"
        if not (run / "checkpoints" / "last.safetensors").exists():
            shutil.rmtree(run, ignore_errors=True)
            imgen("train", "sr", "--data", args.train, "--scale", 4, "--gan-weight", 0,
                  "--degradation", label, "--steps", args.steps, "--time-limit", args.minutes,
                  "--sample-every", 0, "--save-every", 200, "--out", out, "--name", run.name,
                  *args.train_args)  # fmt: skip
        runs[label] = run
    rows = {
        "bicubic upscaling": {
            "real-world Set14": evaluate(test),
            "Set5 x4 (clean)": evaluate(Path(args.set5)),
        }
    }
    for label, run in runs.items():
        events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        last = [e for e in events if e["event"] in ("train", "end")][-1]
        rows[f"SRResNet trained on {label}"] = {
            "real-world Set14": evaluate(test, run=run),
            "Set5 x4 (clean)": evaluate(Path(args.set5), run=run),
            "steps": last["step"],
            "minutes": last["minutes"],
        }
    print("\n| model | real-world Set14 Y-PSNR | SSIM | clean Set5 x4 Y-PSNR | SSIM | steps |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        a, b = r["real-world Set14"], r["Set5 x4 (clean)"]
        print(f"| {name} | {a['psnr_y']} | {a['ssim_y']} | {b['psnr_y']} | {b['ssim_y']} | "
              f"{r.get('steps', '-')} |")  # fmt: skip
    picture(test, runs, Path(args.picture), "baboon.png", (120, 160, 160))
    settings = {
        "minutes": args.minutes,
        "steps": args.steps,
        "train": args.train,
        "test": f"imgen degrade --data {args.set14} --preset realesrgan --scale 4 --seed 0",
        "train_args": args.train_args,
    }
    write_json(args.json, settings, rows)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
