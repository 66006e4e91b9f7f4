"""``imgen.load``: a trained or published model as one object with ``predict``.

    >>> import imgen                                             # doctest: +SKIP
    >>> model = imgen.load("RealESRGAN_x4plus.pth")              # doctest: +SKIP
    >>> big = model.predict(Image.open("photo.png"), tile=256)   # doctest: +SKIP

``load`` takes a run directory, a published model's name (``imgen models --published``,
downloaded into the hub cache when absent), a model file of a layout imgen knows (``.pth``, ``.pt``,
``.ckpt``, ``.safetensors``: see ``imgen formats``) or an ONNX file written by ``imgen
export``. ``predict`` takes a PIL image, a numpy array (H, W, C) or (H, W) of uint8, uint16 or
floats in [0, 1], or a tensor (C, H, W) / (1, C, H, W) in [0, 1], and returns the same kind.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgen.errors import UsageError

__all__ = ["Model", "load"]


class Model:
    """A loaded model: ``predict`` images of any size, whole or tiled.

    Attributes:
        task: the name of its task.
        scale: output pixels per input pixel.
        source: the run directory or file it came from.
        architecture: what was detected in a foreign file (None for a run directory).
        device, precision: where and in which dtype it runs (None: fp32).
    """

    task: str
    scale: int
    source: str
    architecture: str | None = None
    takes_image: bool = True  # False: a generation task (dcgan), see TorchModel.generate
    notes: list[str]

    def __init__(self) -> None:
        self.notes = []

    # -- what subclasses implement ---------------------------------------------------------
    def predict_tensor(
        self,
        x: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """The output for a (1, C, H, W) float image in [0, 1] (on any device)."""
        raise NotImplementedError

    # -- any kind of image -------------------------------------------------------------------
    def predict(
        self, image: Any, *, tile: int | None = None, tile_overlap: int = 32, **options: Any
    ) -> Any:
        """The output for ``image`` (PIL, numpy or torch; see the module's docstring), of the
        same kind. ``tile`` processes large images in tiles of that many input pixels;
        ``options`` are the task's prediction options (style: ``direction="BtoA"``)."""
        x, back = _to_tensor(image)
        with torch.inference_mode():
            y = self.predict_tensor(x, tile=tile, tile_overlap=tile_overlap, **options)
        return back(y)

    def __repr__(self) -> str:
        what = f", {self.architecture}" if self.architecture else ""
        return f"<imgen.Model {self.task} x{self.scale} from {self.source}{what}>"


class TorchModel(Model):
    """A task's networks, from a run directory or a foreign file."""

    def __init__(self, loaded: Any, device: torch.device, precision: torch.dtype | None) -> None:
        super().__init__()
        self.loaded = loaded
        self.task = loaded.task.name
        self.takes_image = loaded.task.takes_image
        self.scale = loaded.task.output_scale()
        self.source = loaded.source
        self.architecture = loaded.detected.architecture if loaded.detected else None
        self.notes = list(loaded.notes)
        self.device, self.precision = device, precision

    def predict_tensor(
        self,
        x: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        **options: Any,
    ) -> torch.Tensor:
        task = self.loaded.task
        if not task.takes_image:
            raise UsageError(f"{self.source} generates images from noise; use generate()")
        return task.predict(
            self.loaded.nets,
            x.to(self.device, torch.float32),
            tile=tile,
            tile_overlap=tile_overlap,
            out_dtype=out_dtype,
            autocast_dtype=self.precision,
            **options,
        )

    def generate(self, n: int, *, seed: int = 0, label: str | None = None) -> torch.Tensor:
        """``n`` samples of a generation task (dcgan), (n, C, H, W) in [0, 1]."""
        with torch.inference_mode():
            return self.loaded.task.generate(self.loaded.nets, n, seed=seed, label=label)

    def export_network(self, **options: Any) -> torch.nn.Module:
        return self.loaded.task.export_network(self.loaded.nets, **options)


class OnnxModel(Model):
    """An ONNX file written by ``imgen export``, run by onnxruntime."""

    def __init__(self, path: str | Path) -> None:
        from imgen.weights.export import onnx_metadata, onnx_session

        super().__init__()
        meta = onnx_metadata(path)
        if "task" not in meta:
            raise UsageError(
                f"{path} was not written by imgen export (it has no imgen metadata: task, "
                "scale); export it with imgen export, or run it with onnxruntime directly"
            )
        self.session = onnx_session(path)
        self.task, self.scale = meta["task"], int(meta.get("scale", 1))
        self.multiple = int(meta.get("multiple", 1))
        self.source, self.architecture = str(path), meta.get("architecture")
        shape = self.session.get_inputs()[0].shape
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        self.fixed_size = min(fixed) if len(fixed) == 2 else None
        self.dtype = np.float16 if meta.get("precision") == "fp16" else np.float32
        self.precision = None

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        feed = x.detach().cpu().numpy().astype(self.dtype)
        if self.fixed_size is None:
            return torch.from_numpy(self.session.run(None, {"image": feed})[0]).float()
        # A graph of one size: pad each (smaller) tile up to it, crop the output back.
        height, width = x.shape[-2:]
        pad = ((0, 0), (0, 0), (0, self.fixed_size - height), (0, self.fixed_size - width))
        out = self.session.run(None, {"image": np.pad(feed, pad, mode="edge")})[0]
        return torch.from_numpy(out[..., : height * self.scale, : width * self.scale]).float()

    def predict_tensor(
        self,
        x: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        **options: Any,
    ) -> torch.Tensor:
        from imgen.inference import predict_tiled

        if options:
            names = ", ".join(options)
            raise UsageError(f"an ONNX model takes no task options ({names}); export with them")
        if self.fixed_size is not None:
            # Tiles plus their context must fit the graph's one size.
            largest = (self.fixed_size - 2 * tile_overlap) // self.multiple * self.multiple
            if largest < self.multiple:
                raise UsageError(
                    f"{self.source} takes only {self.fixed_size}x{self.fixed_size} inputs; "
                    f"lower --tile-overlap, or export with --dynamic"
                )
            tile = min(tile or largest, largest)
        out = predict_tiled(
            self._run,
            x.float().cpu(),
            scale=self.scale,
            tile=tile,
            overlap=tile_overlap,
            multiple=self.multiple,
            out_dtype=out_dtype,
        )
        return out if out_dtype is not None and not out_dtype.is_floating_point else out.clamp(0, 1)


def inference_precision(
    name: str, device: torch.device, nets: dict[str, torch.nn.Module]
) -> tuple[torch.dtype | None, list[str]]:
    """The autocast dtype of ``--precision`` for prediction (None: fp32), and notes.

    ``auto`` is bf16 on a CUDA device that has it, fp32 elsewhere; fp16 needs CUDA. A network
    that declares it cannot run a half type (``supports_half`` / ``supports_bfloat16``, as
    spandrel's architectures do) runs in fp32, and a note says so.
    """
    from imgen.engine.device import resolve_precision

    if name == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if cuda_bf16 else None
    else:
        dtype = resolve_precision(name, device)
    if dtype is None:
        return None, []
    from imgen.nn.contract import supports

    refusing = [n for n, net in nets.items() if not supports(net, dtype)]
    if refusing:
        kind = "fp16" if dtype == torch.float16 else "bf16"
        return None, [f"{', '.join(refusing)} does not support {kind}: running in fp32"]
    return dtype, []


def load(
    source: str | Path,
    *,
    device: str = "auto",
    precision: str = "auto",
    task: str | None = None,
    ema: bool = True,
) -> Model:
    """A :class:`Model` from a run directory, a model file or an exported ONNX file.

    Args:
        source: the run directory or file, or a published model's name (``imgen models
            --published``), downloaded into the hub cache when absent.
        device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:N``.
        precision: ``auto`` (bf16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16``, ``bf16``.
        task: for a file whose layout fits several tasks (a CycleGAN generator).
        ema: a run's EMA weights (True) or its raw ones.
    """
    from imgen.engine.device import resolve_device
    from imgen.published import find, is_published, pull
    from imgen.weights.loading import load_model

    if not Path(source).exists() and is_published(str(source)):
        task = task or find(str(source)).task
        source = pull(str(source))  # into the hub cache, unless IMGEN_OFFLINE=1
    path = Path(source)
    if path.suffix.lower() == ".onnx":
        return OnnxModel(path)
    torch_device = resolve_device(device)
    if path.is_dir():
        loaded = load_model(run=path, device=torch_device, task=task, ema=ema)
    elif path.exists():
        loaded = load_model(weights=path, device=torch_device, task=task)
    else:
        raise UsageError(
            f"{source} does not exist; give a run directory, a model file or a published "
            "model's name (`imgen models --published`)"
        )
    dtype, notes = inference_precision(precision, torch_device, loaded.nets)
    model = TorchModel(loaded, torch_device, dtype)
    model.notes += notes
    return model


# -- image kinds ---------------------------------------------------------------------------------
def _to_tensor(image: Any) -> tuple[torch.Tensor, Any]:
    """(1, 3, H, W) float in [0, 1], and the function that turns an output back into the
    kind, dtype and channels of ``image``: a gray image comes back gray (BT.601 luma of the
    output), an alpha plane is resized to the output (bilinear) and put back."""
    if isinstance(image, torch.Tensor):
        if image.ndim not in (3, 4) or (image.ndim == 4 and image.shape[0] != 1):
            raise UsageError(
                f"a tensor image must be (C, H, W) or (1, C, H, W), got {tuple(image.shape)}"
            )
        batched = image.ndim == 4
        x, restore = _split_channels(image.float() if batched else image.float()[None])
        return x, lambda y: (lambda out: out if batched else out[0])(restore(y))
    with contextlib.suppress(ImportError):
        from PIL import Image

        if isinstance(image, Image.Image):
            wanted = image.mode if image.mode in ("L", "RGB", "RGBA") else "RGBA"
            if (
                wanted == "RGBA"
                and "A" not in image.getbands()
                and "transparency" not in image.info
            ):
                wanted = "RGB"
            x, back_array = _to_tensor(np.asarray(image.convert(wanted)))
            return x, lambda y: Image.fromarray(back_array(y))
    if isinstance(image, np.ndarray):
        kind = image.dtype
        array = image[:, :, None] if image.ndim == 2 else image
        if array.ndim != 3:
            raise UsageError(f"an array image must be (H, W) or (H, W, C), got {image.shape}")
        levels = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(kind, 1.0)
        t = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32))
        x, restore = _split_channels(t.permute(2, 0, 1)[None] / levels)

        def back_array(y: torch.Tensor) -> np.ndarray:
            out = restore(y)[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            if levels > 1:
                out = np.rint(out * levels).astype(kind)
            elif np.issubdtype(kind, np.floating):
                out = out.astype(kind)
            return out[:, :, 0] if image.ndim == 2 else out

        return x, back_array
    raise UsageError(
        f"cannot predict a {type(image).__name__}; give a PIL image, a numpy array or a tensor"
    )


def _split_channels(x: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """The RGB image a model takes from a (1, C, H, W) image of 1, 3 or 4 channels, and the
    function that gives a model output the image's channels back."""
    from imgen.data.picture import LUMA

    channels = x.shape[1]
    if channels not in (1, 3, 4):
        raise UsageError(f"an image must have 1, 3 or 4 channels, got {channels}")
    alpha = x[:, 3:] if channels == 4 else None
    rgb = x.expand(-1, 3, -1, -1) if channels == 1 else x[:, :3]

    def restore(y: torch.Tensor) -> torch.Tensor:
        y = y.float()
        if channels == 1:
            weights = torch.tensor(LUMA, device=y.device).view(1, 3, 1, 1)
            return (y * weights).sum(1, keepdim=True)
        if alpha is None:
            return y
        import torch.nn.functional as F

        a = alpha.to(y.device)
        if a.shape[-2:] != y.shape[-2:]:
            a = F.interpolate(a, size=y.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([y, a.clamp(0, 1)], dim=1)

    return rgb, restore
