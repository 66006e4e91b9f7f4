"""What tiled prediction costs against whole-image prediction, at two image sizes.

    python benchmarks/tiling_cost.py --json benchmarks/results/tiling_cost.json

An SR network (x4, random weights: speed does not depend on them) predicts one photo of
SIZE x SIZE input pixels whole, then in tiles of --tile (imgen's suggested 512) with the
default overlap of 32 context pixels, through `imgen.load(...).predict_tensor` with uint8
output (what `imgen predict` writes). Each is the median of --repeats runs after one warm-up,
in the same process; the ratio tiled / whole throughput is the result (1.0: free).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import write_json
from PIL import Image

import imgen
from imgen.inference import DEFAULT_TILE
from imgen.plugins import create_model


def photo(side: int) -> torch.Tensor:
    import skimage.data

    image = Image.fromarray(np.asarray(skimage.data.astronaut())).resize((side, side))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


def seconds(fn, x: torch.Tensor, options: dict, repeats: int) -> float:
    """Median seconds of ``fn(x, **options)`` after one untimed call."""
    fn(x, **options)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x, **options)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="compact")
    parser.add_argument("--set", nargs="*", default=["num_conv=16"], help="KEY=INT options")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="benchmarks/results/tiling_cost.json")
    args = parser.parse_args()

    options = {k: int(v) for k, v in (item.split("=") for item in args.set)}
    torch.manual_seed(0)
    net = create_model(args.generator, "generator", **options)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pth"
        torch.save({"params": net.state_dict()}, path)
        model = imgen.load(path, device="cpu", precision="fp32")
        rows = []
        for side in args.sizes:
            x = photo(side)
            whole_opts = {"out_dtype": torch.uint8}
            tiled_opts = {**whole_opts, "tile": args.tile, "tile_overlap": args.overlap}
            with torch.inference_mode():
                whole = seconds(model.predict_tensor, x, whole_opts, args.repeats)
                tiled = seconds(model.predict_tensor, x, tiled_opts, args.repeats)
            megapixels = (side * model.scale) ** 2 / 1e6
            row = {
                "input": side,
                "output": side * model.scale,
                "whole_s": round(whole, 3),
                "tiled_s": round(tiled, 3),
                "whole_mp_per_s": round(megapixels / whole, 3),
                "tiled_mp_per_s": round(megapixels / tiled, 3),
                "tiled_vs_whole": round(whole / tiled, 3),
            }
            rows.append(row)
            print(row, flush=True)
    print(f"\n| input | output | whole MP/s | tiled MP/s (tile {args.tile}, overlap "
          f"{args.overlap}) | tiled / whole |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['input']}^2 | {r['output']}^2 | {r['whole_mp_per_s']} | "
              f"{r['tiled_mp_per_s']} | {r['tiled_vs_whole']}x |")  # fmt: skip
    settings = {
        "generator": args.generator,
        "options": options,
        "tile": args.tile,
        "overlap": args.overlap,
        "repeats": args.repeats,
        "device": "cpu",
        "threads": torch.get_num_threads(),
    }
    write_json(args.json, settings, rows)


if __name__ == "__main__":
    main()
