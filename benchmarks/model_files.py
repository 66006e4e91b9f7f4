"""Published checkpoint layouts through every command, and ONNX against PyTorch on the CPU.

    python benchmarks/model_files.py --json benchmarks/results/model_files.json

For each supported layout a file is written in the official key layout (random weights, the
published architecture sizes; `imgen.testing.layouts`), saved as the official files are saved
(`torch.save`), then: detected (`imgen.load`), loaded strictly, compared with imgen's network
holding the same weights (largest absolute difference), and run through `imgen predict
--weights`, `imgen eval TASK --weights` (image tasks), `imgen import` and `imgen export
--format onnx` (image tasks). Then the speed of onnxruntime against PyTorch on the same
exported networks (RRDBNet x4 and the pix2pix U-Net with --dynamic): median of --repeats
timed runs, one thread each, after a warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import write_json
from PIL import Image

from imgen.nn.image_function import ImageFunction
from imgen.plugins import create_model
from imgen.testing import layouts


def net(role: str, name: str, **kwargs: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, role, **kwargs).eval()


def no_prefix(state: dict) -> dict:
    return {k.removeprefix("model."): v for k, v in state.items()}


# (row, file name, network, state -> file content, input side, signed)
LAYOUTS = [
    ("ESRGAN RRDB_ESRGAN_x4 (original keys)", "RRDB_ESRGAN_x4.pth",
     lambda: net("generator", "rrdbnet"), layouts.esrgan_old_keys, 32, False),
    ("Real-ESRGAN RealESRGAN_x4plus (params_ema)", "RealESRGAN_x4plus.pth",
     lambda: net("generator", "rrdbnet"), lambda s: {"params_ema": s, "params": s}, 32, False),
    ("Real-ESRGAN RealESRGAN_x2plus (pixel-unshuffle)", "RealESRGAN_x2plus.pth",
     lambda: net("generator", "rrdbnet", scale=2), lambda s: {"params_ema": s}, 32, False),
    ("BasicSR MSRResNet x4 (module. prefix)", "MSRResNet_x4.pth",
     lambda: net("generator", "srresnet"),
     lambda s: {"params": {f"module.{k}": v for k, v in s.items()}}, 32, False),
    ("Real-ESRGAN realesr-general-x4v3 (Compact)", "realesr-general-x4v3.pth",
     lambda: net("generator", "compact"), lambda s: {"params": s}, 32, False),
    ("Real-ESRGAN realesr-animevideov3 (Compact, 16 convs)", "realesr-animevideov3.pth",
     lambda: net("generator", "compact", num_conv=16), lambda s: {"params": s}, 32, False),
    ("SwinIR-light x4 (spandrel)", "002_lightweightSR_DIV2K_s64w8_SwinIR-S_x4.pth",
     lambda: net("generator", "swinir"), lambda s: {"params": no_prefix(s)}, 32, False),
    ("pix2pix latest_net_G (unet_256)", "latest_net_G.pth",
     lambda: net("generator", "unet"), lambda s: s, 256, True),
    ("CycleGAN latest_net_G_A (resnet_9blocks, pre-0.4 keys)", "latest_net_G_A.pth",
     lambda: net("generator", "resnet"), None, 64, True),
    ("PyTorch examples DCGAN netG_epoch_24", "netG_epoch_24.pth",
     lambda: net("generator", "dcgan"), lambda s: s, 0, False),
    ("PyTorch examples DCGAN netD_epoch_24", "netD_epoch_24.pth",
     lambda: net("discriminator", "dcgan"), layouts.dcgan_example_discriminator, 64, False),
    ("Real-ESRGAN RealESRGAN_x4plus_netD (hook SN)", "RealESRGAN_x4plus_netD.pth",
     lambda: net("discriminator", "unet"),
     lambda s: {"params": layouts.hook_spectral_norm_keys(s)}, 64, False),
    ("ESRGAN VGG-style discriminator", "ESRGAN_netD.pth",
     lambda: net("discriminator", "vgg"), lambda s: {"params": s}, 128, False),
]  # fmt: skip


def imgen_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imgen", *map(str, args)], capture_output=True, text=True
    )


def check_layout(row: tuple, work: Path, photo_dir: Path) -> dict[str, Any]:
    import imgen
    from imgen.weights.loading import detect_file

    title, filename, make, to_file, side, signed = row
    network = make()
    state = network.state_dict()
    state = (
        layouts.with_instance_norm_statistics(state, network) if to_file is None else to_file(state)
    )
    path = work / filename
    torch.save(state, path)
    found = detect_file(path)
    out: dict[str, Any] = {"layout": title, "detected": found.architecture, "task": found.task}
    if "G" not in found.weights and not any(k.startswith("G") for k in found.weights):
        fresh = make()
        fresh.load_state_dict(next(iter(found.weights.values())))  # strict
        out["strict_load"] = True
        x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            out["max_abs_diff"] = float((fresh.eval()(x) - network.eval()(x)).abs().max())
        imported = None
        if "x4plus_netD" in filename:  # with its generator, as users import it
            generator = work / "RealESRGAN_x4plus.pth"
            run = work / f"run_{filename}"
            imported = imgen_cli("import", generator, "--discriminator", path, "-o", run)
        out["commands"] = "import --discriminator" + _ok(imported) if imported else "-"
        return out
    model = imgen.load(path, device="cpu")
    out["strict_load"] = True
    if not model.takes_image:  # DCGAN: compare generated images
        z = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out["max_abs_diff"] = float((model.loaded.nets["G"](z) - network(z)).abs().max())
        commands = {"predict": imgen_cli("predict", "--weights", path, "-o", work / "grid.png")}
    else:
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            got = model.predict_tensor(x)
            want = ImageFunction(network, signed=signed)(x)
        out["max_abs_diff"] = float((got - want).abs().max())
        task = model.task
        commands = {
            "predict": imgen_cli(
                "predict", "--weights", path, photo_dir, "-o", work / f"predicted_{filename}"
            ),
            "eval": imgen_cli("eval", task, "--weights", path, "--data", photo_dir)
            if task == "sr"
            else None,
            "import": imgen_cli("import", path, "-o", work / f"run_{filename}"),
            "export": imgen_cli(
                "export", "--weights", path, "-o", work / f"{filename}.onnx", "--size", side
            ),
        }
        if task != "sr":  # eval of translate/style needs their paired test folders
            commands.pop("eval")
    out["commands"] = ", ".join(
        f"{name}{_ok(result)}" for name, result in commands.items() if result is not None
    )
    return out


def _ok(result: subprocess.CompletedProcess | None) -> str:
    if result is None:
        return ""
    if result.returncode == 0:
        return " ok"
    return f" FAILED ({(result.stderr or result.stdout).strip().splitlines()[-1][:120]})"


def onnx_speed(work: Path, repeats: int) -> list[dict[str, Any]]:
    """onnxruntime against PyTorch, one thread each, on the exported networks."""
    import onnxruntime as ort

    from imgen.weights.export import export

    torch.set_num_threads(1)
    rows = []
    cases = [
        ("RRDBNet x4 (16.7M), 64x64 in", net("generator", "rrdbnet"), 64, False),
        ("pix2pix U-Net unet_256 (54.4M), 256x256", net("generator", "unet"), 256, True),
    ]
    for title, network, side, signed in cases:
        function = ImageFunction(network, signed=signed).eval()
        path = work / f"speed_{side}.onnx"
        multiple = getattr(network, "required_multiple", 1)  # the U-Net's 256
        metadata = {"task": "bench", "multiple": multiple}
        report = export(function, path, fmt="onnx", metadata=metadata, size=side, dynamic=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
        feed = {"image": x.numpy()}

        with torch.inference_mode():
            torch_s = _median_seconds(function, (x,), repeats)
        ort_s = _median_seconds(session.run, (None, feed), repeats)
        rows.append(
            {
                "model": title,
                "parity_max_abs_diff": {f"{a}x{b}": d for (a, b), d in _parity(report)},
                "torch_s": round(torch_s, 4),
                "onnxruntime_s": round(ort_s, 4),
                "onnxruntime_speed_vs_torch": round(torch_s / ort_s, 3),
            }
        )
    return rows


def _median_seconds(fn: Any, args: tuple, repeats: int) -> float:
    """Median seconds of ``fn(*args)`` over ``repeats`` calls, after one untimed call."""
    fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _parity(report: Any) -> list[tuple[tuple[int, int], float]]:
    return [(tuple(p["size"]), float(f"{p['max_abs_diff']:.3g}")) for p in report.parity]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="benchmarks/results/model_files.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = work / "photos"
        photos.mkdir()
        import skimage.data

        Image.fromarray(np.asarray(skimage.data.astronaut())[100:164, 180:244]).save(
            photos / "astronaut.png"
        )
        rows = [check_layout(row, work, photos) for row in LAYOUTS]
        print("| layout | detected as | strict load | max abs diff | commands |")
        print("|---|---|---|---:|---|")
        for r in rows:
            diff = r.get("max_abs_diff")
            shown = "-" if diff is None else f"{diff:.1e}" if diff else "0"
            print(f"| {r['layout']} | {r['detected']} | {'yes' if r['strict_load'] else 'no'} "
                  f"| {shown} | {r['commands']} |")  # fmt: skip
        speed = onnx_speed(work, args.repeats)
    print("\n| model | parity (max abs diff) | PyTorch s | onnxruntime s | ORT speed vs PyTorch |")
    print("|---|---|---:|---:|---:|")
    for r in speed:
        parity = ", ".join(f"{k}: {v:.1e}" for k, v in r["parity_max_abs_diff"].items())
        print(f"| {r['model']} | {parity} | {r['torch_s']} | {r['onnxruntime_s']} | "
              f"{r['onnxruntime_speed_vs_torch']}x |")  # fmt: skip
    settings = {"repeats": args.repeats, "threads": 1, "device": "cpu"}
    write_json(args.json, settings, {"layouts": rows, "onnx_speed": speed})


if __name__ == "__main__":
    main()
