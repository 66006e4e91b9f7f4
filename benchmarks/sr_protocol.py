"""Check imgen's MATLAB bicubic and PSNR/SSIM against the standard SR test sets.

For Set5 and Set14 at scales 2, 3 and 4:

(a) LR reproduction: downscale ``X{s}/HR`` with :func:`imgen.data.resize.imresize` and compare
    the 8-bit result with the provided ``X{s}/LR`` (share of pixels equal / within one level).
    Three variants are measured: ``uint8`` (MATLAB's uint8 path, how these LR files were
    made), ``float64`` (MATLAB's double path, then rounded) and ``float64-symmetric``
    (BasicSR's symmetric-border port, then rounded).
(b) Bicubic baseline: upscale the provided LR (float64, x s), quantize, and compute Y-PSNR /
    Y-SSIM with ``crop_border=s`` against ``X{s}/HR``; compare with ``reference_bicubic.json``.

Usage::

    python benchmarks/sr_protocol.py [--data ../shared/data/sr]
        [--json benchmarks/results/sr_protocol.json]

Exit status 1 when an acceptance target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

try:
    import imgen  # noqa: F401
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine, versions

from imgen.data.resize import imresize
from imgen.metrics import psnr, ssim

SETS = ("Set5", "Set14")
SCALES = (2, 3, 4)
# Acceptance targets: mean Y-PSNR / Y-SSIM of bicubic x4 within TOL of the reference, and the
# primary (uint8) LR reproduction within one level / equal for at least these shares.
TARGETS = {"Set5": (28.4318, 0.8113), "Set14": (26.0928, 0.7049)}
TOL = 0.005
MIN_WITHIN1 = 0.999
MIN_EQUAL = 0.88
LR_VARIANTS = ("uint8", "float64", "float64-symmetric")


def read_rgb(path: Path) -> torch.Tensor:
    """Read an image as a (1, 3, H, W) uint8 tensor; grayscale is replicated to RGB."""
    with Image.open(path) as im:
        arr = np.array(im.convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def make_lr(hr: torch.Tensor, scale: int, variant: str) -> torch.Tensor:
    if variant == "uint8":
        return imresize(hr, scale=1 / scale)
    border = "symmetric" if variant == "float64-symmetric" else "replicate"
    lr = imresize(hr.double() / 255, scale=1 / scale, border=border)
    return torch.round(lr.clamp(0, 1) * 255).to(torch.uint8)


def run(data: Path) -> dict:
    reference = json.loads((data / "reference_bicubic.json").read_text())
    results: dict = {}
    for set_name in SETS:
        for scale in SCALES:
            folder = data / set_name / f"X{scale}"
            hr_paths = sorted((folder / "HR").glob("*.png"))
            if not hr_paths:
                raise SystemExit(f"No HR images in {folder / 'HR'}; check --data.")
            counts = {v: [0, 0, 0] for v in LR_VARIANTS}  # equal, within 1, total
            per_image = {}
            for hr_path in hr_paths:
                hr = read_rgb(hr_path)
                lr = read_rgb(folder / "LR" / hr_path.name)
                for variant in LR_VARIANTS:
                    made = make_lr(hr, scale, variant)
                    if made.shape != lr.shape:
                        raise SystemExit(
                            f"{hr_path}: LR size {tuple(made.shape)} != provided {tuple(lr.shape)}."
                        )
                    diff = (made.int() - lr.int()).abs()
                    counts[variant][0] += int((diff == 0).sum())
                    counts[variant][1] += int((diff <= 1).sum())
                    counts[variant][2] += diff.numel()

                sr = imresize(lr.double() / 255, scale=scale)
                target = hr.double() / 255
                p = psnr(sr, target, crop_border=scale, y_channel=True).item()
                s = ssim(sr, target, crop_border=scale, y_channel=True).item()
                ref = reference.get(f"{set_name}/X{scale}/{hr_path.name}", {})
                per_image[hr_path.name] = {
                    "psnr_y": p,
                    "ssim_y": s,
                    "ref_psnr_y": ref.get("psnr_y"),
                    "ref_ssim_y": ref.get("ssim_y"),
                }
            ref_mean = reference.get(f"{set_name}/X{scale}/mean", {})
            mean_p = float(np.mean([v["psnr_y"] for v in per_image.values()]))
            mean_s = float(np.mean([v["ssim_y"] for v in per_image.values()]))
            max_dp = max(
                abs(v["psnr_y"] - v["ref_psnr_y"])
                for v in per_image.values()
                if v["ref_psnr_y"] is not None
            )
            max_ds = max(
                abs(v["ssim_y"] - v["ref_ssim_y"])
                for v in per_image.values()
                if v["ref_ssim_y"] is not None
            )
            results[f"{set_name}/X{scale}"] = {
                "lr_reproduction": {
                    v: {"equal": c[0] / c[2], "within1": c[1] / c[2], "values": c[2]}
                    for v, c in counts.items()
                },
                "bicubic": {
                    "mean_psnr_y": mean_p,
                    "mean_ssim_y": mean_s,
                    "ref_mean_psnr_y": ref_mean.get("psnr_y"),
                    "ref_mean_ssim_y": ref_mean.get("ssim_y"),
                    "max_abs_diff_psnr_y": max_dp,
                    "max_abs_diff_ssim_y": max_ds,
                    "per_image": per_image,
                },
            }
    return results


def check(results: dict) -> list[str]:
    failures = []
    for key, r in results.items():
        lr = r["lr_reproduction"]["uint8"]
        if lr["within1"] < MIN_WITHIN1 or lr["equal"] < MIN_EQUAL:
            failures.append(
                f"{key}: LR reproduction {lr['equal']:.4%} equal, {lr['within1']:.4%} within 1"
            )
    for set_name, (p_ref, s_ref) in TARGETS.items():
        b = results[f"{set_name}/X4"]["bicubic"]
        if abs(b["mean_psnr_y"] - p_ref) > TOL or abs(b["mean_ssim_y"] - s_ref) > TOL:
            failures.append(
                f"{set_name}/X4: mean {b['mean_psnr_y']:.4f}/{b['mean_ssim_y']:.4f} vs "
                f"{p_ref}/{s_ref}"
            )
    return failures


def print_table(results: dict) -> None:
    header = (
        f"{'set/scale':<11} {'LR eq u8':>9} {'<=1 u8':>8} {'eq f64':>8} {'<=1 f64':>8} "
        f"{'eq sym':>8} {'<=1 sym':>8} {'PSNR-Y':>8} {'ref':>8} {'SSIM-Y':>7} {'ref':>7} "
        f"{'max|dP|':>8} {'max|dS|':>8}"
    )
    print(header)
    print("-" * len(header))
    for key, r in results.items():
        lr = r["lr_reproduction"]
        b = r["bicubic"]
        cells = []
        for v in LR_VARIANTS:
            cells += [f"{lr[v]['equal']:>8.3%}", f"{lr[v]['within1']:>8.3%}"]
        print(
            f"{key:<11} {cells[0]:>9} {' '.join(cells[1:])} {b['mean_psnr_y']:>8.4f} "
            f"{b['ref_mean_psnr_y']:>8.4f} {b['mean_ssim_y']:>7.4f} {b['ref_mean_ssim_y']:>7.4f} "
            f"{b['max_abs_diff_psnr_y']:>8.1e} {b['max_abs_diff_ssim_y']:>8.1e}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/sr"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/sr_protocol.json"))
    args = parser.parse_args(argv)
    if not (args.data / "reference_bicubic.json").is_file():
        print(f"error: {args.data} has no reference_bicubic.json; pass --data.", file=sys.stderr)
        return 2

    start = time.perf_counter()
    with torch.inference_mode():
        results = run(args.data)
    elapsed = time.perf_counter() - start
    print_table(results)
    failures = check(results)

    report = {
        "benchmark": "sr_protocol",
        "machine": machine(),
        "versions": versions(),
        "settings": {
            "data": str(args.data),
            "sets": list(SETS),
            "scales": list(SCALES),
            "lr_variants": {
                "uint8": "imresize(uint8 HR, 1/s): MATLAB's uint8 path, border=replicate",
                "float64": "round(clamp(imresize(HR/255 float64, 1/s), 0, 1) * 255)",
                "float64-symmetric": "as float64 with border='symmetric' (BasicSR's port)",
            },
            "bicubic": "imresize(LR/255 float64, s), quantized; Y channel, crop_border=s",
            "targets": {
                "x4_mean_psnr_ssim": TARGETS,
                "tolerance": TOL,
                "lr_uint8_within1_min": MIN_WITHIN1,
                "lr_uint8_equal_min": MIN_EQUAL,
            },
        },
        "seconds": elapsed,
        "passed": not failures,
        "failures": failures,
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{elapsed:.1f} s; wrote {args.json}", file=sys.stderr)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
