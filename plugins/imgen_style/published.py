"""The published CycleGAN models imgen knows by name (plain data, no torch).

The CycleGAN authors publish one generator per model (G_A: horse -> zebra), named in the
repository's ``scripts/download_cyclegan_model.sh``, and no hashes. One generator is not a
style run (which has both directions), so it runs as a one-way ``translate`` model.
"""

from __future__ import annotations

MODELS: list[dict] = [
    {
        "name": "cyclegan_horse2zebra",
        "task": "translate",
        "url": "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth",
        "file": "cyclegan_horse2zebra.pth",
        "sha256": None,
        "licence": "BSD (the repository's LICENSE)",
        "source": "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/scripts/"
        "download_cyclegan_model.sh",
        "hash_source": "none published",
        "help": "CycleGAN horse -> zebra generator (G_A, resnet 9 blocks), one direction",
    },
]
