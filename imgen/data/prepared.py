"""Prepared training sets: a folder of large images cut once into sub-images in tar shards.

Why: decoding DIV2K (800 images of about 2040x1400) whole into every process costs 6.6 GB per
rank, and decoding a whole 2K PNG for every 128-pixel crop costs tens of milliseconds.
``imgen prepare`` cuts each HR image into overlapping sub-images (BasicSR's
``extract_subimages``: 480-pixel crops every 240 pixels, the last one flush with the edge),
optionally with their MATLAB-bicubic LR partners, and writes them as PNG members of plain
POSIX tar shards::

    DATASET/manifest.json          what is there: parameters, shards (sha256), sample index
    DATASET/shard-000000.tar       KEY.hr.png [+ KEY.lr.png], ...  (the WebDataset layout)
    DATASET/shard-000000.json      the shard's own record: what lets a rerun skip it

Any tar tool, or the ``webdataset`` package, reads the shards. Training does not stream them:
the manifest holds every member's byte offset, so :class:`PreparedDataset` reads one
sub-image with one ``os.pread`` and decodes a 480x480 PNG. The dataset is then an ordinary
map-style dataset of sub-images, and :class:`imgen.data.sampler.SampleStream` gives it what it
gives image folders: seeded shuffling, disjoint samples per rank and worker, and exact
``--resume``. ``pread`` rather than ``mmap`` keeps the pages in the kernel's page cache,
shared by every rank and worker on a node, and out of each process's resident memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from imgen.data.folder import Warn, _warn_stderr, decode_image, image_key, scan_images
from imgen.errors import DataError, UsageError
from imgen.failures import Failure

__all__ = [
    "MANIFEST",
    "PrepareResult",
    "PreparedDataset",
    "is_prepared",
    "prepare_folder",
    "prepared_scale",
    "subimage_positions",
]

MANIFEST = "manifest.json"
FORMAT = "imgen-prepared-1"
_MAX_LISTED = 20


def is_prepared(folder: str | Path) -> bool:
    """True if `folder` is a dataset written by ``imgen prepare`` (it has the manifest)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def prepared_scale(folder: str | Path) -> int | None:
    """The --scale a prepared dataset's LR sub-images were made at (None: HR only)."""
    return json.loads((Path(folder) / MANIFEST).read_text())["params"].get("scale")


def subimage_positions(length: int, crop: int, step: int, thresh_size: int = 0) -> list[int]:
    """The start of each sub-image along one side, as BasicSR's ``extract_subimages``.

    Every `step` pixels from 0; when more than `thresh_size` pixels are left after the last
    one, one more sub-image flush with the edge. Empty when the side is shorter than `crop`.
    """
    if length < crop:
        return []
    positions = list(range(0, length - crop + 1, step))
    if length - (positions[-1] + crop) > thresh_size:
        positions.append(length - crop)
    return positions


@dataclass(frozen=True)
class _Params:
    crop: int
    step: int
    thresh_size: int
    scale: int | None
    compress_level: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "crop": self.crop,
            "step": self.step,
            "thresh_size": self.thresh_size,
            "scale": self.scale,
            "compress_level": self.compress_level,
        }


@dataclass
class PrepareResult:
    """What ``prepare_folder`` did: counts for the summary line, the files it skipped."""

    out: Path
    images: int
    samples: int
    shards: int
    written: int  # shards written this time (the others were complete already)
    skipped: list[tuple[str, str]]  # (image, why)
    bytes: int


def _source_record(path: Path, root: Path) -> dict[str, Any]:
    st = path.stat()
    return {"name": image_key(path, root), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _png_bytes(pixels: np.ndarray, compress_level: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()


def _member_key(name: str, index: int) -> str:
    """The WebDataset key of sub-image `index` of image `name`: no dots (a key ends at the
    first dot of the file name), folders kept, so ``a/b.c.png`` gives ``a/b_c_s003``."""
    stem = name.rsplit(".", 1)[0].replace(".", "_")
    return f"{stem}_s{index:03d}"


def _lr_of(hr: np.ndarray, scale: int) -> np.ndarray:
    """The MATLAB-bicubic LR of an HR image already cut to a multiple of `scale` (uint8)."""
    import torch

    from imgen.data.resize import imresize

    tensor = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)
    return imresize(tensor, 1 / scale).permute(1, 2, 0).contiguous().numpy()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> tuple[int, int]:
    """Append a member; returns the (offset, size) of its data in the tar file."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0  # mtime 0: the same bytes every run
    tar.addfile(info, io.BytesIO(data))
    padded = -(-len(data) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return tar.offset - padded, len(data)


def _write_shard(
    index: int, root: str, paths: list[str], out: str, params: _Params
) -> dict[str, Any]:
    """Write shard `index` from the images `paths` (run in a worker process); its record."""
    root_path, out_path = Path(root), Path(out)
    name = f"shard-{index:06d}.tar"
    partial = out_path / f".{name}.partial"
    samples: list[list[int]] = []
    skipped: list[list[str]] = []
    sources = []
    crop, step, scale = params.crop, params.step, params.scale
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for raw in paths:
            path = Path(raw)
            key = image_key(path, root_path)
            try:
                sources.append(_source_record(path, root_path))
                image = decode_image(path)
            except DataError as exc:
                skipped.append([key, Failure.of(path, exc).reason])
                continue
            except OSError as exc:  # gone or unreadable since the folder was listed
                sources.append({"name": key})
                skipped.append([key, f"cannot be read ({exc.strerror or exc})"])
                continue
            height, width = image.shape[:2]
            if scale:
                height, width = height - height % scale, width - width % scale
                image = image[:height, :width]
            ys = subimage_positions(height, crop, step, params.thresh_size)
            xs = subimage_positions(width, crop, step, params.thresh_size)
            if not ys or not xs:
                skipped.append(
                    [key, f"{image.shape[1]}x{image.shape[0]} is smaller than the crop {crop}"]
                )
                continue
            lr = _lr_of(image, scale) if scale else None
            count = 0
            for y in ys:
                for x in xs:
                    if scale:  # the LR grid: both corners a multiple of the scale
                        y, x = y - y % scale, x - x % scale
                    member = _member_key(key, count)
                    hr_png = _png_bytes(image[y : y + crop, x : x + crop], params.compress_level)
                    entry = [index, *_add(tar, f"{member}.hr.png", hr_png), -1, 0]
                    if lr is not None:
                        c, ly, lx = crop // scale, y // scale, x // scale
                        lr_png = _png_bytes(lr[ly : ly + c, lx : lx + c], params.compress_level)
                        entry[3:5] = _add(tar, f"{member}.lr.png", lr_png)
                    samples.append(entry)
                    count += 1
    final = out_path / name
    os.replace(partial, final)
    record = {
        "name": name,
        "bytes": final.stat().st_size,
        "mtime_ns": final.stat().st_mtime_ns,
        "sha256": _sha256(final),
        "params": params.as_dict(),
        "sources": sources,
        "skipped": skipped,
        "samples": samples,
    }
    sidecar = out_path / f"shard-{index:06d}.json"
    tmp = sidecar.with_suffix(".json.partial")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, sidecar)
    return record


def _finished(
    index: int, root: Path, paths: list[Path], out: Path, params: _Params, verify: bool
) -> dict | None:
    """The record of shard `index` if a previous run wrote it whole from the same images with
    the same parameters (sources by name, size and mtime). The tar is hashed again when its
    size or mtime is not the one recorded, or always with `verify`: a rerun over 100 GB of
    unchanged shards then costs a stat each, and any rewrite of a shard is still caught."""
    sidecar = out / f"shard-{index:06d}.json"
    try:
        record = json.loads(sidecar.read_text())
        tar = out / record["name"]
        if record["params"] != params.as_dict():
            return None
        if record["sources"] != [_source_record(p, root) for p in paths]:
            return None
        st = tar.stat()
        if st.st_size != record["bytes"]:
            return None
        if (verify or st.st_mtime_ns != record.get("mtime_ns")) and _sha256(tar) != record[
            "sha256"
        ]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker: the parallelism is over shards


def prepare_folder(
    data: str | Path,
    out: str | Path,
    *,
    crop: int = 480,
    step: int = 240,
    thresh_size: int = 0,
    scale: int | None = None,
    images_per_shard: int = 8,
    workers: int = 0,
    compress_level: int = 1,
    verify: bool = False,
    progress: bool = True,
    warn: Warn | None = None,
) -> PrepareResult:
    """Cut the images under `data` into sub-images in tar shards under `out` (see the module).

    Images are taken in `scan_images` order, `images_per_shard` to a shard, so a rerun maps
    the same images to the same shard and skips each shard already complete. Files that cannot
    be decoded, or are smaller than `crop`, are skipped and listed (one warning, and in the
    manifest). ``workers=0``: one per CPU core. PNGs are written at zlib level
    `compress_level` (1: fast to write; decoding costs about the same at any level).
    """
    if crop < 1 or step < 1 or thresh_size < 0 or images_per_shard < 1:
        raise UsageError("--crop, --step and --images-per-shard must be positive.")
    if scale is not None and (scale < 1 or crop % scale):
        raise UsageError(f"--crop {crop} must be a multiple of --scale {scale}.")
    root, out = Path(data), Path(out)
    if root.resolve() == out.resolve():
        raise UsageError("-o must be a folder other than --data.")
    paths = scan_images(root)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out} is a file; give a folder for the dataset.")
    out.mkdir(parents=True, exist_ok=True)
    params = _Params(crop, step, thresh_size, scale, compress_level)
    groups = [paths[i : i + images_per_shard] for i in range(0, len(paths), images_per_shard)]
    records: dict[int, dict] = {}
    todo = []
    for index, group in enumerate(groups):
        done = _finished(index, root, group, out, params, verify)
        if done is not None:
            records[index] = done
        else:
            todo.append(index)
    workers = workers if workers > 0 else (os.cpu_count() or 1)
    workers = max(1, min(workers, len(todo)))
    if todo:  # a manifest of the shards about to change would point into other bytes
        (out / MANIFEST).unlink(missing_ok=True)
    bar = _bar(len(groups), len(records), progress)
    jobs = [(i, str(root), [str(p) for p in groups[i]], str(out), params) for i in todo]
    try:
        if workers == 1:
            for job in jobs:
                records[job[0]] = _write_shard(*job)
                bar.update(1)
        else:
            with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
                futures = [pool.submit(_write_shard, *job) for job in jobs]
                for future in as_completed(futures):
                    record = future.result()
                    records[int(record["name"][6:12])] = record
                    bar.update(1)
    finally:
        bar.close()
    for stale in out.glob("shard-*.tar"):  # shards of a previous, larger run of this folder
        number = stale.name[6:12]
        if number.isdigit() and int(number) >= len(groups):
            stale.unlink()
            stale.with_suffix(".json").unlink(missing_ok=True)
    ordered = [records[i] for i in range(len(groups))]
    samples = [s for r in ordered for s in r["samples"]]
    skipped = [tuple(s) for r in ordered for s in r["skipped"]]
    if not samples:
        raise DataError(
            f"No sub-images could be cut from the {len(paths)} images in {root} (too small "
            f"for --crop {crop}, or unreadable); use a smaller --crop."
        )
    manifest = {
        "format": FORMAT,
        "source": str(root.resolve()),
        "params": params.as_dict(),
        "images": len(paths) - len(skipped),
        "samples": len(samples),
        "shards": [
            {k: r[k] for k in ("name", "bytes", "sha256")} | {"samples": len(r["samples"])}
            for r in ordered
        ],
        "skipped": [list(s) for s in skipped],
        # one row per sample: [shard, hr offset, hr bytes, lr offset, lr bytes] (lr -1: none)
        "index": samples,
    }
    tmp = out / f".{MANIFEST}.partial"
    tmp.write_text(json.dumps(manifest, separators=(",", ":")))
    os.replace(tmp, out / MANIFEST)
    if skipped:
        listed = "; ".join(f"{name}: {why}" for name, why in skipped[:_MAX_LISTED])
        more = f" and {len(skipped) - _MAX_LISTED} more" if len(skipped) > _MAX_LISTED else ""
        (warn or _warn_stderr)(f"skipped {len(skipped)} of {len(paths)} images: {listed}{more}")
    return PrepareResult(
        out=out,
        images=len(paths) - len(skipped),
        samples=len(samples),
        shards=len(groups),
        written=len(todo),
        skipped=list(skipped),
        bytes=sum(r["bytes"] for r in ordered),
    )


def _bar(total: int, initial: int, show: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        show = False
    if not show:

        class _Null:
            def update(self, n: int) -> None: ...
            def close(self) -> None: ...

        return _Null()
    # On a terminal only (disable=None), as imgen's other bars: logs and pipes stay clean.
    return tqdm(
        total=total, initial=initial, unit="shard", desc="prepare", file=sys.stderr, disable=None
    )


# -- reading --------------------------------------------------------------------------------
class _SampleNames(Sequence):
    """``ROOT[i]`` for each sample, made on demand: what warnings name, without a list of
    one string per sub-image in every worker."""

    def __init__(self, root: Path, count: int) -> None:
        self.root, self.count = root, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if not -self.count <= index < self.count:
            raise IndexError(index)
        return f"{self.root}[sample {index % self.count}]"


class PreparedDataset(Dataset):
    """The sub-images of a prepared dataset, with the item contract of
    :class:`imgen.data.datasets.ImageFolderDataset`: ``ds[(index, seed)]`` a random crop and
    flips drawn from ``sample_rng(seed)`` alone, ``ds[index]`` the centre crop; ``draw`` adds
    per-sample parameters. With ``paired=True`` (a dataset prepared with ``--scale``) items
    carry the stored LR crop as ``"lr"``, aligned as :class:`imgen_sr.data.PairedSRDataset`'s.

    Reads one member per item with ``os.pread`` (see the module): memory per process is the
    index (a few bytes per sample) and the images being decoded, whatever the dataset's size.
    The shards are checked against the manifest by size only (cheap at start-up); a member that
    no longer decodes is replaced by the next one, as in image folders (`StandIns`).
    """

    def __init__(
        self,
        root: str | Path,
        crop: int | None,
        *,
        augment: bool = True,
        paired: bool = False,
        multiple: int = 1,
        warn: Warn | None = None,
        draw: Callable[[np.random.Generator], dict] | None = None,
    ) -> None:
        from imgen.data.datasets import StandIns

        self.root = Path(root)
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"Cannot read {self.root / MANIFEST} ({exc}); run imgen prepare again."
            ) from exc
        self.params = manifest["params"]
        self.scale = self.params.get("scale")
        if paired and not self.scale:
            raise DataError(f"{self.root} has no LR sub-images; prepare it again with --scale.")
        sub = self.params["crop"]
        if crop is not None and crop > sub:
            raise DataError(
                f"--crop {crop} is larger than the {sub}-pixel sub-images of {self.root}; "
                f"use --crop {sub} or less, or prepare again with a larger --crop."
            )
        if paired and crop is not None and crop % self.scale:
            raise DataError(
                f"--crop {crop} must be a multiple of the dataset's scale {self.scale}."
            )
        self.crop, self.augment, self.paired, self.multiple, self.draw = (
            crop,
            augment,
            paired,
            multiple,
            draw,
        )
        self.shards = [self.root / s["name"] for s in manifest["shards"]]
        for shard, entry in zip(self.shards, manifest["shards"], strict=True):
            try:
                size = shard.stat().st_size
            except OSError:
                size = -1
            if size != entry["bytes"]:
                raise DataError(
                    f"{shard} is missing or not the size its manifest says; run imgen prepare "
                    "again to rewrite it."
                )
        self.index = np.asarray(manifest["index"], dtype=np.int64).reshape(-1, 5)
        if not len(self.index):
            raise DataError(f"{self.root} holds no samples; run imgen prepare again.")
        self.paths = _SampleNames(self.root, len(self.index))
        self._fds: dict[int, int] = {}
        self._pid = -1
        self._read = StandIns(self.paths, self._decode, warn)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"], state["_pid"] = {}, -1  # file descriptors belong to one process
        return state

    def __len__(self) -> int:
        return len(self.index)

    def _member(self, shard: int, offset: int, size: int) -> bytes:
        if self._pid != os.getpid():  # a forked worker opens its own descriptors
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(shard)
        if fd is None:
            fd = self._fds[shard] = os.open(self.shards[shard], os.O_RDONLY)
        if hasattr(os, "pread"):
            return os.pread(fd, size, offset)
        os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
        return os.read(fd, size)

    def _png(self, data: bytes, what: str) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as img:
                return np.asarray(img.convert("RGB"))
        except Exception as exc:  # any decode failure of the member: a DataError
            raise DataError(f"{what} does not decode ({exc})") from exc

    def _decode(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        shard, hr_off, hr_len, lr_off, lr_len = (int(v) for v in self.index[index])
        what = f"sample {index} of {self.shards[shard]}"
        hr = self._png(self._member(shard, hr_off, hr_len), what)
        lr = None
        if self.paired:
            lr = self._png(self._member(shard, lr_off, lr_len), what + " (LR)")
        return hr, lr

    def image(self, index: int) -> np.ndarray:
        """Sub-image `index` as an (H, W, 3) uint8 array."""
        return self._read(index)[0]

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        from imgen.data.transforms import (
            center_crop,
            paired_augment,
            paired_random_crop,
            sample_rng,
            to_tensor_uint8,
        )

        index, seed = (int(item[0]), int(item[1])) if isinstance(item, tuple) else (int(item), None)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} sub-images.")
        index %= len(self)
        hr, lr = self._read(index)
        rng = sample_rng(seed) if seed is not None else None
        images: Sequence[np.ndarray] = [hr] if lr is None else [lr, hr]
        scales = None if lr is None else [1, self.scale]
        if self.crop is None:
            height, width = hr.shape[:2]
            m = self.multiple * (self.scale if lr is not None else 1)
            images = [hr[: height - height % m, : width - width % m]]
            if lr is not None:
                s = self.scale
                images = [lr[: (height - height % m) // s, : (width - width % m) // s], images[0]]
        elif rng is None:
            if lr is None:
                images = [center_crop(hr, self.crop)]
            else:
                s, c = self.scale, self.crop // self.scale
                top, left = (lr.shape[0] - c) // 2, (lr.shape[1] - c) // 2
                images = [
                    lr[top : top + c, left : left + c],
                    hr[top * s : (top + c) * s, left * s : (left + c) * s],
                ]
        else:
            images = paired_random_crop(images, self.crop, rng, scales=scales)
        if rng is not None and self.augment:
            images = paired_augment(list(images), rng)
        out: dict[str, Any] = {"image": to_tensor_uint8(images[-1]), "index": index}
        if lr is not None:
            out["lr"] = to_tensor_uint8(images[0])
        if self.draw is not None:
            out.update(self.draw(rng if rng is not None else sample_rng(index)))
        return out
