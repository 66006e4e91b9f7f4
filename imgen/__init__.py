"""imgen: a plugin-based image-to-image GAN toolkit.

Importing this package must stay cheap: it does not import torch, so that
``imgen --help``, ``imgen --version``, ``imgen tasks`` and ``imgen plugins`` are fast.
"""

from typing import Any

from imgen.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "load"]


def load(source: Any, **options: Any) -> Any:
    """A model from a run directory, a model file (``.pth``, ``.safetensors``, ...) or an ONNX
    file from ``imgen export``, with ``predict(image)``; see :func:`imgen.api.load`.

    Example::

        model = imgen.load("RealESRGAN_x4plus.pth")
        upscaled = model.predict(Image.open("photo.png"), tile=256)
    """
    from imgen.api import load as load_model  # torch is imported here, not with imgen

    return load_model(source, **options)
