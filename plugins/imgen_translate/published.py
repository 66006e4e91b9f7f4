"""The published pix2pix models imgen knows by name (plain data, no torch).

The pix2pix authors publish their PyTorch models on their lab's server, as named in the
repository's ``scripts/download_pix2pix_model.sh``; they publish no hashes.
"""

from __future__ import annotations

MODELS: list[dict] = [
    {
        "name": "pix2pix_facades_label2photo",
        "task": "translate",
        "url": "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/facades_label2photo.pth",
        "file": "pix2pix_facades_label2photo.pth",
        "sha256": None,
        "licence": "BSD (the repository's LICENSE)",
        "source": "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/scripts/"
        "download_pix2pix_model.sh",
        "hash_source": "none published",
        "help": "pix2pix U-Net 256, CMP facades label maps -> photos",
    },
]
