"""The published super-resolution models imgen knows by name (``imgen models --published``).

One table, plain data (no torch). URLs are the authors' own release assets; the SHA-256
values are OpenModelDB's records of those assets (``hash_source``) or, for BasicSR's files,
the prefix that BasicSR writes into each file name (``-ff704c30``), checked the way torch.hub
checks it. docs/models.md is generated from this table (``python -m imgen.published``).
"""

from __future__ import annotations

_RESR = "https://github.com/xinntao/Real-ESRGAN/releases"
_OMDB = "OpenModelDB (github.com/OpenModelDB/open-model-database, data/models/{})"

MODELS: list[dict] = [
    {
        "name": "RealESRGAN_x4plus",
        "task": "sr",
        "url": f"{_RESR}/download/v0.1.0/RealESRGAN_x4plus.pth",
        "sha256": "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        "size": 67040989,
        "licence": "BSD-3-Clause",
        "source": f"{_RESR}/tag/v0.1.0",
        "hash_source": _OMDB.format("4x-realesrgan-x4plus.json"),
        "help": "Real-ESRGAN x4 (RRDBNet 23 blocks), real-world photos",
    },
    {
        "name": "RealESRGAN_x2plus",
        "task": "sr",
        "url": f"{_RESR}/download/v0.2.1/RealESRGAN_x2plus.pth",
        "sha256": "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
        "size": 67061725,
        "licence": "BSD-3-Clause",
        "source": f"{_RESR}/tag/v0.2.1",
        "hash_source": _OMDB.format("2x-realesrgan-x2plus.json"),
        "help": "Real-ESRGAN x2 (RRDBNet 23 blocks, pixel-unshuffle input), real-world photos",
    },
    {
        "name": "RealESRGAN_x4plus_anime_6B",
        "task": "sr",
        "url": f"{_RESR}/download/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
        "sha256": "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
        "size": 17938799,
        "licence": "BSD-3-Clause",
        "source": f"{_RESR}/tag/v0.2.2.4",
        "hash_source": _OMDB.format("4x-realesrgan-x4plus-anime-6b.json"),
        "help": "Real-ESRGAN x4 for anime illustrations (RRDBNet 6 blocks)",
    },
    {
        "name": "realesr-general-x4v3",
        "task": "sr",
        "url": f"{_RESR}/download/v0.2.5.0/realesr-general-x4v3.pth",
        "sha256": "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
        "size": 4885111,
        "licence": "BSD-3-Clause",
        "source": f"{_RESR}/tag/v0.2.5.0",
        "hash_source": _OMDB.format("4x-realesr-general-x4v3.json"),
        "help": "Real-ESRGAN general x4 v3, small and fast (SRVGGNetCompact, 32 convs)",
    },
    {
        "name": "realesr-animevideov3",
        "task": "sr",
        "url": f"{_RESR}/download/v0.2.5.0/realesr-animevideov3.pth",
        "sha256": "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
        "size": 2504012,
        "licence": "BSD-3-Clause",
        "source": f"{_RESR}/tag/v0.2.5.0",
        "hash_source": _OMDB.format("4x-realesr-animevideo-v3.json"),
        "help": "Real-ESRGAN anime video x4 v3, tiny (SRVGGNetCompact, 16 convs)",
    },
    {
        # The ESRGAN authors publish RRDB_ESRGAN_x4.pth on Google Drive only; this is the same
        # model as BasicSR's official conversion, attached to Real-ESRGAN's v0.1.1 release.
        "name": "RRDB_ESRGAN_x4",
        "task": "sr",
        "url": f"{_RESR}/download/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        "sha256": None,
        "licence": "Apache-2.0",
        "source": f"https://github.com/xinntao/ESRGAN (model zoo); file: {_RESR}/tag/v0.1.1",
        "hash_source": "SHA-256 prefix ff704c30 in the file name (BasicSR's convention)",
        "help": "ESRGAN x4 (RRDBNet 23 blocks, GAN), the paper's model (BasicSR keys)",
    },
    {
        # Only on Google Drive (BasicSR's scripts/download_pretrained_models.py names the id);
        # Drive may answer with a confirmation page, which the hash prefix check refuses.
        "name": "RRDB_PSNR_x4",
        "task": "sr",
        "url": "https://drive.google.com/uc?export=download&id=1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM",
        "file": "ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",
        "sha256": None,
        "licence": "Apache-2.0",
        "source": "https://github.com/XPixelGroup/BasicSR/blob/master/scripts/"
        "download_pretrained_models.py (Google Drive)",
        "hash_source": "SHA-256 prefix 150ff491 in the file name (BasicSR's convention)",
        "help": "ESRGAN's PSNR-oriented x4 RRDBNet (L1 only): a start for GAN fine-tuning",
    },
    {
        "name": "SwinIR-M_realSR_x4_GAN",
        "task": "sr",
        "url": "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/"
        "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.pth",
        "sha256": None,
        "size": 67129861,
        "licence": "Apache-2.0",
        "source": "https://github.com/JingyunLiang/SwinIR/releases/tag/v0.0",
        "hash_source": "none published by the authors",
        "help": "SwinIR-M real-world x4 (BSRGAN degradations, GAN), through spandrel",
    },
]
