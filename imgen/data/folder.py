"""Find images in a folder and decode them safely to 8-bit RGB.

Every image that enters imgen goes through `decode_image`, so training, evaluation and
prediction see the same pixels whatever the file's mode (grayscale, 16-bit, palette, CMYK,
alpha) or EXIF orientation.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from imgen.errors import DataError, MissingFolderError, UsageError
from imgen.failures import Failure, collecting, record_failure, report_failures

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# What PIL raises for files that are not images, are truncated, or are malformed.
# (DecompressionBombError, a ValueError, is caught before these: see `_pixel_limit`.)
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
    EOFError,
)

# A warning listing thousands of files helps no one; the count is always given in full.
_MAX_LISTED = 20

Warn = Callable[[str], None]
SizeLike = int | tuple[int, int]


def _warn_stderr(message: str) -> None:
    """Default warning sink: one line on stderr, so stdout stays data-only."""
    try:
        import click

        click.echo(f"warning: {message}", err=True)
    except ImportError:  # click is a dependency of the CLI, not of the library
        print(f"warning: {message}", file=sys.stderr)


def is_image_file(path: str | Path) -> bool:
    """True if the name ends in one of IMAGE_EXTENSIONS (case-insensitive)."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def scan_images(root: str | Path, recursive: bool = True) -> list[Path]:
    """List the image files under `root`, sorted by their path relative to `root`.

    Hidden files and folders (names starting with ".") are skipped: they are editor and OS
    debris such as macOS "._photo.jpg" resource forks, which carry image extensions but are
    not images. Sorting by the relative POSIX path makes the order, and so the data order of
    a seeded run, the same on every machine.
    """
    root = Path(root)
    if not root.exists():
        raise MissingFolderError(
            f"The data folder {root} does not exist; check the path given to --data."
        )
    if not root.is_dir():
        raise DataError(
            f"{root} is a file, not a folder; pass the folder that contains the images."
        )
    found: list[Path] = []
    # Symbolic links are followed, but every real folder is entered once and every real file
    # listed once: a link back up the tree (`self -> .`) would otherwise repeat the folder's
    # images endlessly, and two such links would make the walk never end.
    # A link that leads out of the root (`up -> ..`, `etc -> /etc`) is skipped: a data folder
    # reads only what is in it.
    visited = {_dir_key(root)}
    inside = root.resolve()
    outside: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(dirnames):
            path = Path(dirpath, name)
            if name.startswith("."):
                continue
            if _leaves(path, inside):
                outside.append(path)
                continue
            key = _dir_key(path)
            if key is not None and key not in visited:
                visited.add(key)
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            if name.startswith(".") or not is_image_file(name):
                continue
            path = Path(dirpath, name)
            if _leaves(path, inside):
                outside.append(path)
            else:
                found.append(path)
        if not recursive:
            break
    if outside:
        example = outside[0]
        _warn_stderr(
            f"skipped {len(outside)} symbolic link{'s' if len(outside) > 1 else ''} in {root} "
            f"that lead{'s' if len(outside) == 1 else ''} outside it (e.g. "
            f"{example.relative_to(root).as_posix()} -> {os.readlink(example)}); a data "
            "folder is read only inside itself: copy or bind-mount such images into it, or "
            "pass their folder as the data"
        )
    if not found:
        from imgen.data.prepared import is_prepared

        if is_prepared(root):
            raise DataError(
                f"{root} is a dataset made by imgen prepare (tar shards), which this command "
                "does not read; give it the folder of images it was prepared from."
            )
        where = "in or below" if recursive else "directly in"
        raise DataError(
            f"No images found {where} {root} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
            "put images there or point --data at the folder that contains them."
        )
    unique: dict[Path, Path] = {}
    for path in sorted(found, key=lambda p: p.relative_to(root).as_posix()):
        unique.setdefault(path.resolve(), path)  # a file linked twice: its first name only
    return list(unique.values())


def _leaves(path: Path, inside: Path) -> bool:
    """Whether ``path`` is a symbolic link to somewhere outside the folder ``inside``."""
    if not path.is_symlink():
        return False  # a real entry under a kept folder is inside
    try:
        return not path.resolve().is_relative_to(inside)
    except (OSError, RuntimeError):  # a loop of links: not followed
        return True


def _dir_key(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder `path` leads to, None if it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def image_key(path: str | Path, root: str | Path) -> str:
    """The name that identifies an image of a data folder in results: its path relative to
    `root`, in POSIX form (``sub/a.png``), so that two ``a.png`` in different subfolders are
    two images. A path outside `root` keeps its own POSIX form."""
    path, root = Path(path), Path(root)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# -- Pillow's decompression-bomb guard ---------------------------------------------------------
MAX_PIXELS_ENV = "IMGEN_MAX_PIXELS"

_warned_large: set[str] = set()


def _megapixels(pixels: float) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.3g}"


def _max_pixels() -> int | None:
    """The pixel limit of IMGEN_MAX_PIXELS (0 or "none": no limit), else Pillow's own."""
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not value:
        return Image.MAX_IMAGE_PIXELS
    if value.lower() in ("0", "none"):
        return None
    try:
        limit = int(float(value.replace("_", "")))
    except ValueError:
        limit = -1
    if limit < 0:
        raise UsageError(
            f"{MAX_PIXELS_ENV}={value} is not a number of pixels; set it to a whole number "
            "such as 200000000, or to 0 for no limit."
        )
    return limit or None


def _bomb_error(path: Path, limit: int) -> DataError:
    """The DataError for an image more than twice `limit`, one sentence."""
    try:  # read the size from the header, without the guard that refused it
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        with Image.open(path) as img:
            size = f"{_megapixels(img.width * img.height)} MP"
    except Exception:  # only the message depends on it
        size = "too large"
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    reason = (
        f"{size}, more than twice Pillow's limit of {_megapixels(limit)} MP, so it is refused "
        f"as a possible decompression bomb; set {MAX_PIXELS_ENV}=N to allow images of up to "
        "N pixels (0: no limit)"
    )
    error = DataError(f"{path} is {reason}.")
    error.reason = reason  # what a list of the files that failed shows
    return error


@contextmanager
def _pixel_limit(path: Path) -> Iterator[int | None]:
    """Open images under the limit of IMGEN_MAX_PIXELS (default: Pillow's), with Pillow's
    DecompressionBombWarning replaced by one sentence and its DecompressionBombError turned
    into a DataError (one sentence, not a traceback). Yields the limit."""
    limit = _max_pixels()
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield limit
    except Image.DecompressionBombError as exc:
        raise _bomb_error(path, limit or 0) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _check_large(path: Path, img: Image.Image, limit: int | None) -> None:
    """Warn once per file, in one sentence, about an image above the pixel limit."""
    pixels = img.width * img.height
    if limit is None or pixels <= limit or str(path) in _warned_large:
        return
    _warned_large.add(str(path))
    message = (
        f"imgen: WARNING: {path} is {_megapixels(pixels)} MP, above Pillow's limit of "
        f"{_megapixels(limit)} MP (a guard against decompression bombs); it is read anyway, "
        f"and {MAX_PIXELS_ENV}=N allows images of up to N pixels without this warning."
    )
    try:
        import click

        click.echo(message, err=True)
    except ImportError:
        print(message, file=sys.stderr)


def _gray_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale a single-channel image of mode I;16*, I or F to uint8 without clipping.

    16-bit data maps 0..65535 onto 0..255 by rounding v/257 (65535 -> 255), the exact
    inverse of the usual 8->16 bit expansion v*257. Mode "I" (32-bit) comes from 16-bit
    files in older Pillow versions and from integer TIFFs: values within 0..65535 are taken
    as 16-bit, anything else is stretched from its min..max. Mode "F" within 0..1 is taken
    as normalised, within 0..255 as 8-bit levels, anything else is stretched.
    """
    if mode.startswith("I;16") or (
        mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535
    ):
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    data = arr.astype(np.float64)
    if not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        data = data * 255.0
    elif not (mode == "F" and lo >= 0.0 and hi <= 255.0):
        data = (data - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(data)
    return np.clip(np.rint(data), 0, 255).astype(np.uint8)


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    """Drop alpha by compositing onto black: rgb * alpha / 255, rounded.

    Compositing rather than discarding alpha makes the result depend only on what is
    visible: the colour stored under fully transparent pixels is arbitrary (encoders keep
    anything there), so discarding alpha would feed that hidden colour to the network.
    """
    rgb = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    return ((rgb * alpha + 127) // 255).astype(np.uint8)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any common mode to an (H, W, 3) uint8 array."""
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        gray = _gray_to_uint8(np.asarray(img), mode)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "P":
        img = img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # "La"/"RGBa" are premultiplied; convert() un-premultiplies, compositing re-applies it.
        return _composite_on_black(np.asarray(img.convert("RGBA")))
    if img.mode == "L":
        return np.repeat(np.asarray(img)[:, :, None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGB")  # "1", CMYK, YCbCr, RGBX, ...; 16-bit RGB is already 8-bit here
    return np.asarray(img)


def decode_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Grayscale (1, L, I, I;16, F), palette (with or without transparency), CMYK and 16-bit
    files become RGB uint8; 16-bit grayscale is scaled (v/257), not clipped. Alpha is
    composited onto black (see `_composite_on_black`). Animated files give their first
    frame. Raises DataError for files that are missing, corrupt or not images.
    """
    path = Path(path)
    try:
        with _pixel_limit(path) as limit, Image.open(path) as img:
            _check_large(path, img, limit)
            img.load()  # force the full decode here, so truncation is caught now
            img = ImageOps.exif_transpose(img)
            arr = _to_rgb_array(img)
    except FileNotFoundError as exc:
        raise DataError(f"The image {path} does not exist; check the path.") from exc
    except PermissionError as exc:
        raise DataError(f"Cannot read {path}: permission denied; fix its permissions.") from exc
    except _DECODE_ERRORS as exc:
        raise DataError(
            f"Cannot decode {path} ({exc}); the file is corrupt or not an image: "
            "replace or remove it."
        ) from exc
    # Pillow hands out read-only buffers; callers (and torch.from_numpy) expect a normal array.
    return np.require(arr, dtype=np.uint8, requirements=["C", "W"])


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image after EXIF orientation, read from its header only."""
    path = Path(path)
    try:
        with _pixel_limit(path) as limit, Image.open(path) as img:
            _check_large(path, img, limit)
            width, height = img.size
            # Orientations 5-8 rotate by 90 degrees, swapping width and height.
            if _orientation(img) in (5, 6, 7, 8):
                width, height = height, width
    except FileNotFoundError as exc:
        raise DataError(f"The image {path} does not exist; check the path.") from exc
    except _DECODE_ERRORS as exc:
        raise DataError(
            f"Cannot read {path} ({exc}); the file is corrupt or not an image: "
            "replace or remove it."
        ) from exc
    return height, width


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag, read without decoding the pixels.

    Pillow's ``getexif()`` of a PNG decodes the whole image when the eXIf chunk was not met
    before the pixel data; a header check must not (it would cost a full decode of every
    file, and fail on files that are only truncated further on), so a PNG's orientation is
    read from the chunks before the pixel data, where encoders put eXIf.
    """
    if img.format == "PNG":
        raw = img.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        return exif.get(0x0112, 1)
    return img.getexif().get(0x0112, 1)


def _as_hw(size: SizeLike) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def _report_skipped(skipped: list[tuple[Path, str]], total: int, warn: Warn | None) -> None:
    """Emit one warning that lists every undecodable file, or raise if nothing was left."""
    if not skipped:
        return
    if collecting():  # imgen eval: listed with the command's other failures, at the end
        report_failures([Failure(str(path), reason) for path, reason in skipped])
        if len(skipped) == total:
            raise DataError(f"None of the {total} image file(s) could be decoded.")
        return
    shown = skipped[:_MAX_LISTED]
    listing = "; ".join(f"{path} ({reason})" for path, reason in shown)
    if len(skipped) > len(shown):
        listing += f"; and {len(skipped) - len(shown)} more"
    if len(skipped) == total:
        raise DataError(
            f"None of the {total} image file(s) could be decoded: {listing}. "
            "Replace them with readable images."
        )
    (warn or _warn_stderr)(
        f"skipped {len(skipped)} of {total} image file(s) that could not be decoded "
        f"(remove them to silence this): {listing}"
    )


def _check_min_size(
    sizes: Sequence[tuple[int, int]], paths: Sequence[Path], min_size: SizeLike | None
) -> None:
    """Raise DataError naming the smallest image that is smaller than `min_size`."""
    if min_size is None:
        return
    min_h, min_w = _as_hw(min_size)
    small = [(h * w, i) for i, (h, w) in enumerate(sizes) if h < min_h or w < min_w]
    if not small:
        return
    _, worst = min(small)
    height, width = sizes[worst]
    raise DataError(
        f"{paths[worst]} is {height}x{width} pixels (height x width), smaller than the "
        f"required {min_h}x{min_w} ({len(small)} of {len(paths)} image(s) are too small); "
        "use a smaller --crop or remove it."
    )


def load_images(
    paths: Iterable[str | Path],
    *,
    min_size: SizeLike | None = None,
    warn: Warn | None = None,
) -> tuple[list[np.ndarray], list[Path]]:
    """Decode every file, skipping undecodable ones with a single warning.

    Returns the (H, W, 3) uint8 arrays and the paths they came from (the skipped files
    left out). `min_size` is an int or (height, width); any image smaller than it raises
    DataError naming the smallest offender. `warn` receives the warning text (default:
    stderr). Raises DataError if no file decodes.
    """
    paths = [Path(p) for p in paths]
    images: list[np.ndarray] = []
    kept: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            images.append(decode_image(path))
            kept.append(path)
        except DataError as exc:
            skipped.append((path, Failure.of(path, exc).reason))
    _report_skipped(skipped, len(paths), warn)
    _check_min_size([img.shape[:2] for img in images], kept, min_size)
    return images, kept


def probe_images(
    paths: Iterable[str | Path],
    *,
    min_size: SizeLike | None = None,
    warn: Warn | None = None,
) -> tuple[list[tuple[int, int]], list[Path]]:
    """Like `load_images` but reads headers only: returns (height, width) sizes and paths.

    Cheap enough to validate a folder that is decoded lazily; a file whose header is fine
    but whose pixel data is corrupt is only caught when it is decoded.
    """
    paths = [Path(p) for p in paths]
    sizes: list[tuple[int, int]] = []
    kept: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            sizes.append(image_size(path))
            kept.append(path)
        except DataError as exc:
            skipped.append((path, Failure.of(path, exc).reason))
    _report_skipped(skipped, len(paths), warn)
    _check_min_size(sizes, kept, min_size)
    return sizes, kept


def read_or_skip(path: str | Path, read: Callable[[Path], object] = decode_image) -> object:
    """``read(path)`` (default: `decode_image`); for a file it cannot read (DataError),
    None inside `imgen.failures.collect_failures`, which records the file and why, so that
    the caller goes on with the next one. Elsewhere the DataError is raised.

    Each file read (or skipped) advances ``imgen eval``'s progress bar
    (:func:`imgen.progress.tick`)."""
    from imgen.progress import tick

    try:
        result = read(Path(path))
    except DataError as exc:
        if record_failure(path, exc):
            tick()
            return None
        raise
    shape = getattr(result, "shape", None)  # (H, W, 3) arrays and (.., 3, H, W) tensors
    tick(float(np.prod(shape)) / 3e6 if shape is not None else 0.0)
    return result


def read_image_tensor(path: str | Path) -> torch.Tensor:
    """Decode an image to a (3, H, W) float32 tensor in [0, 1]."""
    arr = decode_image(path)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().float().div_(255.0)


def save_image_tensor(t: torch.Tensor, path: str | Path) -> None:
    """Write a [0, 1] image tensor ((3, H, W), (1, H, W), (H, W) or (1, 3, H, W)).

    Values are clamped and rounded to uint8. The format follows the suffix; PNG (lossless)
    when the suffix is ".png" or missing. Parent folders are created.
    """
    from imgen.inference import to_uint8_image  # one rounding rule for every writer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix.lower() in ("", ".png") else None
    Image.fromarray(to_uint8_image(t)).save(path, format=fmt)
