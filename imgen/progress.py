"""Progress bars of the commands that go through files (``imgen predict``, ``imgen eval``):
images done, megapixels per second, time left; on stderr, at most 80 columns wide, when stderr
is a terminal (``IMGEN_PROGRESS=1``: always; ``--quiet``: never).

``imgen eval`` runs the task's own evaluation loop; it learns of each image through
:func:`tick`, which :func:`imgen.data.read_or_skip` (how evaluations read their files) calls.
"""

from __future__ import annotations

import contextvars
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("imgen_progress", default=None)
WIDTH = 80


class Bar:
    """A tqdm bar that counts images and shows MP/s (``advance(megapixels)``)."""

    def __init__(self, total: int | None, desc: str, unit: str, quiet: bool) -> None:
        from tqdm.auto import tqdm

        # Shown on a terminal only (tqdm's disable=None), so that logs and pipes stay clean;
        # IMGEN_PROGRESS=1 shows it anywhere.
        shown = None if os.environ.get("IMGEN_PROGRESS") != "1" else False
        self._bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            disable=True if quiet else shown,
            ncols=WIDTH,
            leave=True,
            mininterval=0.5,
        )
        self.megapixels, self._start = 0.0, time.perf_counter()

    def advance(self, megapixels: float = 0.0) -> None:
        self.megapixels += megapixels
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        if megapixels:
            self._bar.set_postfix_str(f"{self.megapixels / elapsed:.2f} MP/s", refresh=False)
        self._bar.update(1)

    def write(self, message: str) -> None:
        """A line on stderr that does not tear the bar."""
        self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def progress_bar(
    total: int | None, desc: str, *, unit: str = "image", quiet: bool = False
) -> Iterator[Bar]:
    """A :class:`Bar` for the duration of the block; :func:`tick` advances it."""
    bar = Bar(total, desc, unit, quiet)
    token = _current.set(bar)
    try:
        yield bar
    finally:
        _current.reset(token)
        bar.close()


def tick(megapixels: float = 0.0) -> None:
    """One image done, of ``megapixels`` (a no-op outside :func:`progress_bar`)."""
    bar = _current.get()
    if bar is not None:
        bar.advance(megapixels)
