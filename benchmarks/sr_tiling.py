"""Tiled against whole-image prediction of a trained SR run: the largest difference.

    python benchmarks/sr_tiling.py --run runs/bench/curve-... --size 512 --tile 128 --overlap 96

The input is a SIZE x SIZE crop of a real photo; both outputs stay in float (before the uint8
rounding), so the number is the tiling's own error.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import write_json

from imgen.data.folder import decode_image, scan_images
from imgen.engine.device import resolve_device
from imgen.engine.loading import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", default="../shared/data/sr/SunHays80")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--overlap", type=int, nargs="+", default=[16, 48, 96])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default="benchmarks/results/sr_tiling.json")
    args = parser.parse_args()

    device = resolve_device(args.device)
    task, cfg, nets = load_run(args.run, device)
    photo = decode_image(scan_images(args.data)[0])[: args.size, : args.size]
    image = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    rows = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        whole = task.predict(nets, image)
        whole_s = time.perf_counter() - t0
        for overlap in args.overlap:
            t0 = time.perf_counter()
            tiled = task.predict(nets, image, tile=args.tile, tile_overlap=overlap)
            seconds = time.perf_counter() - t0
            diff = (tiled - whole).abs().max().item()
            rows.append(
                {
                    "tile": args.tile,
                    "overlap": overlap,
                    "max_abs_diff": diff,
                    "seconds": seconds,
                    "whole_seconds": whole_s,
                }
            )
    print(
        f"input {args.size}x{args.size} -> output {tuple(whole.shape[-2:])}, "
        f"whole image {whole_s:.1f} s on {device}"
    )
    print(f"{'tile':>5} {'overlap':>8} {'max |tiled - whole|':>20} {'seconds':>8}")
    for row in rows:
        print(
            f"{row['tile']:5d} {row['overlap']:8d} {row['max_abs_diff']:20.2e} "
            f"{row['seconds']:8.1f}"
        )
    write_json(args.json, {**vars(args), "generator": cfg.generator, "scale": cfg.scale}, rows)


if __name__ == "__main__":
    main()
