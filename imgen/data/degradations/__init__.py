"""SR degradations: how a low-resolution input is made from a high-resolution image.

``bicubic`` is MATLAB's ``imresize`` (:mod:`imgen.data.resize`), the benchmarks' LR images.
``realesrgan`` is Real-ESRGAN's practical, second-order model (Wang et al., 2021: blur,
resize, noise and JPEG, twice, then a sinc filter): real photos are blurred, noisy,
compressed and resized several times, and a model trained on bicubic LR sharpens those
artifacts instead of removing them.

=================  ==========================================================================
``kernels``        the blur kernels in closed form (Gaussian, generalized, plateau, sinc)
``blur``           one kernel per sample over a batch (kornia's ``filter2d``)
``resize``         area / bilinear / bicubic resizing
``noise``          Gaussian and Poisson noise, colour or gray, from a per-sample generator
``jpeg``           JPEG artifacts (kornia's differentiable JPEG codec)
``usm``            unsharp masking of the ground truth (``--usm-gt``)
``options``        :class:`DegradationOptions` (every parameter, Real-ESRGAN's defaults),
                   TOML files of them, ``bicubic | realesrgan | FILE.toml``
``pipeline``       :func:`draw_params` (per sample, in the loader) and :func:`degrade`
                   (batched, on the device)
=================  ==========================================================================

The core knows no task: the ``sr`` plugin and ``imgen degrade`` use this package.
"""

from imgen.data.degradations.options import (
    PRESETS,
    DegradationOptions,
    load_options,
    resolve_degradation,
)
from imgen.data.degradations.pipeline import PARAM_KEYS, degrade, draw_kernel, draw_params
from imgen.data.degradations.usm import usm_sharp

__all__ = [
    "PARAM_KEYS",
    "PRESETS",
    "DegradationOptions",
    "degrade",
    "draw_kernel",
    "draw_params",
    "load_options",
    "resolve_degradation",
    "usm_sharp",
]
