"""imgen: a plugin-based image-to-image GAN toolkit.

Importing this package must stay cheap: it does not import torch, so that
``imgen --help``, ``imgen --version``, ``imgen tasks`` and ``imgen plugins`` are fast.
"""

from imgen.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
