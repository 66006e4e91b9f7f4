"""Files a command could not read: skipped, then listed at the end, instead of stopping it.

``imgen predict`` and ``imgen eval`` go through a folder file by file. A corrupt or
unreadable file must not end them halfway: inside :func:`collect_failures` the readers of
:mod:`imgen.data.folder` (``read_or_skip``, ``load_images``, ``probe_images``) record such a
file with its reason and go on with the next. The command line (:class:`imgen.cli.ImgenGroup`)
holds a :func:`reported_failures` sink for every command; what was recorded reaches it, is
listed on stderr after the command's output, one line per file, and the exit status is 1.

Outside :func:`collect_failures` (training, library calls) the readers raise as before.
Torch-free, so that the command line can import it at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Failure",
    "collect_failures",
    "collecting",
    "format_failures",
    "record_failure",
    "report_failures",
    "reported_failures",
]


@dataclass(frozen=True)
class Failure:
    """A file that could not be read, and why (one short clause, e.g. PIL's message)."""

    path: str
    reason: str

    @classmethod
    def of(cls, path: str | Path, exc: BaseException) -> Failure:
        """The failure of ``path`` from the error reading it raised: its ``reason`` attribute
        where it has one, else the underlying error's message (a DataError's cause)."""
        reason = getattr(exc, "reason", None) or str(exc.__cause__ or exc)
        return cls(str(path), " ".join(reason.split()))

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


# The innermost collect_failures() list, and the command's sink (reported_failures()).
_COLLECTING: ContextVar[list[Failure] | None] = ContextVar("imgen_collecting", default=None)
_REPORT: ContextVar[list[Failure] | None] = ContextVar("imgen_report", default=None)


def _extend(target: list[Failure], failures: Iterable[Failure]) -> None:
    for failure in failures:
        if failure not in target:  # a file read twice (style: cycle, then pairs) is listed once
            target.append(failure)


@contextmanager
def collect_failures() -> Iterator[list[Failure]]:
    """Within this block, readers skip the files they cannot read and record them here.

    Yields the list of :class:`Failure` of this block. On leaving it they are also handed
    to the enclosing block, or to the command's :func:`reported_failures` sink.
    """
    failures: list[Failure] = []
    token = _COLLECTING.set(failures)
    try:
        yield failures
    finally:
        _COLLECTING.reset(token)
        report_failures(failures, raise_unreported=False)


def collecting() -> bool:
    """Whether readers skip unreadable files (inside :func:`collect_failures`)."""
    return _COLLECTING.get() is not None


def record_failure(path: str | Path, exc: BaseException) -> bool:
    """Record that ``path`` could not be read (``exc`` says why) and return True, inside
    :func:`collect_failures`; outside, return False: the caller re-raises ``exc``."""
    failures = _COLLECTING.get()
    if failures is None:
        return False
    _extend(failures, [Failure.of(path, exc)])
    return True


def report_failures(failures: list[Failure], *, raise_unreported: bool = True) -> None:
    """Hand ``failures`` to the enclosing :func:`collect_failures` or command sink.

    With neither (a library call), raise a DataError that lists them when
    ``raise_unreported``, after the caller has processed every readable file.
    """
    if not failures:
        return
    target = _COLLECTING.get()
    if target is None:
        target = _REPORT.get()
    if target is not None:
        _extend(target, failures)
    elif raise_unreported:
        from imgen.errors import DataError

        raise DataError(format_failures(failures))


@contextmanager
def reported_failures() -> Iterator[list[Failure]]:
    """The sink of one command: the failures recorded while it ran end up in the yielded
    list (it does not make readers skip files; :func:`collect_failures` does)."""
    failures: list[Failure] = []
    token = _REPORT.set(failures)
    try:
        yield failures
    finally:
        _REPORT.reset(token)


def format_failures(failures: list[Failure]) -> str:
    """``N file(s) could not be read:`` and one ``path: reason`` line per file."""
    lines = [f"{len(failures)} file(s) could not be read and were skipped:"]
    lines += [f"  {failure.line()}" for failure in failures]
    return "\n".join(lines)
