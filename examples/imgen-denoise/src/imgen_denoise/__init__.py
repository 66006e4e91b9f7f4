"""imgen-denoise: the ``denoise`` task for imgen, a third-party plugin example.

Everything is registered lazily (``"module:attribute"`` strings), so ``imgen tasks`` and
``imgen plugins`` list it without importing torch.
"""

import imgen

__version__ = "0.1.0"


@imgen.hookimpl
def imgen_register_tasks(register):
    register(
        "imgen_denoise.task:Denoise",
        name="denoise",
        help="remove Gaussian or Poisson noise (DnCNN + PatchGAN), noise added on the fly",
    )


@imgen.hookimpl
def imgen_register_models(register):
    register(
        "dncnn",
        "imgen_denoise.models:DnCNN",
        role="generator",
        help="DnCNN (Zhang et al. 2017): predicts the noise, returns input - noise",
    )
