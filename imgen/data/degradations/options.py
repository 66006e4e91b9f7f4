"""The parameters of the second-order degradation, their defaults, and TOML files of them.

:class:`DegradationOptions` holds every parameter of Real-ESRGAN's pipeline, defaulting to
the published ones (BasicSR's ``options/train_realesrnet_x4plus.yml``, which
``train_realesrgan_x4plus.yml`` repeats). The names are Real-ESRGAN's, so a ``.yml`` line
carries over as a TOML line. Stage-two names end in ``2``; the kernel list and probabilities
of stage two are its own too (``kernel_list2``, ``kernel_prob2``).

:func:`resolve_degradation` turns what ``--degradation`` / ``--preset`` was given (``bicubic``,
``realesrgan`` or ``FILE.toml``) into a kind and its complete parameters, checked: a run
stores them all in its config.json, so that resuming or evaluating it reads no file.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgen.data.degradations.kernels import KERNEL_TYPES, MAX_KERNEL_SIZE
from imgen.errors import UsageError

__all__ = ["PRESETS", "RESIZE_MODES", "DegradationOptions", "load_options", "resolve_degradation"]

PRESETS = ("bicubic", "realesrgan")
RESIZE_MODES = ("area", "bilinear", "bicubic")  # F.interpolate's modes Real-ESRGAN draws from

_KERNEL_PROB = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


def _param(default: Any, kind: str, help: str) -> Any:
    """A parameter: ``kind`` is how it is checked (prob, probs3, probs, range, kernels, ...)."""
    return field(default=default, metadata={"kind": kind, "help": help})


@dataclass
class DegradationOptions:
    """Real-ESRGAN's second-order degradation, parameter by parameter (its defaults).

    Per stage: a blur (one of ``kernel_list`` with ``kernel_prob``, or with ``sinc_prob`` a
    2-D sinc kernel), a random resize (up/down/keep with ``resize_prob``, by a factor in
    ``resize_range``, with a mode of ``resize_modes``), Gaussian (``gaussian_noise_prob``,
    sigma in ``noise_range`` on the 0..255 scale) or else Poisson noise (scale in
    ``poisson_scale_range``), gray with ``gray_noise_prob``, and JPEG at a quality in
    ``jpeg_range``. Then, in random order (``resize_first_prob``), [resize to the LR size
    + the final sinc filter (``final_sinc_prob``)] and JPEG (``jpeg_range2``).

    Which probability skips stage two: Real-ESRGAN always runs stage two's resize and noise
    and skips only its blur, with probability ``1 - second_blur_prob``. ``skip_stage2_prob``
    (imgen's, default 0 so the defaults stay Real-ESRGAN's) skips stage two's blur, resize
    and noise all together; the final resize, sinc and JPEG always run. ``bicubic_prob``
    (imgen's, default 0) gives a sample plain MATLAB bicubic downscaling instead of the whole
    pipeline: a share of clean inputs, so that one model serves clean and degraded photos.
    """

    # -- stage one -----------------------------------------------------------------------------
    kernel_range: tuple[int, ...] = _param(
        (7, 21), "krange", "smallest and largest blur kernel side (odd sizes in between)"
    )
    kernel_list: tuple[str, ...] = _param(KERNEL_TYPES, "kernels", "blur kernel families")
    kernel_prob: tuple[float, ...] = _param(_KERNEL_PROB, "probs", "their probabilities")
    sinc_prob: float = _param(0.1, "prob", "probability of a sinc kernel instead")
    blur_sigma: tuple[float, ...] = _param((0.2, 3.0), "range+", "kernel sigma range (pixels)")
    betag_range: tuple[float, ...] = _param((0.5, 4.0), "range+", "generalized Gaussian beta range")
    betap_range: tuple[float, ...] = _param((1.0, 2.0), "range+", "plateau beta range")
    resize_prob: tuple[float, ...] = _param((0.2, 0.7, 0.1), "probs3", "up, down, keep")
    resize_range: tuple[float, ...] = _param((0.15, 1.5), "range+", "resize factor range")
    gaussian_noise_prob: float = _param(0.5, "prob", "Gaussian (else Poisson) noise")
    noise_range: tuple[float, ...] = _param((1.0, 30.0), "range0", "Gaussian sigma range (0..255)")
    poisson_scale_range: tuple[float, ...] = _param((0.05, 3.0), "range0", "Poisson scale range")
    gray_noise_prob: float = _param(0.4, "prob", "probability of gray noise")
    jpeg_range: tuple[float, ...] = _param((30.0, 95.0), "jpeg", "JPEG quality range")
    # -- stage two -----------------------------------------------------------------------------
    second_blur_prob: float = _param(0.8, "prob", "probability of stage two's blur")
    skip_stage2_prob: float = _param(0.0, "prob", "probability of skipping stage two entirely")
    kernel_list2: tuple[str, ...] = _param(KERNEL_TYPES, "kernels", "stage two's kernels")
    kernel_prob2: tuple[float, ...] = _param(_KERNEL_PROB, "probs", "their probabilities")
    sinc_prob2: float = _param(0.1, "prob", "stage two's sinc probability")
    blur_sigma2: tuple[float, ...] = _param((0.2, 1.5), "range+", "stage two's sigma range")
    betag_range2: tuple[float, ...] = _param((0.5, 4.0), "range+", "stage two's generalized beta")
    betap_range2: tuple[float, ...] = _param((1.0, 2.0), "range+", "stage two's plateau beta")
    resize_prob2: tuple[float, ...] = _param((0.3, 0.4, 0.3), "probs3", "stage two: up, down, keep")
    resize_range2: tuple[float, ...] = _param((0.3, 1.2), "range+", "stage two's resize range")
    gaussian_noise_prob2: float = _param(0.5, "prob", "stage two's Gaussian probability")
    noise_range2: tuple[float, ...] = _param((1.0, 25.0), "range0", "stage two's sigma range")
    poisson_scale_range2: tuple[float, ...] = _param((0.05, 2.5), "range0", "stage two's Poisson")
    gray_noise_prob2: float = _param(0.4, "prob", "stage two's gray noise probability")
    jpeg_range2: tuple[float, ...] = _param((30.0, 95.0), "jpeg", "the final JPEG quality range")
    # -- the final step ------------------------------------------------------------------------
    final_sinc_prob: float = _param(0.8, "prob", "probability of the final sinc filter")
    resize_first_prob: float = _param(
        0.5, "prob", "probability of [resize + sinc] before the final JPEG (else after)"
    )
    resize_modes: tuple[str, ...] = _param(RESIZE_MODES, "modes", "resize modes drawn from")
    # -- imgen's ---------------------------------------------------------------------------
    bicubic_prob: float = _param(
        0.0, "prob", "probability of plain bicubic downscaling instead of the whole pipeline"
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _check(f.name, f.metadata["kind"], getattr(self, f.name)))
        for names, probs in (("kernel_list", "kernel_prob"), ("kernel_list2", "kernel_prob2")):
            if len(getattr(self, names)) != len(getattr(self, probs)):
                raise UsageError(
                    f"degradation parameter {probs!r} has {len(getattr(self, probs))} "
                    f"probabilities for the {len(getattr(self, names))} kernels of {names!r}; "
                    "give one per kernel"
                )

    def to_dict(self) -> dict[str, Any]:
        """Every parameter, JSON-ready (lists of numbers and names)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str) -> DegradationOptions:
        """The defaults with ``values`` on top; an unknown name is a UsageError naming
        ``source`` and the closest parameters."""
        names = [f.name for f in dataclasses.fields(cls)]
        out = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in names:
                close = difflib.get_close_matches(name, names, n=3)
                close = close or [n for n in names if name in n][:3]
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise UsageError(f"{source}: unknown degradation parameter {key!r}{hint}")
            out[name] = value
        try:
            return cls(**out)
        except UsageError as exc:
            raise UsageError(f"{source}: {exc}") from None


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"degradation parameter {name!r} must be a finite number, got {value!r}")
    return float(value)


def _numbers(name: str, value: Any, count: int | None) -> list[float]:
    if not isinstance(value, (list, tuple)) or (count is not None and len(value) != count):
        what = f"a list of {count} numbers" if count else "a list of numbers"
        raise UsageError(f"degradation parameter {name!r} must be {what}, got {value!r}")
    return [_number(name, v) for v in value]


def _check(name: str, kind: str, value: Any) -> Any:
    """``value`` checked (and normalised: lists, floats) for a parameter of ``kind``."""
    if kind == "prob":
        p = _number(name, value)
        if not 0 <= p <= 1:
            raise UsageError(f"degradation parameter {name!r} must be in [0, 1], got {value!r}")
        return p
    if kind in ("probs", "probs3"):
        probs = _numbers(name, value, 3 if kind == "probs3" else None)
        if any(p < 0 for p in probs) or sum(probs) <= 0:
            raise UsageError(
                f"degradation parameter {name!r} must hold non-negative probabilities with a "
                f"positive sum, got {value!r}"
            )
        return tuple(probs)
    if kind in ("range+", "range0", "jpeg"):
        low, high = _numbers(name, value, 2)
        floor, top = {"range+": (0, math.inf), "range0": (0, math.inf), "jpeg": (1, 100)}[kind]
        bad_low = low <= floor if kind == "range+" else low < floor
        if low > high or bad_low or high > top:
            bounds = {
                "range+": "0 < low <= high",
                "range0": "0 <= low <= high",
                "jpeg": "1 <= low <= high <= 100",
            }[kind]
            raise UsageError(
                f"degradation parameter {name!r} must be [low, high] with {bounds}, got {value!r}"
            )
        return (low, high)
    if kind == "krange":
        sizes = _numbers(name, value, 2)
        low, high = (int(v) for v in sizes)
        if (
            any(v != int(v) for v in sizes)
            or low % 2 == 0
            or high % 2 == 0
            or not 1 <= low <= high <= MAX_KERNEL_SIZE
        ):
            raise UsageError(
                f"degradation parameter {name!r} must be two odd sizes from 1 to "
                f"{MAX_KERNEL_SIZE}, smallest first, got {value!r}"
            )
        return (low, high)
    known = KERNEL_TYPES if kind == "kernels" else RESIZE_MODES
    if not isinstance(value, (list, tuple)) or not value:
        raise UsageError(f"degradation parameter {name!r} must be a list of names, got {value!r}")
    for item in value:
        if item not in known:
            close = difflib.get_close_matches(str(item), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; use {', '.join(known)}"
            raise UsageError(f"degradation parameter {name!r} has an unknown {item!r}{hint}")
    return tuple(value)


def load_options(path: str | Path) -> DegradationOptions:
    """The parameters of a TOML file over the defaults: at its top level or in a
    ``[degradation]`` table; unknown names are refused, naming the closest ones."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"degradation file {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"degradation file {path} is a folder; give a .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"degradation file {path} is not valid TOML: {exc}") from None
    if isinstance(data.get("degradation"), dict):
        data = {**{k: v for k, v in data.items() if k != "degradation"}, **data["degradation"]}
    return DegradationOptions.from_dict(data, source=str(path))


def resolve_degradation(
    spec: str,
    options: dict[str, Any] | None = None,
    *,
    option: str = "--degradation",
    options_name: str = "--degradation-options",
) -> tuple[str, DegradationOptions | None]:
    """``(kind, parameters)`` of a degradation given as ``bicubic``, ``realesrgan`` or a
    ``.toml`` file (Real-ESRGAN's pipeline with the file's parameters over its defaults).

    ``options`` are parameters over the ``realesrgan`` preset; a file sets its own over the
    defaults and ignores them, and ``bicubic`` has none. ``kind`` is ``"bicubic"``
    (parameters None) or ``"realesrgan"``. Raises :class:`imgen.errors.UsageError` naming
    ``option``.

    Example:
        >>> kind, params = resolve_degradation("realesrgan", {"jpeg_range": [60, 95]})
        >>> kind, params.jpeg_range, params.sinc_prob
        ('realesrgan', (60.0, 95.0), 0.1)
    """
    if spec == "bicubic":
        return "bicubic", None
    if spec == "realesrgan":
        return "realesrgan", DegradationOptions.from_dict(options or {}, source=options_name)
    if spec.lower().endswith(".toml") or Path(spec).is_file():
        return "realesrgan", load_options(spec)
    close = difflib.get_close_matches(spec, PRESETS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"{option} {spec!r} is not one of {', '.join(PRESETS)} nor a .toml file; {hint}"
        "give bicubic, realesrgan or a FILE.toml of Real-ESRGAN parameters"
    )
