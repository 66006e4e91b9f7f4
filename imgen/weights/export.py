"""ONNX and TorchScript export with a parity check (``imgen export``).

The exported graph maps a (B, C, H, W) image in [0, 1] to the task's output in [0, 1] (the
task's :meth:`imgen.task.Task.export_network`: a pix2pix generator's [-1, 1] scaling is inside
it), so that a runtime needs nothing of imgen. After writing, the file is run again, by
onnxruntime (CPU) or ``torch.jit.load``, on one input size (two with ``dynamic``: the export
size and another), and its largest absolute difference from PyTorch is reported; above
``FP32_TOLERANCE`` in fp32 the export is an error.

An ONNX file carries imgen's metadata (task, scale, side multiple, value range), which
``imgen predict --weights model.onnx`` and ``imgen.load("model.onnx")`` read.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgen.errors import ImgenError, UsageError

FP32_TOLERANCE = 1e-4
HALF_TOLERANCE = 2e-2  # fp16 / bf16: reported, and a warning above it
FORMATS = ("onnx", "torchscript")
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
METADATA_PREFIX = "imgen."


@dataclass
class ExportReport:
    """What :func:`export` wrote and how closely the file reproduces PyTorch."""

    path: Path
    format: str
    precision: str
    dynamic: bool
    input_size: tuple[int, int]
    parity: list[dict[str, Any]] = field(default_factory=list)  # {"size", "max_abs_diff"}
    notes: list[str] = field(default_factory=list)

    @property
    def max_abs_diff(self) -> float:
        return max(p["max_abs_diff"] for p in self.parity)

    def lines(self) -> list[str]:
        out = [
            f"wrote {self.path} ({self.format}, {self.precision}, input {_hw(self.input_size)}"
            f"{', dynamic' if self.dynamic else ''})"
        ]
        for row in self.parity:
            out.append(
                f"parity at {_hw(row['size'])}: max abs difference {row['max_abs_diff']:.3g} "
                f"against PyTorch fp32"
            )
        return out + self.notes


def _hw(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def require_onnx() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or one sentence saying how to install them."""
    from imgen.extras import require

    install = "pip install 'imgen[export]'"
    return require("onnx", "ONNX models", install), require("onnxruntime", "ONNX models", install)


def parity_sizes(base: int, multiple: int, minimum: int, dynamic: bool) -> list[tuple[int, int]]:
    """The input sizes the parity check runs: the export size, and with ``dynamic`` a second,
    non-square one, both multiples of ``multiple`` and at least ``minimum``."""

    def fit(n: int) -> int:
        return max(minimum, multiple, math.ceil(n / multiple) * multiple)

    first = (fit(base), fit(base))
    if not dynamic:
        return [first]
    return [first, (fit(base * 3 // 4), fit(base + base // 2))]


def export(
    network: nn.Module,
    out: str | Path,
    *,
    fmt: str,
    metadata: dict[str, Any],
    size: int = 256,
    dynamic: bool = False,
    precision: str = "fp32",
    channels: int = 3,
) -> ExportReport:
    """Write ``network`` (image in [0, 1] -> image in [0, 1]) as ONNX or TorchScript, then
    check it against PyTorch (see the module's docstring)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt} is not supported; use {' or '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision} is not supported; use fp32, fp16 or bf16")
    if fmt == "onnx":
        require_onnx()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    multiple = int(metadata.get("multiple", 1))
    sizes = parity_sizes(size, multiple, int(metadata.get("minimum", 1)), dynamic)
    dtype = PRECISIONS[precision]
    network = network.eval()
    reference = network.float()
    inputs = [_example(channels, s) for s in sizes]
    with torch.inference_mode():
        expected = [reference(x) for x in inputs]
    exported = _cast(network, dtype)
    report = ExportReport(out, fmt, precision, dynamic, sizes[0])
    example = inputs[0].to(dtype)
    if fmt == "onnx":
        _export_onnx(exported, example, out, dynamic, {**metadata, "precision": precision})
        run = _onnx_runner(out)
    else:
        run = _export_torchscript(exported, example, out, metadata)
    for x, y in zip(inputs, expected, strict=True):
        got = run(x.to(dtype))
        diff = float((got.float() - y.float()).abs().max())
        report.parity.append({"size": tuple(x.shape[-2:]), "max_abs_diff": diff})
    worst = report.max_abs_diff
    if precision == "fp32" and not worst <= FP32_TOLERANCE:
        raise ImgenError(
            f"the {fmt} file {out} differs from PyTorch by {worst:.3g} (more than "
            f"{FP32_TOLERANCE:g}) at {_hw(report.parity[-1]['size'])}; the network does not "
            "export faithfully" + (" with --dynamic" if dynamic else "")
        )
    if precision != "fp32" and not worst <= HALF_TOLERANCE:
        report.notes.append(
            f"warning: {precision} differs from fp32 by {worst:.3g} (more than "
            f"{HALF_TOLERANCE:g}); check the outputs, or export in fp32"
        )
    return report


def _example(channels: int, size: tuple[int, int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand((1, channels, *size), generator=g)


def _cast(network: nn.Module, dtype: torch.dtype) -> nn.Module:
    if dtype == torch.float32:
        return network
    import copy

    return copy.deepcopy(network).to(dtype)


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and warn about deprecations; imgen reports itself."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _export_onnx(
    network: nn.Module, example: torch.Tensor, out: Path, dynamic: bool, metadata: dict
) -> None:
    import onnx

    dims = None
    if dynamic:
        # AUTO lets torch.export find each axis's constraints (a U-Net needs multiples of
        # 2**depth): the axes stay symbolic wherever the network allows it.
        auto = torch.export.Dim.AUTO
        dims = ({0: auto, 2: auto, 3: auto},)
    try:
        with _quiet():
            torch.onnx.export(
                network,
                (example,),
                str(out),
                input_names=["image"],
                output_names=["output"],
                dynamic_shapes=dims,
                dynamo=True,
                external_data=False,
            )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ImgenError(
            f"torch.onnx could not export the network: {type(exc).__name__}: {first}"
        ) from None
    model = onnx.load(str(out))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, json.dumps(value)
    onnx.save(model, str(out))


def _onnx_runner(path: Path) -> Any:
    session = onnx_session(path)

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"image": x.numpy()})[0])

    return run


def onnx_session(path: str | Path) -> Any:
    """An onnxruntime session on the CPU (or CUDA where onnxruntime-gpu has it)."""
    _, ort = require_onnx()
    providers = [
        p
        for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
        if p in ort.get_available_providers()
    ]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:
        raise ImgenError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from None


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """imgen's metadata of an exported ONNX file ({} for an ONNX file made elsewhere)."""
    onnx, _ = require_onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
        out = {}
        for entry in model.metadata_props:
            if entry.key.startswith(METADATA_PREFIX):
                out[entry.key[len(METADATA_PREFIX) :]] = json.loads(entry.value)
    except OSError as exc:
        raise ImgenError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # protobuf's DecodeError, bad metadata JSON: not an ONNX model
        raise ImgenError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}); export it again "
            "with imgen export"
        ) from None
    return out


def _export_torchscript(
    network: nn.Module, example: torch.Tensor, out: Path, metadata: dict
) -> Any:
    try:
        with _quiet(), torch.inference_mode(False), torch.no_grad():
            traced = torch.jit.trace(network, example, check_trace=False)
            extra = {"imgen.json": json.dumps(metadata)}
            torch.jit.save(traced, str(out), _extra_files=extra)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ImgenError(
            f"torch.jit.trace could not export the network: {type(exc).__name__}: {first}"
        ) from None
    with _quiet():
        loaded = torch.jit.load(str(out), map_location="cpu")

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return loaded(x)

    return run
