"""Pictures read and written faithfully, for ``imgen predict``: bit depth, gray, alpha, ICC
profile and EXIF kept.

Training and evaluation see every image as 8-bit RGB (:func:`imgen.data.folder.decode_image`);
prediction must give back what it was given: a 16-bit PNG or TIFF comes out 16-bit (computed
without 8-bit quantisation), a gray image gray, an image with alpha with its alpha (resized to
the output, then put back), and the ICC profile and EXIF of the input go with the output.

The formats' libraries: Pillow for 8-bit images and 16-bit gray; pypng to read 16-bit RGB(A)
PNG, which Pillow reduces to 8 bits; tifffile for TIFF (any depth). PNG is written by
:mod:`imgen.data.png_writer`, which streams a large output instead of copying it. Reading shares
:mod:`imgen.data.folder`'s guards (decompression bombs, one-sentence errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from imgen.data.folder import _DECODE_ERRORS, _check_large, _pixel_limit
from imgen.errors import DataError, UsageError

# --ext choices and the Pillow format each writes; "auto" keeps the input's.
EXTENSIONS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF"}
SUFFIX_OF_FORMAT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
LUMA = (0.299, 0.587, 0.114)  # BT.601: a gray output is the luma of the RGB one (Real-ESRGAN)
EXIF_HEADER = b"Exif\x00\x00"  # Picture.exif is Pillow's form: this, then the TIFF block


@dataclass
class Picture:
    """An image as stored: ``pixels`` (H, W, C) uint8 or uint16, C = 1 (gray), 2 (gray +
    alpha), 3 (RGB) or 4 (RGBA), EXIF orientation already applied; its file format and the
    metadata to carry over."""

    pixels: np.ndarray
    format: str
    icc: bytes | None = None
    exif: bytes | None = None

    @property
    def depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    @property
    def gray(self) -> bool:
        return self.channels in (1, 2)

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def levels(self) -> float:
        return 65535.0 if self.depth == 16 else 255.0

    def color(self) -> torch.Tensor:
        """The colour as the models take it: (1, 3, H, W) float32 in [0, 1] (gray repeated)."""
        c = 1 if self.gray else 3
        x = torch.from_numpy(np.ascontiguousarray(self.pixels[:, :, :c]).astype(np.float32))
        x = x.permute(2, 0, 1)[None] / self.levels
        return x.expand(-1, 3, -1, -1) if self.gray else x

    def alpha(self) -> torch.Tensor | None:
        """The alpha plane, (1, 1, H, W) float32 in [0, 1], or None."""
        if not self.has_alpha:
            return None
        a = torch.from_numpy(np.ascontiguousarray(self.pixels[:, :, -1:]).astype(np.float32))
        return a.permute(2, 0, 1)[None] / self.levels


# -- reading -------------------------------------------------------------------------------------
def read_picture(path: str | Path) -> Picture:
    """Read ``path`` keeping its depth, channels and metadata (see the module docstring).

    Raises DataError (one sentence) for a file that is missing, corrupt or not an image.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            return _read_tiff(path)
        with _pixel_limit(path) as limit, Image.open(path) as img:
            _check_large(path, img, limit)
            fmt = img.format or "PNG"
            if fmt == "PNG" and _png_is_deep_color(path):
                return _read_deep_png(path)
            img.load()
            icc = img.info.get("icc_profile")
            exif = _exif_after_transpose(img)
            img = ImageOps.exif_transpose(img)
            return Picture(_pixels(img), fmt, icc, exif)
    except FileNotFoundError as exc:
        raise DataError(f"The image {path} does not exist; check the path.") from exc
    except (*_DECODE_ERRORS, RuntimeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(
            f"Cannot decode {path} ({exc}); the file is corrupt or not an image: "
            "replace or remove it."
        ) from exc


def _pixels(img: Image.Image) -> np.ndarray:
    """(H, W, C) uint8/uint16 pixels of a loaded Pillow image, C in 1..4."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img, dtype=np.uint16)[:, :, None].copy()
    if mode in ("I", "F"):
        from imgen.data.folder import _gray_to_uint8

        return _gray_to_uint8(np.asarray(img), mode)[:, :, None]
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("1", "L"):
        img = img.convert("L")
    elif mode in ("LA", "La", "PA"):
        img = img.convert("LA")
    elif mode in ("RGBA", "RGBa"):
        img = img.convert("RGBA")
    elif mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, RGBX, ...
    array = np.asarray(img)
    return (array[:, :, None] if array.ndim == 2 else array).copy()


def _exif_after_transpose(img: Image.Image) -> bytes | None:
    """The EXIF to write with the (upright) output: the input's, orientation reset to 1."""
    exif = img.getexif() if img.format != "PNG" or "exif" in img.info else None
    if not exif:
        return None
    if 0x0112 in exif:
        exif[0x0112] = 1
    return exif.tobytes()


def _png_is_deep_color(path: Path) -> bool:
    """A 16-bit RGB, RGBA or gray + alpha PNG (IHDR bit depth 16, colour type 2, 6 or 4),
    which Pillow would read as 8-bit."""
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) == 26 and head[24] == 16 and head[25] in (2, 4, 6)


def _read_deep_png(path: Path) -> Picture:
    import png

    reader = png.Reader(filename=str(path))
    width, height, rows, info = reader.asDirect()
    planes = info["planes"]
    pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    pixels = pixels.reshape(height, width, planes)
    chunks = dict(_png_chunks(path, (b"iCCP", b"eXIf")))
    icc = None
    if b"iCCP" in chunks:
        import zlib

        name_end = chunks[b"iCCP"].index(b"\0")
        icc = zlib.decompress(chunks[b"iCCP"][name_end + 2 :])
    exif = chunks.get(b"eXIf")
    return Picture(pixels, "PNG", icc, EXIF_HEADER + exif if exif else None)


def _png_chunks(path: Path, wanted: tuple[bytes, ...]) -> list[tuple[bytes, bytes]]:
    import png

    return [(t, d) for t, d in png.Reader(filename=str(path)).chunks() if t in wanted]


def _read_tiff(path: Path) -> Picture:
    import tifffile

    if not path.exists():
        raise FileNotFoundError(path)
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            array = page.asarray()
            icc_tag = page.tags.get(34675)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
    except (tifffile.TiffFileError, ValueError) as exc:
        raise DataError(f"Cannot decode {path} ({exc}); replace or remove it.") from exc
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] > 4:
        raise DataError(f"{path} has a {array.shape} TIFF layout imgen cannot predict; save it "
                        "as a single gray, RGB or RGBA image")  # fmt: skip
    if array.dtype not in (np.uint8, np.uint16):
        from imgen.data.folder import _gray_to_uint8

        array = np.dstack([_gray_to_uint8(array[:, :, i], "F") for i in range(array.shape[2])])
    return Picture(np.ascontiguousarray(array), "TIFF", icc, None)


# -- writing -------------------------------------------------------------------------------------
def output_format(picture: Picture, ext: str) -> tuple[str, list[str]]:
    """The Pillow format name to write for ``--ext`` (``auto``: the input's), and notes on
    what that format cannot keep (alpha in a JPEG: written as PNG instead; 16 bits)."""
    notes: list[str] = []
    if ext == "auto":
        fmt = picture.format if picture.format in SUFFIX_OF_FORMAT else "PNG"
    elif ext in EXTENSIONS:
        fmt = EXTENSIONS[ext]
    else:
        raise UsageError(f"--ext {ext} is not supported; use auto, {', '.join(EXTENSIONS)}")
    if picture.has_alpha and fmt in ("JPEG", "BMP"):
        notes.append(f"{fmt} has no alpha: written as PNG to keep it")
        fmt = "PNG"
    if picture.depth == 16 and fmt not in ("PNG", "TIFF"):
        notes.append(f"{fmt} holds 8 bits: the 16-bit output is written as 8-bit")
    return fmt, notes


def finish(
    picture: Picture,
    output: torch.Tensor,
    *,
    outscale: float | None = None,
) -> np.ndarray:
    """The output pixels for ``picture``: the model's (1, 3, h, w) output (float in [0, 1]
    or uint8 levels) with the picture's channels back (gray: the luma; alpha: resized to the
    output, bilinear), resized to ``outscale`` x the input when asked, at its depth."""
    height, width = picture.pixels.shape[:2]
    levels = picture.levels
    integer = not output.dtype.is_floating_point
    if integer and not picture.gray and not picture.has_alpha and not outscale:
        # The common case: the levels as they are, an (H, W, C) view with no copy.
        return output[0].permute(1, 2, 0).cpu().numpy()
    y = output.float()
    if integer:
        y = y / (65535.0 if output.dtype == torch.uint16 else 255.0)
    if picture.gray:
        y = (y * torch.tensor(LUMA, device=y.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    size = y.shape[-2:]
    if outscale:
        size = (max(1, round(height * outscale)), max(1, round(width * outscale)))
        if tuple(size) != tuple(y.shape[-2:]):
            y = F.interpolate(y, size=size, mode="bicubic", antialias=True, align_corners=False)
    alpha = picture.alpha()
    if alpha is not None:
        alpha = F.interpolate(
            alpha.to(y.device), size=size, mode="bilinear", antialias=True, align_corners=False
        )
        y = torch.cat([y, alpha], dim=1)
    y = torch.nan_to_num(y, nan=0.0).clamp_(0, 1).mul_(levels).round_()
    dtype = np.uint16 if picture.depth == 16 else np.uint8
    return y[0].permute(1, 2, 0).cpu().numpy().astype(dtype)


def write_picture(path: str | Path, pixels: np.ndarray, fmt: str, like: Picture) -> None:
    """Write (H, W, C) ``pixels`` as ``fmt`` with ``like``'s ICC profile and EXIF; parent
    folders are made, and the file appears whole or not at all (written, then renamed)."""
    from imgen.engine.checkpoint import atomic_write

    path = Path(path)
    if fmt in ("JPEG", "WEBP", "BMP") and pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    atomic_write(path, lambda tmp: _write(Path(tmp), pixels, fmt, like))


def _write(path: Path, pixels: np.ndarray, fmt: str, like: Picture) -> None:
    channels = pixels.shape[2]
    if fmt == "TIFF":
        import tifffile

        photometric = "minisblack" if channels in (1, 2) else "rgb"
        extras = "unassalpha" if channels in (2, 4) else None
        array = pixels[:, :, 0] if channels == 1 else pixels
        kwargs = {"iccprofile": like.icc} if like.icc else {}
        tifffile.imwrite(
            path, array, photometric=photometric, extrasamples=extras, compression="zlib", **kwargs
        )
        return
    if fmt == "PNG":  # streamed in stripes: no copy of a large output (see png_writer)
        from imgen.data.png_writer import write_png

        exif = like.exif.removeprefix(EXIF_HEADER) if like.exif else None
        write_png(path, pixels, icc=like.icc, exif=exif)
        return
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)  # L/LA/RGB/RGBA
    options: dict = {}
    if like.icc:
        options["icc_profile"] = like.icc
    if like.exif and fmt in ("JPEG", "WEBP"):
        options["exif"] = like.exif
    if fmt == "JPEG":
        options["quality"] = 95
    if fmt == "WEBP":
        options["lossless"] = True
    image.save(path, format=fmt, **options)
