"""Downloads for all of imgen: pretrained weights and published models, into torch's hub cache.

Files go to ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, default
``~/.cache/torch/hub/checkpoints``), the folder torchvision and ``torch.hub`` use, so a file
either of them downloaded is found here and the other way round. A download is written to
``NAME.partial`` and resumed from there (HTTP Range) after an interruption; its SHA-256 is
checked (the full published value, or torch's convention of a hash prefix in the file name,
``vgg19-dcbb9e9d.pth``) before it takes its name, and a file with the wrong hash is removed.

``IMGEN_OFFLINE=1`` (what ``--no-download`` sets) never opens a connection: a missing file is
then an :class:`OfflineError` error whose message names the file, its URL and where to put it.

This module imports no torch (``imgen pull`` and ``imgen models --published`` stay light).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from imgen.errors import ImgenError

__all__ = [
    "OFFLINE_ENV",
    "DownloadError",
    "HashMismatchError",
    "OfflineError",
    "cache_dir",
    "download",
    "ensure",
    "expected_hash",
    "is_offline",
    "set_offline",
    "sha256_file",
]

OFFLINE_ENV = "IMGEN_OFFLINE"
CHUNK = 1 << 20
# torch.hub's convention: "name-<first hex digits of the sha256>.ext".
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")


class DownloadError(ImgenError):
    """A file could not be downloaded; the message says what to do instead."""


class OfflineError(DownloadError):
    """The file is missing and imgen may not use the network (``IMGEN_OFFLINE=1``)."""


class HashMismatchError(DownloadError):
    """What was downloaded does not have the published SHA-256 (and was removed)."""


def is_offline() -> bool:
    """True when ``IMGEN_OFFLINE`` is set to anything but ``""``, ``0``, ``false`` or ``no``."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def set_offline(offline: bool = True) -> None:
    """Switch downloads off for this process and the processes it starts (``--no-download``)."""
    if offline:
        os.environ[OFFLINE_ENV] = "1"


def cache_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints``, computed without importing torch.

    torch's own answer is used when torch is imported already (it may have been moved with
    ``torch.hub.set_dir``); otherwise the same rule: ``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``.
    """
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return Path(torch.hub.get_dir()) / "checkpoints"
    if os.environ.get("TORCH_HOME"):
        hub = Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
        hub = Path(xdg).expanduser() / "torch" / "hub"
    return hub / "checkpoints"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_hash(filename: str, sha256: str | None = None) -> str | None:
    """The SHA-256 (or its prefix) a file must have: ``sha256`` when given, else the hash
    prefix in its name (torch's ``name-<hex>.ext``), else None."""
    if sha256:
        return sha256.lower()
    found = _HASH_IN_NAME.search(filename)
    return found.group(1) if found else None


def _offline_sentence(what: str, url: str, dest: Path, reason: str) -> str:
    return (
        f"{what} {dest.name} is not in the hub cache and {reason}; download {url} and put it "
        f"at {dest} (or set TORCH_HOME to a folder whose hub/checkpoints holds it)"
    )


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    what: str = "file",
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.partial``, resuming a partial file.

    Args:
        url: where the file is published.
        dest: the final path; its folder is created.
        sha256: the full published SHA-256 or a prefix of it; None: the prefix in the file
            name if there is one, else unchecked.
        what: what the file is, for messages (``"VGG19 weights"``).
        progress: show a tqdm bar on stderr.
        timeout: seconds to wait for the server.

    Returns:
        ``dest``.

    Raises:
        OfflineError: ``IMGEN_OFFLINE=1``; no connection was opened.
        HashMismatchError: the download has another SHA-256 (the partial file is removed).
        DownloadError: the server could not be reached or answered with an error.
    """
    dest = Path(dest)
    if is_offline():
        reason = f"{OFFLINE_ENV}=1 (or --no-download)"
        raise OfflineError(_offline_sentence(what, url, dest, reason))
    dest.parent.mkdir(parents=True, exist_ok=True)
    wanted = expected_hash(dest.name, sha256)
    # One process downloads, the others (DDP ranks set up at once) wait and then find it.
    with _locked(dest):
        if dest.is_file() and (wanted is None or sha256_file(dest).startswith(wanted)):
            return dest
        _download_locked(url, dest, wanted, what, progress, timeout)
    return dest


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """An exclusive lock on ``dest.lock`` (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(dest.with_name(dest.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download_locked(
    url: str, dest: Path, wanted: str | None, what: str, progress: bool, timeout: float
) -> None:
    partial = dest.with_name(dest.name + ".partial")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "imgen"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is complete already
            response = None
        else:
            raise DownloadError(
                _offline_sentence(what, url, dest, f"the server answered {exc.code} {exc.reason}")
            ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            _offline_sentence(what, url, dest, f"it could not be downloaded ({reason})")
        ) from None
    if response is not None:
        with response:
            resumed = have and getattr(response, "status", 200) == 206
            if not resumed:
                have = 0  # the server ignored the Range header: start again
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            _stream(
                response,
                partial,
                append=bool(resumed),
                start=have,
                total=total,
                name=dest.name,
                progress=progress,
            )
    if wanted:
        got = sha256_file(partial)
        if not got.startswith(wanted):
            partial.unlink(missing_ok=True)
            raise HashMismatchError(
                f"refusing {url}: its SHA-256 is {got}, not the published {wanted}; the "
                f"download was removed (try again, or report a changed file to its publisher)"
            )
    os.replace(partial, dest)


def _stream(
    response,
    partial: Path,
    *,
    append: bool,
    start: int,
    total: int | None,
    name: str,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        initial=start,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        file=sys.stderr,
        disable=not progress,
        leave=True,
    )
    try:
        with open(partial, "ab" if append else "wb") as f:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                f.write(chunk)
                bar.update(len(chunk))
    except OSError as exc:  # a dropped connection: keep what came, the next call resumes
        raise DownloadError(
            f"the download of {name} stopped ({exc}); run the command again to resume it from "
            f"{partial}"
        ) from None
    finally:
        bar.close()


def ensure(
    filename: str,
    url: str,
    *,
    sha256: str | None = None,
    what: str = "file",
    progress: bool = True,
) -> Path:
    """The cached ``filename`` (``cache_dir()/filename``), downloaded from ``url`` first when
    it is missing. Raises what :func:`download` raises."""
    path = cache_dir() / filename
    if path.is_file():
        return path
    return download(url, path, sha256=sha256, what=what, progress=progress)
